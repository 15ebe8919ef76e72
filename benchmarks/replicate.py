"""A replication that can tell the methods apart: does ExPO learn questions on which GRPO gets no signal?

The design is fixed before the main run, by rules written here, from a pilot that is part of the run:

1. **Pilot** (base model, the first `--pilot-per-level` training questions of each level 1-5): pass@k
   (n = k samples at T = 0.7, drawn with the pilot's own seed), greedy accuracy, and the self-explanation
   valid rate (`explain.num_tries` tries per question at the hint prompt P_x(q, a*)).
2. **Levels**: the paper's claim lives where the base model mostly fails but can sometimes explain. We
   train on the (at most `--max-levels`) levels whose base pass@k <= `--max-base-pass` and whose valid
   rate >= `--min-valid`, lowest pass@k first. If none qualifies the run stops and says so.
3. **Training questions**: the pilot's questions at those levels, the same for every arm. The ones the
   base model failed in the pilot (pass@k = 0) are the *unsolved set*.
4. **Arms**, all on the same questions, rollouts per question (G), completion length, LoRA, learning rate,
   optimizer and seed: base; GRPO; GRPO+SFT-GT-CoT; ExP-GRPO (`--epochs` passes over the questions,
   `--questions-per-step` questions x G rollouts per step); expert-CoT DPO and ExP-DPO (offline: pairs from
   the same questions with the initial policy, `algo.dpo_epochs` epochs); TRL's SDFT
   (`trl.experimental.sdft`, gold answer as privileged context, same steps as GRPO; see sdft_arm.py).
5. **Outcomes**, every arm (base included) evaluated with one evaluation seed, different from the pilot's:
   - *learning what was unsolved*: on the unsolved set, the fraction solved greedily and at pass@k. The base
     model re-evaluated with the new seed is the baseline (a question failed once can be solved on a
     second draw: that regression to the mean is not learning);
   - *held-out accuracy*: `--eval-per-level` test questions per chosen level, as in the paper's Table 2.
6. **Statistics** (expo_lite/stats.py): Wilson 95% intervals on every accuracy; paired differences with a
   bootstrap interval over questions and the exact McNemar p for ExP-GRPO vs GRPO, ExP-GRPO vs
   GRPO+SFT-GT-CoT, ExP-DPO vs expert-CoT DPO and ExP-GRPO vs SDFT; the minimum detectable difference at
   the sizes used, printed before the arms train.

    .venv/bin/python benchmarks/replicate.py                     # default design, report in benchmarks/replicate/
    .venv/bin/python benchmarks/replicate.py --seeds 0 1         # two training seeds (about twice the arms' time)
    .venv/bin/python benchmarks/replicate.py --config qwen2.5-3b --scale 4 --task math \
        --max-new-tokens 1024  # a GPU user: MATH solutions need far more than the CPU default's 64 tokens

Default sizes fit the 90-minute budget of a quiet 2-core CPU on the embedded model, fixed before the main
run from decode timings, not from any arm's result: one decode of 60 rows x 64 new tokens takes ~52 s
here (and ~88 s at 128 tokens; 120- or 360-row decodes were slower per row, not faster), every arm's
evaluation costs one decode per 12 questions, and in a 128-token probe on 12 level-1 questions 11 of the
base model's 12 correct answers ended within 64 tokens. So every generation gets 64 new tokens, and the
held-out set has 14 questions per level, which with <= 32 unsolved questions keeps an arm's evaluation to
5 decodes.

`--config` supplies the model, LoRA and precision (any expo-lite YAML); the design's own settings
override its task, algorithm and training sizes. `--scale` multiplies the pilot, training and held-out
question counts and the steps.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")  # SDFT lives in trl.experimental; we know

sys.path.insert(0, str(Path(__file__).parent))

from rich.console import Console  # noqa: E402

ARMS = [  # (name, how it trains, overrides on top of the shared settings)
    ("base", "none", ["algo.name=grpo"]),
    ("grpo", "expo", ["algo.name=grpo"]),
    ("grpo-sft-gt", "expo", ["algo.name=grpo_sft_gt"]),
    ("exp-grpo", "expo", ["algo.name=exp_grpo"]),
    # DPO: its pairs come from the same questions; batches of 2 pairs, algo.dpo_epochs (2) passes over them
    ("dpo-expert-cot", "expo", ["algo.name=exp_dpo", "algo.mode=offline", "algo.positive_source=expert_cot",
                                "train.per_device_train_batch_size=2"]),
    ("exp-dpo", "expo", ["algo.name=exp_dpo", "algo.mode=offline", "algo.positive_source=self_explanation",
                         "train.per_device_train_batch_size=2"]),
    ("sdft", "trl-sdft", ["algo.name=grpo"]),
]
REPO = Path(__file__).resolve().parent.parent


def choose_levels(pilot: dict[str, dict[str, Any]], max_base_pass: float, min_valid: float, max_levels: int) -> list[int]:
    """The design rule of step 2: levels where the base model mostly fails (pass@k <= max_base_pass) but
    can sometimes explain (valid rate >= min_valid), lowest pass@k first (then higher valid rate)."""
    eligible = [(s["pass"], -s["valid_rate"], int(lv)) for lv, s in pilot.items()
                if s["pass"] <= max_base_pass and s["valid_rate"] >= min_valid]
    return sorted(lv for _, _, lv in sorted(eligible)[:max_levels])


def rel(path: Path) -> str:
    """Paths in the report are relative to the repository (never a machine path)."""
    try:
        return str(Path(path).resolve().relative_to(REPO))
    except ValueError:
        return Path(path).name


def shared_overrides(args: argparse.Namespace, runs: Path, seed: int) -> list[str]:
    return [
        f"train.output_dir={runs}", f"task.name={args.task}", f"task.seed={args.task_seed}", f"train.seed={seed}",
        f"algo.num_generations={args.generations}", "algo.sft_beta=0.04", "explain.num_tries=2",
        f"train.per_device_train_batch_size={args.questions_per_step * args.generations}",
        f"train.max_completion_length={args.max_new_tokens}", f"explain.max_new_tokens={args.max_new_tokens}",
        f"train.learning_rate={args.lr}", "train.save_steps=100000", "algo.dpo_epochs=2",
        f"eval.n={args.k}", f"eval.k={args.k}", "eval.temperature=0.7", f"eval.max_new_tokens={args.max_new_tokens}",
        "log.tui=false",
    ]


def task_questions(cfg: Any, split: str, levels: list[int], per_level: int) -> list[Any]:
    """The first `per_level` questions of each level of `split` (a problem depends only on seed, level and
    index, so these are the same questions in every arm)."""
    from expo_lite.data.tasks import load_task

    task_cfg = cfg.task.model_copy(update={"levels": levels, "num_problems": per_level})
    problems = load_task(task_cfg, split).problems
    return [p for lv in levels for p in [q for q in problems if q.level == lv][:per_level]]


def write_question_file(problems: list[Any], path: Path) -> Path:
    """The training questions as a MATH-500-schema JSONL, so every arm trains on exactly these, whatever the
    task (its `unique_id` keeps our problem ids, its `answer` column is graded as is)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as f:
        for p in problems:
            f.write(json.dumps({"unique_id": p.id, "problem": p.question, "solution": p.solution or "",
                                "answer": p.answer, "level": p.level, "type": p.type}) + "\n")
    return path


def evaluate_model(model: Any, tokenizer: Any, sets: dict[str, list[Any]], cfg: Any, seed: int) -> dict[str, list[dict]]:
    """Per-question results on each question set, all sampled in one pass from `seed`."""
    from transformers import set_seed

    from expo_lite.data.tasks import answer_format
    from expo_lite.recipes.evaluate import evaluate

    # One call over all sets: evaluate() decodes MAX_ROWS // (n + 1) questions at a time, so separate calls
    # would leave a part-filled decode per set (each decode costs about the same, full or not).
    everything = [p for problems in sets.values() for p in problems]
    set_seed(seed)
    results = [asdict(r) for r in evaluate(model, tokenizer, everything, answer_format(cfg.task), cfg.eval, cfg.prompt)]
    out, start = {}, 0
    for name, problems in sets.items():
        out[name], start = results[start : start + len(problems)], start + len(problems)
    return out


def run_pilot(cfg: Any, per_level: int, seed: int, console: Console) -> tuple[dict[str, dict], list[Any], dict]:
    """Step 1: base pass@k, greedy accuracy and self-explanation valid rate per level."""
    from transformers import set_seed

    from expo_lite.algorithms.explain import explain
    from expo_lite.data.tasks import answer_format
    from expo_lite.models.loader import load_model

    problems = task_questions(cfg, cfg.task.split, [1, 2, 3, 4, 5], per_level)
    model, tokenizer = load_model(cfg)
    console.print(f"pilot: {len(problems)} training questions x ({cfg.eval.n} samples + greedy + "
                  f"{cfg.explain.num_tries} explanation tries)")
    results = evaluate_model(model, tokenizer, {"pilot": problems}, cfg, seed)["pilot"]
    set_seed(seed)
    explanations = explain(model, tokenizer, problems, answer_format(cfg.task), cfg.explain, cfg.prompt)
    valid = {e.problem_id: e.valid for e in explanations}
    summary = {}
    for lv in range(1, 6):
        mine = [r for r in results if r["level"] == lv]
        summary[str(lv)] = {
            "questions": len(mine),
            "pass": sum(r["correct"] > 0 for r in mine) / len(mine),
            "solved": sum(r["correct"] > 0 for r in mine),
            "greedy": sum(r["greedy_correct"] for r in mine) / len(mine),
            "greedy_solved": sum(r["greedy_correct"] for r in mine),
            "valid": sum(valid[r["problem_id"]] for r in mine),
            "valid_rate": sum(valid[r["problem_id"]] for r in mine) / len(mine),
        }
    del model
    return summary, problems, {"results": results, "valid": valid}


def train_arm(name: str, how: str, cfg: Any, train_problems: list[Any], console: Console) -> Path | None:
    """Train one arm; returns its adapter folder (None for the base model)."""
    from expo_lite.data.tasks import answer_format
    from expo_lite.recipes.train import run_training
    from expo_lite.run.rundir import RunDir, create_run_dir

    if how == "none":
        return None
    if how == "expo":
        return run_training(cfg, console=console).adapter_path
    from sdft_arm import train_sdft

    run: RunDir = create_run_dir(cfg)
    train_sdft(cfg, train_problems, answer_format(cfg.task), run.adapter_path, run.path / "checkpoints")
    return run.adapter_path


def main() -> None:
    from replicate_report import mdd_table, pilot_table, write_report

    from expo_lite.config import load_config
    from expo_lite.data.tasks import answer_format
    from expo_lite.models.loader import load_adapter_weights, load_model
    from expo_lite.stats import minimum_detectable_difference

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", type=Path, help="an expo-lite YAML for the model, LoRA and precision")
    parser.add_argument("--task", default="arithmetic", choices=["arithmetic", "math", "gsm8k"])
    parser.add_argument("--scale", type=int, default=1, help="multiply question counts and steps")
    parser.add_argument("--pilot-per-level", type=int, default=16, help="pilot = training questions per level")
    parser.add_argument("--eval-per-level", type=int, default=14, help="held-out test questions per chosen level")
    parser.add_argument("--max-base-pass", type=float, default=0.5, help="design rule: base pass@k at most this")
    parser.add_argument("--min-valid", type=float, default=0.1, help="design rule: explanation valid rate at least this")
    parser.add_argument("--max-levels", type=int, default=2)
    parser.add_argument("--generations", type=int, default=4, help="rollouts per question (G)")
    parser.add_argument("--questions-per-step", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=1, help="passes over the training questions (GRPO arms, SDFT)")
    parser.add_argument("--max-new-tokens", type=int, default=64, help="every generation: pilot, rollouts, explanations, eval")
    parser.add_argument("--k", type=int, default=4, help="pass@k with n = k samples (the paper: pass@4)")
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--task-seed", type=int, default=0)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0], help="training seeds (each arm once per seed)")
    parser.add_argument("--runs", type=Path, default=Path("runs/replicate"), help="where the run directories go")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "replicate", help="report folder")
    parser.add_argument("--only", nargs="*", help="train only these arms (names as in the report)")
    args = parser.parse_args()

    console = Console()
    started = time.perf_counter()
    runs = args.runs / time.strftime("%Y%m%d-%H%M%S")
    eval_seed, pilot_seed = 12345, 54321  # fixed: the pilot's draw and the outcome draw differ on purpose
    base_cfg = load_config(args.config, shared_overrides(args, runs, args.seeds[0]))

    t0 = time.perf_counter()
    pilot, pilot_problems, pilot_raw = run_pilot(base_cfg, args.pilot_per_level * args.scale, pilot_seed, console)
    pilot_s = time.perf_counter() - t0
    console.print(pilot_table(pilot, args.k))
    levels = choose_levels(pilot, args.max_base_pass, args.min_valid, args.max_levels)
    args.out.mkdir(parents=True, exist_ok=True)
    if not levels:
        msg = (f"no level has base pass@{args.k} <= {args.max_base_pass:.0%} and a valid self-explanation rate >= "
               f"{args.min_valid:.0%}: ExPO's claim cannot be tested on this model and task at this size")
        console.print(f"[bold red]{msg}[/bold red]")
        (args.out / "report.md").write_text(f"# Replication\n\n{pilot_table(pilot, args.k)}\n\n**{msg}.**\n")
        raise SystemExit(1)
    train_problems = [p for p in pilot_problems if p.level in levels]
    unsolved_ids = {r["problem_id"] for r in pilot_raw["results"] if r["level"] in levels and r["correct"] == 0}
    unsolved = [p for p in train_problems if p.id in unsolved_ids]
    held_out = task_questions(base_cfg, base_cfg.task.eval_split, levels, args.eval_per_level * args.scale)
    steps = args.epochs * math.ceil(len(train_problems) / args.questions_per_step)
    design = {"levels": levels, "train_questions": len(train_problems), "unsolved": len(unsolved),
              "held_out": len(held_out), "grpo_steps": steps, "seeds": args.seeds, "eval_seed": eval_seed,
              "pilot_seed": pilot_seed,
              "mdd": {name: {str(bg): minimum_detectable_difference(n, background=bg) for bg in (0.0, 0.05)}
                      for name, n in (("unsolved", len(unsolved)), ("held_out", len(held_out)))}}
    console.print(f"design: train on levels {levels}: {len(train_problems)} questions ({len(unsolved)} unsolved by the "
                  f"base model), {steps} GRPO steps of {args.questions_per_step} questions x G={args.generations}; "
                  f"held out {len(held_out)} test questions")
    console.print(mdd_table(design))

    sets = {"unsolved": unsolved, "held_out": held_out}
    outcomes: dict[str, dict[str, Any]] = {}
    timings: dict[str, dict[str, float]] = {}
    failures: dict[str, str] = {}
    questions_file = write_question_file(train_problems, runs / "train_questions" / "train.jsonl")
    level_args = ["task.name=math", f"task.path={questions_file}", "task.split=train", "task.levels=null",
                  f"task.answer_format={answer_format(base_cfg.task)}", f"train.max_steps={steps}"]
    for seed in args.seeds:
        for name, how, extra in ARMS:
            if args.only and name not in args.only and name != "base":
                continue
            if name == "base" and seed != args.seeds[0]:
                continue  # the base model does not depend on the training seed
            label = name if len(args.seeds) == 1 or name == "base" else f"{name}@seed{seed}"
            cfg = load_config(args.config, [*shared_overrides(args, runs, seed), *level_args, *extra,
                                             f"train.run_name={label}"])
            t0 = time.perf_counter()
            try:
                adapter = train_arm(name, how, cfg, train_problems, console)
            except ValueError as exc:  # e.g. ExP-DPO when the initial policy yields no valid pair
                failures[label] = str(exc)
                console.print(f"[bold red]{label} did not train[/bold red]: {exc}")
                continue
            t1 = time.perf_counter()
            model, tokenizer = load_model(cfg)
            if adapter is not None:
                load_adapter_weights(model, adapter)
            outcomes[label] = {"arm": name, "seed": seed, **evaluate_model(model, tokenizer, sets, cfg, eval_seed)}
            del model
            timings[label] = {"train_s": round(t1 - t0, 1), "eval_s": round(time.perf_counter() - t1, 1)}
            console.print(f"[bold]{label}[/bold]: train {timings[label]['train_s']} s, eval {timings[label]['eval_s']} s")
            (args.out / "outcomes.json").write_text(json.dumps({"outcomes": outcomes, "timings": timings}, indent=1))

    settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    settings["out"], settings["runs"] = rel(args.out), rel(args.runs)
    settings["config"] = rel(args.config) if args.config else None
    report = write_report(args.out, pilot=pilot, design=design, outcomes=outcomes, timings=timings, failures=failures,
                          settings=settings, k=args.k, pilot_s=pilot_s, total_s=time.perf_counter() - started,
                          runs=rel(runs))
    console.print(f"report: {rel(report)} ({(time.perf_counter() - started) / 60:.1f} min)")


if __name__ == "__main__":
    main()
