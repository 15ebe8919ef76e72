"""The 3B memory table users read before renting a GPU: traced peak (the real step on fake tensors), the
planner's peak, and whether each fits 16 / 24 / 40 GB, for Qwen2.5-3B and Llama-3.2-3B.

Rows: ExP-GRPO at G in {4, 8, 16} x completion lengths {512, 1024, 2048} (the recipe's other values; the
explanation length follows the completion length, one prompt's group per micro-batch: batch = G), and
ExP-DPO online (the recipe as shipped). Each row's trace runs in its own process (a fresh fake model) and
reports its time. The "+ overhead" column adds what a trace cannot see (the planner's CUDA context and
allocator slack) to the traced peak; the fit columns use it.

    .venv/bin/python benchmarks/memory_table.py            # markdown table on stdout (about 15 min, 2 cores)
    .venv/bin/python benchmarks/memory_table.py --rows 2   # the first rows only
"""

from __future__ import annotations

import json
import subprocess
import sys

MODELS = [("Qwen2.5-3B", "qwen2.5-3b", "dpo/qwen2.5-3b-math-online"),
          ("Llama-3.2-3B", "llama-3.2-3b", "dpo/llama-3.2-3b-math-online")]
GROUPS = [4, 8, 16]
LENGTHS = [512, 1024, 2048]

CHILD = r"""
import json, sys
from expo_lite.config import load_config
from expo_lite.run.planner import GIB, plan_memory
from expo_lite.tools.memory_trace import trace_memory
name, sets = sys.argv[1], json.loads(sys.argv[2])
cfg = load_config(name, sets)
plan, trace = plan_memory(cfg), trace_memory(cfg)
print(json.dumps({"trace": trace.as_gib(), "seconds": trace.seconds, "plan": plan.as_gib(),
                  "plan_body": (plan.total - plan.overhead) / GIB, "overhead": plan.overhead / GIB}))
"""


def rows() -> list[tuple[str, str, str, list[str]]]:
    out = []
    for label, grpo, dpo in MODELS:
        for g in GROUPS:
            for length in LENGTHS:
                sets = [f"algo.num_generations={g}", f"train.per_device_train_batch_size={g}",
                        f"train.max_completion_length={length}", f"explain.max_new_tokens={length}",
                        f"model.max_seq_length={512 + length}"]
                out.append((label, f"ExP-GRPO G={g}", str(length), [grpo, *sets]))
        out.append((label, "ExP-DPO online", "recipe", [dpo]))
    return out


def main() -> None:
    limit = int(sys.argv[sys.argv.index("--rows") + 1]) if "--rows" in sys.argv else None
    print("| model | recipe | completion | traced GiB | peak phase | planner GiB | traced + overhead | 16 / 24 / 40 GB | trace s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for label, recipe, length, (name, *sets) in rows()[:limit]:
        done = subprocess.run([sys.executable, "-c", CHILD, name, json.dumps(sets)], capture_output=True, text=True)
        if done.returncode != 0:
            print(f"| {label} | {recipe} | {length} | failed: {done.stderr.strip().splitlines()[-1]} ||||||", flush=True)
            continue
        r = json.loads(done.stdout.strip().splitlines()[-1])
        peak = r["trace"]["total"] + r["overhead"]
        fits = " / ".join("yes" if peak <= gb else "no" for gb in (16, 24, 40))
        phases = {k: v for k, v in r["trace"].items() if k not in ("weights", "optimizer", "total")}
        top = max(phases, key=phases.get)
        print(f"| {label} | {recipe} | {length} | {r['trace']['total']:.1f} | {top} | {r['plan_body']:.1f} | "
              f"{peak:.1f} | {fits} | {r['seconds']:.0f} |", flush=True)


if __name__ == "__main__":
    main()
