"""Planner vs measurement: predicted peak memory of a training step against the measured peak RSS on CPU.

Each configuration trains 2 ExP-GRPO steps on the embedded model in a fresh process. Two measurements:
  whole  = peak RSS (ru_maxrss, so it includes the model-load transient) minus the RSS before loading
           (Python, torch and the libraries are not part of the plan), against plan.total;
  step   = peak RSS sampled every 20 ms *during training* minus the RSS after the model is loaded,
           against plan.total - plan.weights (what the training step adds on top of the weights).
Predicted = plan_memory(..., param_bytes=4, on_gpu=False): float32 on CPU, no CUDA context.

    .venv/bin/python benchmarks/memory_check.py
"""

from __future__ import annotations

import json
import subprocess
import sys

CONFIGS = [
    {"batch": 4, "groups": 2, "completion": 32, "prompt": 128},
    {"batch": 8, "groups": 4, "completion": 64, "prompt": 128},
    {"batch": 8, "groups": 4, "completion": 128, "prompt": 256},
]

CHILD = r"""
import json, resource, sys, tempfile
import torch, transformers, trl  # noqa: F401  (libraries loaded before the baseline)
spec = json.loads(sys.argv[1])
def rss():
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) * 1024 for l in f if l.startswith("VmRSS"))
baseline = rss()
from expo_lite.verify.answers import correctness_reward
from expo_lite.config import load_config
from expo_lite.algorithms.grpo import ExPGRPOConfig, ExPGRPOTrainer
from expo_lite.models.loader import load_model
from expo_lite.run.planner import plan_memory
from expo_lite.data.tasks import load_task
from expo_lite.recipes.train import build_prompt_dataset
overrides = [f"train.per_device_train_batch_size={spec['batch']}", f"algo.num_generations={spec['groups']}",
             f"train.max_completion_length={spec['completion']}", f"train.max_prompt_length={spec['prompt']}",
             f"explain.max_new_tokens={spec['completion']}", "explain.num_tries=1", "train.optim=adamw_torch"]
cfg = load_config("demo", overrides)
model, tok = load_model(cfg)
import gc, threading, time
gc.collect()
after_load = rss()
peak_training = [after_load]
stop = threading.Event()
def sample():
    while not stop.is_set():
        peak_training[0] = max(peak_training[0], rss())
        time.sleep(0.02)
threading.Thread(target=sample, daemon=True).start()
data, _ = build_prompt_dataset(load_task(cfg.task).problems, "hash", cfg.prompt, cfg.train.max_prompt_length, tok)
with tempfile.TemporaryDirectory() as out:
    args = ExPGRPOConfig(output_dir=out, max_steps=2, per_device_train_batch_size=spec["batch"],
                         num_generations=spec["groups"], max_completion_length=spec["completion"], use_cpu=True,
                         bf16=False, report_to="none", save_strategy="no", disable_tqdm=True,
                         gradient_checkpointing=True, gradient_checkpointing_kwargs={"use_reentrant": False})
    ExPGRPOTrainer(model=model, reward_funcs=[correctness_reward], args=args, train_dataset=data,
                   processing_class=tok, explain_config=cfg.explain).train()
stop.set()
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
plan = plan_memory(cfg, param_bytes=4, on_gpu=False)
print("RESULT " + json.dumps({"measured": peak - baseline, "predicted": plan.total,
                              "step_measured": peak_training[0] - after_load, "step_predicted": plan.total - plan.weights,
                              "weights_measured": after_load - baseline, "weights_predicted": plan.weights}))
"""


# glibc keeps freed heap memory (and raises its mmap threshold after big frees), so peak RSS counts
# memory no tensor holds any more. A fixed mmap threshold returns large blocks to the OS on free, which
# makes RSS track live tensors far better; both are measured, side by side.
ALLOCATORS = {"glibc default": {}, "mmap threshold 128K": {"MALLOC_MMAP_THRESHOLD_": "131072",
                                                           "MALLOC_TRIM_THRESHOLD_": "131072"}}


def main() -> None:
    import os

    print("| batch | G | prompt | completion | allocator | whole: predicted / measured GiB | ratio | weights: pred / meas | "
          "step on top: predicted / measured GiB | ratio |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for spec, (allocator, env) in ((s, a) for s in CONFIGS for a in ALLOCATORS.items()):
        proc = subprocess.run([sys.executable, "-c", CHILD, json.dumps(spec)], capture_output=True, text=True,
                              env={**os.environ, **env})
        line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
        if line is None:
            print(f"| {spec} | {allocator} | failed: {proc.stderr[-500:]} |")
            continue
        r = json.loads(line[7:])
        g = 2**30
        print(f"| {spec['batch']} | {spec['groups']} | {spec['prompt']} | {spec['completion']} | {allocator} | "
              f"{r['predicted'] / g:.2f} / {r['measured'] / g:.2f} | {r['measured'] / r['predicted']:.2f} | "
              f"{r['weights_predicted'] / g:.2f} / {r['weights_measured'] / g:.2f} | "
              f"{r['step_predicted'] / g:.2f} / {r['step_measured'] / g:.2f} | "
              f"{r['step_measured'] / r['step_predicted']:.2f} |", flush=True)


if __name__ == "__main__":
    main()
