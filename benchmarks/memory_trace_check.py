"""The memory trace against what really happens: the embedded model's ExP-GRPO step on this CPU.

Figures per phase of the demo recipe's step (training micro-batch, generation batch, scoring of the
explanation tries), in one process:
  fake   the step on fake tensors (weights never allocated), through TRL's CPU code as the real run here;
  real   the same phases on the real model (real tensors) with the same counter;
  rss    the growth of the process's resident memory over the phase, sampled every 2 ms, above its value
         when the phase began (for generation: before its KV cache was built), after handing freed memory
         back to the system (malloc_trim), so that each phase starts from what is really in use;
  gpu    `expo-lite plan --trace`'s figure: fake, with TRL's GPU kernels' memory (see memory_trace.py).
fake = real says the fake run allocates what the real run allocates; rss says what the counter leaves
out (the C allocator's fragmentation, torch's CPU kernels' scratch space).
Float32 (a CPU run's dtype), the hf backend, the recipe's batch and lengths.

    .venv/bin/python benchmarks/memory_trace_check.py
"""

from __future__ import annotations

import contextlib
import ctypes
import tempfile
import threading
import time
from pathlib import Path

import expo_lite.tools.memory_trace as mt
from expo_lite.config import load_config
from expo_lite.models.loader import load_model
from expo_lite.run.live_bytes import LiveBytes

MIB = 2**20


def trim() -> None:
    """Hand the memory the C library keeps after frees back to the system (glibc), so RSS is what is in use."""
    ctypes.CDLL("libc.so.6").malloc_trim(0)


def rss() -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmRSS:"))


class Sampler:
    def __init__(self) -> None:
        self.peak, self.stop = 0, threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        while not self.stop.is_set():
            self.peak = max(self.peak, rss())
            time.sleep(0.002)

    def reset(self) -> None:
        self.peak = rss()


def main() -> None:
    cfg = load_config("demo", ["model.dtype=float32", "model.backend=hf"])
    gpu = mt.trace_memory(cfg)
    fake = mt.trace_memory(cfg, gpu_kernels=False)

    sampler = Sampler()
    sampler.thread.start()
    grown: dict[str, int] = {}
    start_of_generation = {"rss": 0}
    original_phase, original_generation = mt._phase, mt._generation

    @contextlib.contextmanager
    def phase(live, trace, name, base=None):
        if base is None:
            trim()
        before = start_of_generation["rss"] if base is not None else rss()
        sampler.reset()
        with original_phase(live, trace, name, base):
            yield
        grown[name] = max(grown.get(name, 0), sampler.peak - before)

    def generation(*args, **kwargs):
        trim()
        start_of_generation["rss"] = rss()
        return original_generation(*args, **kwargs)

    mt._phase, mt._generation = phase, generation
    model, _ = load_model(cfg)
    model.hf_device_map = {"": "cpu"}
    with tempfile.TemporaryDirectory() as tmp, LiveBytes() as live:
        trainer = mt._grpo_trainer(cfg, model, Path(tmp))
        real = mt.MemoryTrace(mt.model_bytes(model), mt._first_optimizer_step(trainer, model))
        mt._trace_grpo(cfg, trainer, model, live, real)
    sampler.stop.set()

    print(f"demo recipe on {cfg.model.name}, float32 on CPU; fake traces took {fake.seconds:.1f} s and {gpu.seconds:.1f} s")
    print(f"{'':<14}{'fake MiB':>10}{'real MiB':>10}{'rss MiB':>10}{'rss/real':>10}{'gpu MiB':>10}")
    for name, f, r in (("weights", fake.weights, real.weights), ("optimizer", fake.optimizer, real.optimizer)):
        print(f"{name:<14}{f / MIB:>10.1f}{r / MIB:>10.1f}{'-':>10}{'-':>10}{f / MIB:>10.1f}")
    for name in fake.phases:
        f, r, g = fake.phases[name] / MIB, real.phases[name] / MIB, grown[name] / MIB
        print(f"{name:<14}{f:>10.1f}{r:>10.1f}{g:>10.1f}{g / r:>10.2f}{gpu.phases[name] / MIB:>10.1f}")


if __name__ == "__main__":
    main()
