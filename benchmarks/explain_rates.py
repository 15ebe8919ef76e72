"""Self-explanation rates on the embedded model + embedded task, per level, and the NLL diagnostic.

For each level: the base model's greedy accuracy under P(q) (how hard the level is), then the
self-explanation engine (valid rate, rejection reasons), then the mean per-token NLL under P(q) of the
chosen self-explanations vs the task's written expert solutions. Prints a markdown table.

    .venv/bin/python benchmarks/explain_rates.py --per-level 12 --tries 2
"""

from __future__ import annotations

import argparse
import time

import torch

from expo_lite.algorithms.explain import explain
from expo_lite.config import load_config
from expo_lite.core.sampling import generate
from expo_lite.data.prompts import standard_prompt
from expo_lite.data.tasks import load_task
from expo_lite.models.loader import load_model
from expo_lite.tools.diagnostics import expert_scores, summarize
from expo_lite.verify.answers import is_correct


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--per-level", type=int, default=12)
    parser.add_argument("--tries", type=int, default=2)
    parser.add_argument("--max-new-tokens", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    cfg = load_config(None, [f"task.num_problems={args.per_level}", f"explain.num_tries={args.tries}",
                             f"explain.max_new_tokens={args.max_new_tokens}", "model.backend=hf"])
    model, tok = load_model(cfg)
    task = load_task(cfg.task, "test")
    print(f"embedded SmolLM2-135M (4-bit={cfg.model.use_4bit()}), {args.per_level} test problems per level, "
          f"{args.tries} tries at T={cfg.explain.temperature}, max {args.max_new_tokens} new tokens, seed {args.seed}\n")
    print("| level | base greedy acc | valid self-expl. | truncated | no_answer | wrong_answer | leak | too_short "
          "| NLL self | NLL expert | expert/self |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    all_records, all_experts = [], []
    for level in range(1, 6):
        start = time.perf_counter()
        problems = [p for p in task.problems if p.level == level]
        prompts = [standard_prompt(tok, p.question, task.answer_format, cfg.prompt, p.context) for p in problems]
        greedy = generate(model, tok, prompts, max_new_tokens=args.max_new_tokens)
        acc = sum(is_correct(g[0].text, p.answer) for p, g in zip(problems, greedy, strict=True)) / len(problems)
        records = explain(model, tok, problems, task.answer_format, cfg.explain, cfg.prompt)
        experts = expert_scores(model, tok, problems, task.answer_format, cfg.prompt)
        all_records += records
        all_experts += experts
        s = summarize(records, experts)

        def f(x):
            return "n/a" if x is None else f"{x:.2f}"

        print(f"| {level} | {acc:.0%} | {s['valid']}/{s['questions']} ({s['valid_rate']:.0%}) | "
              + " | ".join(str(s["reasons"][r]) for r in ("truncated", "no_answer", "wrong_answer", "leak", "too_short"))
              + f" | {f(s['nll_self_explanation'])} | {f(s['nll_expert'])} | {f(s['nll_ratio_expert_over_self'])} |"
              f"  <!-- {time.perf_counter() - start:.0f}s -->", flush=True)
    s = summarize(all_records, all_experts)
    print(f"\nall levels: valid {s['valid']}/{s['questions']}; NLL self {s['nll_self_explanation']}, "
          f"expert {s['nll_expert']}, ratio {s['nll_ratio_expert_over_self']}, paired ratio {s['paired_nll_ratio']} "
          f"over {s['paired_questions']} questions")


if __name__ == "__main__":
    main()
