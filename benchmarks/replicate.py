"""ExPO's claim where it lives: does training on questions GRPO cannot learn move under ExP-GRPO, over seeds?

The design is pre-registered here, in code, and applied by a pilot that is part of the run; the pilot's
design section is written into the report before any arm trains, and nothing below changes after that.

1. **Two settings**: the embedded arithmetic task (levels 1-5), and GSM8K with its human-written solutions
   as the expert chains of thought (the first rows of the training split, copied with their MIT licence
   into benchmarks/data/gsm8k/).
2. **Pilot** (base model, each setting): pass@k (n = k samples at T = 0.7) and greedy accuracy on the pilot
   questions, `--pilot-tries` self-explanation tries per question at the hint prompt P_x(q, a*), and the
   paper's diagnostic: mean NLL per token under P(q) of the valid self-explanations vs the dataset's expert
   solutions.
3. **Question sets**, by rule: U (training set) = pilot questions with pass@k = 0 and at least one valid
   self-explanation (unsolved but explainable); U0 (control) = pass@k = 0 and no valid try (unsolved and
   not explainable: where ExPO predicts no help, the paper's own limitation); held-out = unseen questions
   of the same levels (arithmetic: the test split at U's levels; GSM8K: the rows after the pilot's, none
   at the default size). U and
   U0 are capped (`max_train`, `max_control`), taking levels in turn. A setting whose U is empty cannot
   test the claim: it is reported with its pilot numbers and trains no arm.
4. **Arms**, every one on U only, same questions, same LoRA, learning rate, rollouts per question (G),
   completion length and number of optimizer updates (`epochs` x ceil(|U| / questions per step): each
   question is seen `epochs` times), each under training seeds 0, 1, 2 (TRL's sampler is seeded by the
   training seed, so arms that share a seed see the questions in the same order): GRPO; ExP-GRPO;
   GRPO+SFT-GT-CoT (expert solutions as positives); ExP-GRPO with `explain_on: unsolved` (not on GSM8K at
   the default size, see SETTINGS). TRL's SDFT can
   be added (`--arms ... sdft`: same steps). The DPO arms are not in this design: their update count is
   set by the number of pairs, so it cannot be equalised with the GRPO arms' steps.
5. **Outcomes**: per-step training curves from each run's metrics.jsonl (mean rollout reward on U, the
   fraction of groups with no correct rollout, the SFT term's NLL) with seed bands, and counts of where the
   signal came from (steps whose gradient was not zero, SFT positives trained on); after training, greedy
   accuracy and pass@k on U, U0 and held-out, all arms (and the base model, re-sampled: the baseline for
   regression to the mean) with one evaluation seed that differs from the pilot's.
6. **Statistics** (expo_lite/stats.py): intervals on every accuracy; for ExP-GRPO vs GRPO, ExP-GRPO vs
   GRPO+SFT-GT-CoT and ExP-GRPO (unsolved) vs GRPO, on each question set and metric, the paired
   difference with a bootstrap interval over questions (each question with all its seeds) and the exact
   sign test over questions (McNemar's exact test when there is one seed), plus Holm-adjusted p-values
   across every test the report makes. The minimum detectable difference at the sizes used is printed
   with the design.

    .venv/bin/python benchmarks/replicate.py                       # both settings, 4 arms x 3 seeds
    .venv/bin/python benchmarks/replicate.py --settings arithmetic --seeds 0   # one setting, one seed
    .venv/bin/python benchmarks/replicate.py --config qwen2.5-3b --scale 4    # a GPU user: bigger sets
    .venv/bin/python benchmarks/replicate.py --resume          # after a crash: same design, arms not yet done

Default sizes (SETTINGS) are set to fit 120 minutes of a quiet 2-core CPU on the embedded model, from a
timing probe made before the design run (both pilots at larger sizes, and one GRPO arm per setting, seed 0,
whose timings were the only thing read from it): a step of 16 rollouts takes 37.5 s (GRPO) and ~49 s
(ExP-GRPO: its explanation tries ride in the same decode) at 64 new tokens on arithmetic, ~104 s (GRPO) at
160 on GSM8K, whose prompts are longer; evaluation costs ~3.5 s (arithmetic) and ~9.5 s (GSM8K) per
question (4 samples + greedy), the pilot ~7 s and ~25 s per question (with 4 explanation tries); switching
gradient checkpointing off did not make a step faster (3 ExP-GRPO steps: 151.5 s without, 146.3 s with).
Expected: arithmetic ~54 min, GSM8K ~56 min; the design run took 99.3 min in all (with one --resume). At these sizes GSM8K cannot afford the fourth arm or a
held-out set (see SETTINGS); `--scale` and a GPU can.

`--config` supplies the model, LoRA and precision (any expo-lite YAML); the design's own settings override
its task, algorithm and training sizes. `--scale` multiplies the pilot and held-out sizes and the caps on U
and U0. Everything is saved in the report folder after each arm: `--resume` continues a run cut short (its
design and options as saved), `--report-only` rebuilds the report from design.json and outcomes.json.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")  # SDFT lives in trl.experimental; we know

sys.path.insert(0, str(Path(__file__).parent))

from rich.console import Console  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
GSM8K_COPY = REPO / "benchmarks" / "data" / "gsm8k"


@dataclass(frozen=True)
class Setting:
    """One data setting's pre-registered sizes."""

    name: str
    task: tuple[str, ...]  # task overrides
    levels: tuple[int, ...] | None  # pilot levels (None: the task has no levels, e.g. GSM8K)
    pilot_per_level: int  # pilot questions per level (all of them when levels is None)
    held_out_per_level: int
    max_new_tokens: int  # every generation: pilot, rollouts, explanations, evaluation
    max_train: int  # cap on U
    max_control: int  # cap on U0
    epochs: int  # passes over U
    questions_per_step: int  # questions x G rollouts per optimizer step
    arms: tuple[str, ...] | None = None  # the arms this setting trains (None: every arm asked for)


SETTINGS = {  # sizes from the timing probe in the module docstring; fixed before any design-run arm trained
    # 64 tokens: 11 of the base model's 12 correct level-1 answers in a 128-token probe ended within 64
    "arithmetic": Setting("arithmetic", ("task.name=arithmetic", "task.seed=0"), (1, 2, 3, 4, 5), 12, 2, 64,
                          max_train=6, max_control=6, epochs=2, questions_per_step=3),
    # the arm explaining only all-wrong groups is left out here for time: with base pass@4 = 0 on every pilot
    # question most of its groups are all-wrong, so it is close to ExP-GRPO; no held-out set (at a budget of
    # 2-4 questions it could detect nothing)
    "gsm8k": Setting("gsm8k", ("task.name=gsm8k", f"task.path={GSM8K_COPY}"), None, 16, 0, 160,
                     max_train=4, max_control=4, epochs=2, questions_per_step=4,
                     arms=("grpo", "exp-grpo", "grpo-sft-gt")),
}
ARMS = {  # name -> overrides on top of the shared settings; "sdft" runs TRL's own trainer (sdft_arm.py)
    "grpo": ["algo.name=grpo"],
    "exp-grpo": ["algo.name=exp_grpo"],
    "grpo-sft-gt": ["algo.name=grpo_sft_gt"],
    "exp-grpo-unsolved": ["algo.name=exp_grpo", "algo.explain_on=unsolved"],
    "sdft": ["algo.name=grpo"],
}
DEFAULT_ARMS = ["grpo", "exp-grpo", "grpo-sft-gt", "exp-grpo-unsolved"]
EVAL_SEED, PILOT_SEED = 12345, 54321  # fixed: the pilot's draw and the outcome draw differ on purpose


def rel(path: Path) -> str:
    """Paths in the report are relative to the repository (never a machine path)."""
    try:
        return str(Path(path).resolve().relative_to(REPO))
    except ValueError:
        return Path(path).name


def split_unsolved(pilot: list[dict[str, Any]], max_train: int, max_control: int) -> tuple[list[str], list[str]]:
    """The rule of step 3 on the pilot's per-question records (`problem_id`, `level`, `solved` at pass@k,
    `explained`): U = unsolved and explained, U0 = unsolved and never explained, each capped by taking the
    levels in turn (so a cap does not fill up from the easiest level), pilot order within a level."""
    def take(rows: list[dict[str, Any]], cap: int) -> list[str]:
        by_level: dict[Any, list[str]] = {}
        for r in rows:
            by_level.setdefault(r["level"], []).append(r["problem_id"])
        queues, taken = list(by_level.values()), []
        while len(taken) < cap and any(queues):
            for q in queues:
                if q and len(taken) < cap:
                    taken.append(q.pop(0))
        return taken

    unsolved = [r for r in pilot if not r["solved"]]
    return (take([r for r in unsolved if r["explained"]], max_train),
            take([r for r in unsolved if not r["explained"]], max_control))


def schedule(train_questions: int, setting: Setting) -> dict[str, int]:
    """Optimizer updates, the same for every arm: `epochs` passes over U in steps of `questions_per_step`."""
    per_step = max(1, min(setting.questions_per_step, train_questions))
    steps_per_epoch = math.ceil(train_questions / per_step)
    return {"questions_per_step": per_step, "steps_per_epoch": steps_per_epoch, "steps": setting.epochs * steps_per_epoch}


def shared_overrides(args: argparse.Namespace, setting: Setting, runs: Path, seed: int) -> list[str]:
    return [
        f"train.output_dir={runs}", *setting.task, f"train.seed={seed}", f"algo.num_generations={args.generations}",
        "algo.sft_beta=0.04", "explain.num_tries=2", f"train.max_completion_length={setting.max_new_tokens}",
        f"explain.max_new_tokens={setting.max_new_tokens}", f"train.learning_rate={args.lr}", "train.save_steps=100000",
        "train.logging_steps=1", f"eval.n={args.k}", f"eval.k={args.k}", "eval.temperature=0.7",
        f"eval.max_new_tokens={setting.max_new_tokens}", "log.tui=false",
    ]


def pilot_and_held_out(cfg: Any, setting: Setting) -> tuple[list[Any], Any]:
    """The pilot's questions, and a function of U's levels giving the held-out questions (never in the pilot)."""
    from expo_lite.data.tasks import load_task

    if setting.levels is None:  # one pool: the pilot is its first rows, held-out the rows after them
        problems = load_task(cfg.task, cfg.task.split).problems
        pilot = problems[: setting.pilot_per_level]
        return pilot, lambda levels: problems[len(pilot) : len(pilot) + setting.held_out_per_level]

    def per_level(split: str, levels: list[int], n: int) -> list[Any]:
        task_cfg = cfg.task.model_copy(update={"levels": levels, "num_problems": n})
        problems = load_task(task_cfg, split).problems
        return [p for lv in levels for p in [q for q in problems if q.level == lv][:n]]

    return (per_level(cfg.task.split, list(setting.levels), setting.pilot_per_level),
            lambda levels: per_level(cfg.task.eval_split, levels, setting.held_out_per_level))


def write_question_file(problems: list[Any], path: Path) -> Path:
    """Questions as a MATH-500-schema JSONL, so every arm trains on exactly these, whatever the task (its
    `unique_id` keeps our problem ids, its `answer` column is graded as is, its `solution` is the expert CoT)."""
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


def run_pilot(cfg: Any, setting: Setting, tries: int, console: Console) -> dict[str, Any]:
    """Step 2: per question, solved at pass@k / greedy and explained (>= 1 valid try of `tries`); the NLL
    diagnostic; then step 3's sets (as problem ids)."""
    from transformers import set_seed

    from expo_lite.algorithms.explain import explain
    from expo_lite.data.tasks import answer_format
    from expo_lite.models.loader import load_model
    from expo_lite.tools.diagnostics import expert_scores, summarize

    t0 = time.perf_counter()
    problems, held_out_for = pilot_and_held_out(cfg, setting)
    model, tokenizer = load_model(cfg)
    console.print(f"[bold]{setting.name}[/bold] pilot: {len(problems)} questions x ({cfg.eval.n} samples + greedy + "
                  f"{tries} explanation tries), {setting.max_new_tokens} new tokens")
    results = evaluate_model(model, tokenizer, {"pilot": problems}, cfg, PILOT_SEED)["pilot"]
    set_seed(PILOT_SEED)
    fmt = answer_format(cfg.task)
    records = explain(model, tokenizer, problems, fmt, cfg.explain.model_copy(update={"num_tries": tries}), cfg.prompt)
    diagnostic = summarize(records, expert_scores(model, tokenizer, problems, fmt, cfg.prompt))
    del model
    valid = {r.problem_id: r.valid for r in records}
    per_question = [{"problem_id": r["problem_id"], "level": r["level"], "solved": r["correct"] > 0,
                     "greedy": bool(r["greedy_correct"]), "explained": valid[r["problem_id"]]} for r in results]
    train_ids, control_ids = split_unsolved(per_question, setting.max_train, setting.max_control)
    by_id = {p.id: p for p in problems}
    levels = sorted({by_id[i].level for i in train_ids if by_id[i].level is not None})
    held_out = held_out_for(levels) if train_ids and setting.held_out_per_level else []
    return {"per_question": per_question, "train_ids": train_ids, "control_ids": control_ids,
            "held_out_ids": [p.id for p in held_out],
            "diagnostic": {k: diagnostic[k] for k in ("valid_rate", "nll_self_explanation", "nll_expert",
                                                      "nll_ratio_expert_over_self", "paired_questions", "paired_nll_ratio")},
            "seconds": time.perf_counter() - t0}


def question_sets(cfg: Any, setting: Setting, design: dict[str, Any]) -> dict[str, list[Any]]:
    """The design's question sets as problems, rebuilt from their ids (a resumed run gets the same ones)."""
    problems, held_out_for = pilot_and_held_out(cfg, setting)
    by_id = {p.id: p for p in problems}
    train = [by_id[i] for i in design["train_ids"]]
    levels = sorted({p.level for p in train if p.level is not None})
    held_out = held_out_for(levels) if design["held_out_ids"] else []
    if [p.id for p in held_out] != design["held_out_ids"]:
        raise SystemExit(f"{setting.name}: the held-out questions differ from the design's; was the task changed?")
    return {"train": train, "control": [by_id[i] for i in design["control_ids"]], "held_out": held_out}


def train_arm(arm: str, cfg: Any, train_problems: list[Any], console: Console) -> Path:
    """Train one arm; returns its run directory."""
    from expo_lite.data.tasks import answer_format
    from expo_lite.recipes.train import run_training
    from expo_lite.run.rundir import create_run_dir

    if arm != "sdft":
        return run_training(cfg, console=console).path
    from sdft_arm import train_sdft

    run = create_run_dir(cfg)
    train_sdft(cfg, train_problems, answer_format(cfg.task), run.adapter_path, run.path / "checkpoints")
    return run.path


def read_curve(run_path: Path) -> list[dict[str, float]]:
    """The per-step curves the report draws and its training-signal counts (grad norm, SFT positives), from
    the run's metrics.jsonl (kept in outcomes.json: the run directories are not committed)."""
    from expo_lite.io import read_jsonl
    from expo_lite.tools.report import CURVES

    path = run_path / "metrics.jsonl"
    keys = [key for key, _ in CURVES] + ["grad_norm", "expo/positives"]
    rows = list(read_jsonl(path)) if path.is_file() else []
    return [{"step": m["step"], **{k: m[k] for k in keys if k in m}} for m in rows if "reward" in m]


def design_of(setting: Setting, pilot: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    from expo_lite.stats import minimum_detectable_difference

    plan = schedule(len(pilot["train_ids"]), setting)
    sizes = {"train": len(pilot["train_ids"]), "control": len(pilot["control_ids"]), "held_out": len(pilot["held_out_ids"])}
    return {"setting": asdict(setting) | {"task": [rel_override(t) for t in setting.task]}, **plan, "sizes": sizes,
            **{k: pilot[k] for k in ("train_ids", "control_ids", "held_out_ids")},
            "arms": [a for a in args.arms if setting.arms is None or a in setting.arms], "seeds": args.seeds,
            "generations": args.generations, "k": args.k, "lr": args.lr, "pilot_tries": args.pilot_tries,
            "eval_seed": EVAL_SEED, "pilot_seed": PILOT_SEED,
            "mdd": {name: {str(bg): minimum_detectable_difference(n, background=bg) if n else None for bg in (0.0, 0.05)}
                    for name, n in sizes.items()}}


def rel_override(text: str) -> str:
    key, _, value = text.partition("=")
    return f"{key}={rel(Path(value))}" if key == "task.path" else text


def main() -> None:
    from replicate_report import write_report

    from expo_lite.io import atomic_write_text

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", type=Path, help="an expo-lite YAML for the model, LoRA and precision")
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    parser.add_argument("--arms", nargs="+", default=DEFAULT_ARMS, choices=list(ARMS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="training seeds (each arm once per seed)")
    parser.add_argument("--scale", type=int, default=1, help="multiply pilot, held-out and the caps on U and U0")
    parser.add_argument("--generations", type=int, default=4, help="rollouts per question (G)")
    parser.add_argument("--pilot-tries", type=int, default=4, help="self-explanation tries per pilot question")
    parser.add_argument("--k", type=int, default=4, help="pass@k with n = k samples (the paper: pass@4)")
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--runs", type=Path, default=Path("runs/replicate"), help="where the run directories go")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "replicate", help="report folder")
    parser.add_argument("--resume", action="store_true",
                        help="continue the run saved in --out (its design and options), skipping the arms already done")
    parser.add_argument("--report-only", action="store_true",
                        help="rebuild report.md and the figures from --out's design.json and outcomes.json")
    args = parser.parse_args()
    if args.report_only:
        saved, record = json.loads((args.out / "outcomes.json").read_text()), json.loads((args.out / "design.json").read_text())
        report = write_report(args.out, designs=record["design"], outcomes=saved["outcomes"],
                              failures=saved["failures"], options=saved["options"], total_s=saved["elapsed_s"],
                              runs=saved["runs"])
        print(f"report: {rel(report)}")
        return

    console = Console()
    started = time.perf_counter()
    args.out.mkdir(parents=True, exist_ok=True)
    if args.resume:  # the saved design and options, the arms already done are skipped
        saved, record = json.loads((args.out / "outcomes.json").read_text()), json.loads((args.out / "design.json").read_text())
        for key, value in saved["options"].items():
            if key not in ("resume", "out", "runs"):
                setattr(args, key, Path(value) if key == "config" and value else value)
        runs, outcomes, failures, earlier_s = REPO / saved["runs"], saved["outcomes"], saved["failures"], saved["elapsed_s"]
    else:
        runs, outcomes, failures, earlier_s = args.runs / time.strftime("%Y%m%d-%H%M%S"), {}, {}, 0.0
    settings = {name: SETTINGS[name] for name in args.settings}
    if args.scale != 1:
        settings = {n: replace(s, pilot_per_level=s.pilot_per_level * args.scale, max_train=s.max_train * args.scale,
                               max_control=s.max_control * args.scale,
                               held_out_per_level=s.held_out_per_level * args.scale) for n, s in settings.items()}
    if not args.resume:
        record = fix_designs(settings, args, runs, console)
    options = {k: (rel(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    for name in settings:
        outcomes.setdefault(name, {})

    def save() -> None:  # after every arm: a crash keeps what ran (--resume), --report-only rebuilds the report
        atomic_write_text(args.out / "outcomes.json", json.dumps(
            {"outcomes": outcomes, "failures": failures, "options": options, "runs": rel(runs),
             "elapsed_s": earlier_s + time.perf_counter() - started}, indent=1))

    save()  # from here on --resume can pick the run up, even before its first arm
    for name, setting in settings.items():
        design = record["design"][name]
        if not design["train_ids"]:
            console.print(f"[bold red]{name}: no unsolved question has a valid self-explanation; no arm trains[/bold red]")
            continue
        run_arms(name, setting, design, args, runs, outcomes[name], failures, console, save)
    save()
    report = write_report(args.out, designs=record["design"], outcomes=outcomes, failures=failures,
                          options=options, total_s=earlier_s + time.perf_counter() - started, runs=rel(runs))
    console.print(f"report: {rel(report)} ({(time.perf_counter() - started) / 60:.1f} min this time, "
                  f"{(earlier_s + time.perf_counter() - started) / 60:.1f} min in all)")


def fix_designs(settings: dict[str, Setting], args: argparse.Namespace, runs: Path, console: Console) -> dict[str, Any]:
    """Pilots first, every setting: each design is fixed, and written to design.md/json, before any arm trains."""
    from replicate_report import design_markdown

    from expo_lite.config import load_config
    from expo_lite.io import atomic_write_text

    pilots, designs = {}, {}
    for name, setting in settings.items():
        cfg = load_config(args.config, shared_overrides(args, setting, runs, args.seeds[0]))
        pilots[name] = run_pilot(cfg, setting, args.pilot_tries, console)
        designs[name] = design_of(setting, pilots[name], args)
    record = {"design": designs, "pilot": {n: {k: p[k] for k in ("per_question", "diagnostic", "seconds")}
                                           for n, p in pilots.items()},
              "design_written": time.strftime("%Y-%m-%d %H:%M:%S")}
    atomic_write_text(args.out / "design.json", json.dumps(record, indent=1))
    atomic_write_text(args.out / "design.md", "\n".join(design_markdown(n, designs[n], record["pilot"][n]) for n in settings))
    console.print((args.out / "design.md").read_text())
    return record


def run_arms(name: str, setting: Setting, design: dict[str, Any], args: argparse.Namespace, runs: Path,
             outcomes: dict[str, Any], failures: dict[str, str], console: Console, save: Any) -> None:
    """The base model, then every arm x seed of the design on U, each evaluated on U, U0 and held-out."""
    from expo_lite.config import load_config
    from expo_lite.data.tasks import answer_format
    from expo_lite.models.loader import load_adapter_weights, load_model

    task_cfg = load_config(args.config, list(setting.task))
    sets = question_sets(task_cfg, setting, design)
    questions = write_question_file(sets["train"], runs / name / "train.jsonl")
    level_args = ["task.name=math", f"task.path={questions}", "task.split=train", "task.levels=null",
                  "task.types=null", f"task.answer_format={answer_format(task_cfg.task)}",
                  f"train.max_steps={design['steps']}",
                  f"train.per_device_train_batch_size={design['questions_per_step'] * args.generations}"]
    for seed in design["seeds"]:
        for arm in ["base", *design["arms"]]:
            if arm == "base" and seed != design["seeds"][0]:
                continue  # the base model does not depend on the training seed
            label = "base" if arm == "base" else f"{arm}@seed{seed}"
            if label in outcomes or f"{name}/{label}" in failures:
                continue  # done before a --resume
            cfg = load_config(args.config, [*shared_overrides(args, setting, runs / name, seed), *level_args,
                                            *ARMS.get(arm, ["algo.name=grpo"]), f"train.run_name={label}"])
            t0 = time.perf_counter()
            run_path = None
            if arm != "base":  # (an arm cut short before a --resume trains again, into `label-2`)
                try:
                    run_path = train_arm(arm, cfg, sets["train"], console)
                except ValueError as exc:
                    failures[f"{name}/{label}"] = str(exc)
                    console.print(f"[bold red]{name}/{label} did not train[/bold red]: {exc}")
                    continue
            t1 = time.perf_counter()
            model, tokenizer = load_model(cfg)
            if run_path is not None:
                load_adapter_weights(model, run_path / "adapter")
            outcomes[label] = {"arm": arm, "seed": seed, **evaluate_model(model, tokenizer, sets, cfg, EVAL_SEED),
                               "curve": read_curve(run_path) if run_path else [],
                               "run": rel(run_path) if run_path else None,
                               "train_s": round(t1 - t0, 1), "eval_s": round(time.perf_counter() - t1, 1)}
            del model
            console.print(f"[bold]{name}/{label}[/bold]: train {outcomes[label]['train_s']} s, "
                          f"eval {outcomes[label]['eval_s']} s")
            save()


if __name__ == "__main__":
    main()
