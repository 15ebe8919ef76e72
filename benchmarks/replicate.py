"""A miniature replication of the paper's comparisons on the embedded model and the embedded task.

Six methods under one shared budget, then per-level accuracy on held-out problems:

  base              the embedded SmolLM2-135M, untrained
  GRPO              TRL's GRPO (algo.name=grpo)
  GRPO+SFT-GT-CoT   GRPO + beta * NLL of the task's written solution (algo.name=grpo_sft_gt)
  ExP-GRPO          GRPO + beta * NLL of the model's own self-explanation (algo.name=exp_grpo)
  expert-CoT DPO    offline DPO, chosen = written solution, rejected = an own wrong rollout
  ExP-DPO           offline DPO, chosen = self-explanation, rejected = an own wrong rollout

The shared budget: the same training questions (`--train-per-level` per level, all five levels: 20 at
the default size), the same number of rollouts per question (G), the same completion length and
learning rate. The three GRPO variants take `--steps` optimizer steps of 2 questions each with the same
seed (10 x 2 = 20: each training question once at the default size); the DPO variants build their pairs
from the same 20 questions with the initial policy. Evaluation: pass@k (n=k samples at
T=0.7) and greedy accuracy on `--eval-per-level` test problems per level.

The settings below were fixed before the first run and are not tuned to its result. The default size
runs in under an hour on 2 CPU cores; `--scale 4` multiplies steps, training and eval questions.

    .venv/bin/python benchmarks/replicate.py                 # default size, report in benchmarks/replicate/
    .venv/bin/python benchmarks/replicate.py --scale 4 --out /tmp/rep4
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from rich.console import Console

from expo_lite.config import load_config
from expo_lite.evaluate import run_eval
from expo_lite.report import write_report
from expo_lite.train import run_training

METHODS = [  # (run name, overrides) in the order they run; base is evaluated without training
    ("base", None),
    ("grpo", ["algo.name=grpo"]),
    ("grpo-sft-gt", ["algo.name=grpo_sft_gt"]),
    ("exp-grpo", ["algo.name=exp_grpo"]),
    ("dpo-expert-cot", ["algo.name=exp_dpo", "algo.mode=offline", "algo.positive_source=expert_cot"]),
    ("exp-dpo", ["algo.name=exp_dpo", "algo.mode=offline", "algo.positive_source=self_explanation"]),
]


def shared_overrides(args: argparse.Namespace, runs: Path) -> list[str]:
    """Everything the methods share. DPO trains in batches of 2 pairs for 2 epochs (its pair count is
    whatever the initial policy yields); the GRPO variants take `steps` steps of 2 prompts x G rollouts."""
    return [
        f"train.output_dir={runs}",
        "task.name=arithmetic", "task.levels=null", f"task.num_problems={args.train_per_level * args.scale}",
        f"task.seed={args.seed}", f"train.seed={args.seed}",
        f"algo.num_generations={args.generations}", "algo.beta=0.04",
        f"train.max_steps={args.steps * args.scale}", f"train.per_device_train_batch_size={2 * args.generations}",
        f"train.max_completion_length={args.max_new_tokens}", f"explain.max_new_tokens={args.max_new_tokens}",
        "explain.num_tries=2", f"train.learning_rate={args.lr}", "train.save_steps=1000",
        f"eval.n={args.k}", f"eval.k={args.k}", "eval.temperature=0.7", f"eval.max_new_tokens={args.max_new_tokens}",
        "log.tui=false",
    ]


def dpo_overrides(name: str) -> list[str]:
    return ["train.per_device_train_batch_size=2", "algo.dpo_epochs=2"] if "dpo" in name else []


def dpo_pairs_summary(run_dirs: list[Path]) -> str:
    """How many preference pairs each DPO run got (and why questions were skipped): the DPO budget."""
    from expo_lite.io import read_jsonl

    lines = []
    for run_dir in run_dirs:
        metrics = run_dir / "metrics.jsonl"
        for m in read_jsonl(metrics) if metrics.is_file() else []:
            if m.get("event") == "round_end":
                lines.append(f"| {run_dir.name} | {m['round']} | {m['pairs']} | {m.get('skipped', {})} "
                             f"| {m.get('rollout_accuracy', float('nan')):.0%} |\n")
    head = "| DPO run | round | pairs | skipped questions | rollout accuracy |\n|---|---|---|---|---|\n"
    return head + "".join(lines) if lines else ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=int, default=1, help="multiply steps, training and eval questions")
    parser.add_argument("--steps", type=int, default=10, help="GRPO optimizer steps at scale 1")
    parser.add_argument("--train-per-level", type=int, default=4, help="training questions per level at scale 1")
    parser.add_argument("--eval-per-level", type=int, default=6, help="test questions per level at scale 1")
    parser.add_argument("--generations", type=int, default=4, help="rollouts per question (G)")
    parser.add_argument("--max-new-tokens", type=int, default=128)
    parser.add_argument("--k", type=int, default=4, help="pass@k with n=k samples (paper: pass@4)")
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--runs", type=Path, default=Path("runs/replicate"), help="where the run directories go")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "replicate", help="report folder")
    parser.add_argument("--only", nargs="*", help="run only these methods (names as in the report)")
    args = parser.parse_args()

    console = Console()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    runs = args.runs / stamp
    common = shared_overrides(args, runs)
    eval_size = [f"task.num_problems={args.eval_per_level * args.scale}", "task.levels=null"]
    timings: dict[str, dict[str, float]] = {}
    failures: dict[str, str] = {}
    run_dirs = []
    for name, extra in METHODS:
        if args.only and name not in args.only:
            continue
        cfg = load_config(None, [*common, *(extra or ["algo.name=grpo"]), *dpo_overrides(name), f"train.run_name={name}"])
        t0 = time.perf_counter()
        if extra is None:  # the base model: a run directory with only its config, evaluated with --base semantics
            from expo_lite.rundir import create_run_dir
            run_dir = create_run_dir(cfg).path
            t1 = t0
            run_eval(str(run_dir), eval_size, base_model=True, console=console)
        else:
            try:
                run_dir = run_training(cfg, console=console).path
            except ValueError as exc:  # e.g. ExP-DPO when the initial policy yields no valid self-explanation
                failures[name] = str(exc)
                console.print(f"[bold red]{name} did not train[/bold red]: {exc}")
                continue
            t1 = time.perf_counter()
            run_eval(str(run_dir), eval_size, console=console)
        timings[name] = {"train_s": round(t1 - t0, 1), "eval_s": round(time.perf_counter() - t1, 1)}
        console.print(f"[bold]{name}[/bold]: train {timings[name]['train_s']}s, eval {timings[name]['eval_s']}s")
        run_dirs.append(run_dir)

    args.out.mkdir(parents=True, exist_ok=True)
    report = write_report(run_dirs, args.out)
    settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    total = sum(t["train_s"] + t["eval_s"] for t in timings.values())
    with report.open("a") as f:
        f.write("\n## How this was produced\n\n")
        f.write(f"`benchmarks/replicate.py` on {time.strftime('%Y-%m-%d')}, settings `{json.dumps(settings)}`, "
                f"total {total / 60:.1f} min.\n\nShared overrides:\n\n```\n" + "\n".join(common) + "\n```\n\n")
        f.write("| method | train s | eval s |\n|---|---|---|\n")
        f.writelines(f"| {n} | {t['train_s']} | {t['eval_s']} |\n" for n, t in timings.items())
        f.write("\n" + dpo_pairs_summary(run_dirs))
        f.writelines(f"\n**{n} did not train**: {why}\n" for n, why in failures.items())
    (args.out / "timings.json").write_text(json.dumps({"settings": settings, "timings": timings, "failures": failures},
                                                      indent=2))
    console.print(f"report: {report} ({total / 60:.1f} min)")


if __name__ == "__main__":
    main()
