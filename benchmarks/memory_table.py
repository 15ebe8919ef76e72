"""The 3B memory table users read before renting a GPU: traced peak (the real step on fake tensors), the
planner's peak, and whether each fits 16 / 24 / 40 GB, for Qwen2.5-3B and Llama-3.2-3B.

Rows: ExP-GRPO at G in {4, 8, 16} x completion lengths {512, 1024, 2048} (`planner.resized`: the recipe's other
values, explanations as long as completions, one prompt's group per micro-batch: batch = G), and ExP-DPO
online (the recipe as shipped). Each row's trace runs in its own process (a fresh fake model) and reports its
time. "planner vs trace" is the largest relative difference over the resident parts and every phase. The
"+ overhead" column adds what a trace cannot see (the planner's CUDA context and allocator slack) to the traced
peak; the fit columns use it.

    .venv/bin/python benchmarks/memory_table.py            # markdown table on stdout (about 15 min, 2 cores)
    .venv/bin/python benchmarks/memory_table.py --rows 2   # the first rows only
"""

from __future__ import annotations

import json
import subprocess
import sys

from expo_lite.run.planner import SIZE_GROUPS, SIZE_LENGTHS

MODELS = [("Qwen2.5-3B", "qwen2.5-3b", "dpo/qwen2.5-3b-math-online"),
          ("Llama-3.2-3B", "llama-3.2-3b", "dpo/llama-3.2-3b-math-online")]

CHILD = r"""
import json, sys
from expo_lite.config import load_config
from expo_lite.run.planner import GIB, plan_memory, resized
from expo_lite.tools.memory_trace import trace_memory
name, size = sys.argv[1], json.loads(sys.argv[2])
cfg = load_config(name)
cfg = resized(cfg, *size) if size else cfg
plan, trace = plan_memory(cfg), trace_memory(cfg)
planned = {"weights": plan.weights, "optimizer": plan.optimizer, "training": plan.training,
           "generation": plan.kv_cache, "scoring": plan.scoring, "pairs: generation": plan.kv_cache,
           "pairs: scoring": plan.scoring}
traced = {"weights": trace.weights, "optimizer": trace.optimizer, **trace.phases}
worst = max((planned[k] / v - 1 for k, v in traced.items()), key=abs)
print(json.dumps({"trace": trace.as_gib(), "seconds": trace.seconds, "worst": worst,
                  "plan_body": (plan.total - plan.overhead) / GIB, "overhead": plan.overhead / GIB}))
"""


def rows() -> list[tuple[str, str, str, str, list[int]]]:
    out = []
    for label, grpo, dpo in MODELS:
        for g in SIZE_GROUPS:
            for length in SIZE_LENGTHS:
                out.append((label, f"ExP-GRPO G={g}", str(length), grpo, [g, length]))
        out.append((label, "ExP-DPO online", "recipe", dpo, []))
    return out


def main() -> None:
    limit = int(sys.argv[sys.argv.index("--rows") + 1]) if "--rows" in sys.argv else None
    print("| model | recipe | completion | traced GiB | peak phase | planner GiB | planner vs trace | traced + overhead "
          "| 16 / 24 / 40 GB | trace s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for label, recipe, length, name, size in rows()[:limit]:
        done = subprocess.run([sys.executable, "-c", CHILD, name, json.dumps(size)], capture_output=True, text=True)
        if done.returncode != 0:
            print(f"| {label} | {recipe} | {length} | failed: {done.stderr.strip().splitlines()[-1]} |||||||", flush=True)
            continue
        r = json.loads(done.stdout.strip().splitlines()[-1])
        peak = r["trace"]["total"] + r["overhead"]
        fits = " / ".join("yes" if peak <= gb else "no" for gb in (16, 24, 40))
        phases = {k: v for k, v in r["trace"].items() if k not in ("weights", "optimizer", "total")}
        top = max(phases, key=phases.get)
        print(f"| {label} | {recipe} | {length} | {r['trace']['total']:.1f} | {top} | {r['plan_body']:.1f} | "
              f"{r['worst']:+.1%} | {peak:.1f} | {fits} | {r['seconds']:.0f} |", flush=True)


if __name__ == "__main__":
    main()
