"""The replication's report: pilot and pre-registered design, training curves, outcomes, paired comparisons.

Pure functions of the numbers replicate.py collected (tested without a model). Accuracies carry 95%
intervals; comparisons are paired over questions with every training seed (expo_lite/stats.py:
`paired_over_seeds`), and the Holm column adjusts over every test the report makes, both settings together.
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path
from typing import Any

from expo_lite.io import atomic_write_text
from expo_lite.recipes.evaluate import pass_at_k
from expo_lite.stats import holm, mean_interval, paired_over_seeds

COMPARISONS = [("exp-grpo", "grpo"), ("exp-grpo", "grpo-sft-gt"), ("exp-grpo-unsolved", "grpo")]
NAMES = {"base": "base", "grpo": "GRPO", "grpo-sft-gt": "GRPO+SFT-GT-CoT", "exp-grpo": "ExP-GRPO",
         "exp-grpo-unsolved": "ExP-GRPO (explain unsolved)", "sdft": "SDFT (TRL)"}
SETS = {"train": "U (trained on)", "control": "U0 (control)", "held_out": "held-out"}


def pct(x: float) -> str:
    return f"{100 * x:.1f}"


def with_interval(values: list[float]) -> str:
    """`25.0 [10.2, 49.5]` (n = 0: an en dash)."""
    if not values:
        return "–"
    low, high = mean_interval(values)
    return f"{pct(sum(values) / len(values))} [{pct(low)}, {pct(high)}]"


def scores(results: list[dict[str, Any]], metric: str, k: int) -> list[float]:
    """Per-question scores in problem-id order: greedy 0/1, or pass@k (0/1 when n = k)."""
    ordered = sorted(results, key=lambda r: r["problem_id"])
    if metric == "greedy":
        return [float(r["greedy_correct"]) for r in ordered]
    return [pass_at_k(r["n"], r["correct"], k) for r in ordered]


def by_seed(outcomes: dict[str, dict[str, Any]], arm: str) -> dict[int, dict[str, Any]]:
    return {o["seed"]: o for o in outcomes.values() if o["arm"] == arm}


def seed_mean_scores(outcomes: dict[str, dict[str, Any]], arm: str, qset: str, metric: str, k: int) -> list[float]:
    """Per question, the score averaged over the arm's training seeds (what its interval is taken over)."""
    runs = list(by_seed(outcomes, arm).values())
    per_seed = [scores(o[qset], metric, k) for o in runs]
    return [sum(col) / len(col) for col in zip(*per_seed, strict=True)] if per_seed else []


# --- the design, written before any arm trains ---------------------------------------------------------

def pilot_table(per_question: list[dict[str, Any]], design: dict[str, Any], k: int) -> str:
    levels = sorted({r["level"] for r in per_question}, key=lambda lv: (lv is None, lv or 0))
    train, control = set(design["train_ids"]), set(design["control_ids"])
    lines = [f"| level | questions | base pass@{k} [95% CI] | base greedy [95% CI] | explained (>= 1 valid try) [95% CI] "
             "| unsolved and explained | unsolved, not explained | in U | in U0 |", "|---|---|---|---|---|---|---|---|---|"]
    for lv in levels:
        rows = [r for r in per_question if r["level"] == lv]
        unsolved = [r for r in rows if not r["solved"]]
        lines.append(f"| {'–' if lv is None else lv} | {len(rows)} | {with_interval([float(r['solved']) for r in rows])} | "
                     f"{with_interval([float(r['greedy']) for r in rows])} | "
                     f"{with_interval([float(r['explained']) for r in rows])} | {sum(r['explained'] for r in unsolved)} | "
                     f"{sum(not r['explained'] for r in unsolved)} | {sum(r['problem_id'] in train for r in rows)} | "
                     f"{sum(r['problem_id'] in control for r in rows)} |")
    return "\n".join(lines) + "\n"


def mdd_table(design: dict[str, Any]) -> str:
    lines = ["| question set | questions | MDD, no noise flips | MDD, 5% noise flips each way |", "|---|---|---|---|"]
    for name, by_noise in design["mdd"].items():
        cells = ["not detectable" if v is None else f"{pct(v)} points" for v in (by_noise["0.0"], by_noise["0.05"])]
        if not design["sizes"][name]:
            cells = ["not measured", "not measured"]
        lines.append(f"| {SETS[name]} | {design['sizes'][name]} | {cells[0]} | {cells[1]} |")
    return "\n".join(lines) + "\n"


def design_markdown(name: str, design: dict[str, Any], pilot: dict[str, Any]) -> str:
    s, d, k = design["setting"], pilot["diagnostic"], design["k"]

    def nll(x: float | None, spec: str = ".3f") -> str:
        return "n/a" if x is None else format(x, spec)

    arms = ", ".join(NAMES[a] for a in design["arms"])
    return "\n".join([
        f"### Setting: {name}", "",
        f"Pilot: base model, {len(pilot['per_question'])} questions, pass@{k} from {k} samples at T = 0.7 plus a greedy "
        f"answer, {design['pilot_tries']} self-explanation tries each, {s['max_new_tokens']} new tokens; "
        f"{pilot['seconds'] / 60:.1f} min.", "",
        pilot_table(pilot["per_question"], design, k),
        f"NLL per token under P(q) (the paper's diagnostic): valid self-explanations {nll(d['nll_self_explanation'])}, "
        f"the dataset's expert solutions {nll(d['nll_expert'])}, ratio expert/self {nll(d['nll_ratio_expert_over_self'], '.2f')} "
        f"(paired over {d['paired_questions']} questions: {nll(d['paired_nll_ratio'], '.2f')}).", "",
        f"- **U** (train on): {design['sizes']['train']} questions (cap {s['max_train']}); **U0** (control): "
        f"{design['sizes']['control']} (cap {s['max_control']}); **held-out**: {design['sizes']['held_out']}",
        f"- arms: {arms}; training seeds {design['seeds']}; each arm {design['steps']} optimizer steps = {s['epochs']} "
        f"epochs x {design['steps_per_epoch']} steps of {design['questions_per_step']} questions x G = "
        f"{design['generations']} rollouts; learning rate {design['lr']}, SFT beta 0.04, 2 explanation tries per question",
        f"- evaluation: greedy and pass@{k} ({k} samples at T = 0.7) on U, U0 and held-out, seed {design['eval_seed']} "
        f"(the pilot sampled with seed {design['pilot_seed']}: the base row re-sampled is the baseline for regression "
        "to the mean)", "",
        "Minimum detectable paired difference at these sizes (one seed; 80% power, exact McNemar, alpha 0.05; more "
        "seeds lower the noise):", "", mdd_table(design) if design["sizes"]["train"] else
        "**No unsolved question has a valid self-explanation: this setting cannot test the claim; no arm trains.**\n",
    ])


# --- results --------------------------------------------------------------------------------------------

def comparisons(all_outcomes: dict[str, dict[str, dict[str, Any]]], k: int) -> list[dict[str, Any]]:
    """Every comparison of COMPARISONS whose two arms ran, on each question set and metric, per setting, paired
    over the seeds both arms trained with; the Holm-adjusted p over the whole list."""
    rows = []
    for setting, outcomes in all_outcomes.items():
        for a, b in COMPARISONS:
            sa, sb = by_seed(outcomes, a), by_seed(outcomes, b)
            seeds = sorted(set(sa) & set(sb))
            if not seeds:
                continue
            for qset in SETS:
                if not sa[seeds[0]][qset]:
                    continue
                for metric in ("greedy", "pass"):
                    res = paired_over_seeds([scores(sa[s][qset], metric, k) for s in seeds],
                                            [scores(sb[s][qset], metric, k) for s in seeds])
                    rows.append({"setting": setting, "a": a, "b": b, "set": qset, "metric": metric, "seeds": seeds,
                                 "result": res})
    for row, adjusted in zip(rows, holm([r["result"].p_value for r in rows]), strict=True):
        row["holm_p"] = adjusted
    return rows


def comparison_table(rows: list[dict[str, Any]], k: int) -> str:
    lines = ["| comparison | question set | metric | difference (points) [95% bootstrap CI] | only A / only B "
             "(question x seed) | sign-test p | Holm p |", "|---|---|---|---|---|---|---|"]
    for row in rows:
        r = row["result"]
        metric = "greedy" if row["metric"] == "greedy" else f"pass@{k}"
        discordant = "–" if r.only_a is None else f"{r.only_a} / {r.only_b}"
        lines.append(f"| {NAMES[row['a']]} vs {NAMES[row['b']]} | {SETS[row['set']]} ({r.questions} q x "
                     f"{len(row['seeds'])} seeds) | {metric} | {100 * r.difference:+.1f} [{100 * r.low:+.1f}, "
                     f"{100 * r.high:+.1f}] | {discordant} | {r.p_value:.3f} | {row['holm_p']:.3f} |")
    return "\n".join(lines) + "\n"


def outcome_table(outcomes: dict[str, dict[str, Any]], k: int) -> str:
    arms = list(dict.fromkeys(o["arm"] for o in outcomes.values()))
    head = " | ".join(f"{SETS[s]} {m}" for s in SETS for m in ("greedy", f"pass@{k}"))
    lines = [f"| method | seeds | {head} |", "|---|---|" + "---|" * 2 * len(SETS)]
    for arm in arms:
        seeds = sorted(by_seed(outcomes, arm))
        cells = [with_interval(seed_mean_scores(outcomes, arm, s, m, k)) for s in SETS for m in ("greedy", "pass")]
        lines.append(f"| {NAMES[arm]} | {len(seeds) if arm != 'base' else '–'} | {' | '.join(cells)} |")
    return "\n".join(lines) + "\n"


def epoch_means(curve: list[dict[str, float]], key: str, steps_per_epoch: int) -> list[float]:
    """The curve's mean over each epoch's steps (epoch e = steps e*spe+1 .. (e+1)*spe)."""
    epochs: dict[int, list[float]] = {}
    for m in curve:
        if key in m:
            epochs.setdefault((int(m["step"]) - 1) // steps_per_epoch, []).append(float(m[key]))
    return [sum(v) / len(v) for _, v in sorted(epochs.items())]


def mean_sd(values: list[float], spec: str = ".2f") -> str:
    if not values:
        return "–"
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{format(statistics.mean(values), spec)} ± {format(sd, spec)}"


def curve_headlines(outcomes: dict[str, dict[str, Any]], steps_per_epoch: int) -> dict[str, dict[str, list[float]]]:
    """Per arm, per seed: first- and last-epoch means of the training curves."""
    out: dict[str, dict[str, list[float]]] = {}
    for o in outcomes.values():
        if o["arm"] == "base":
            continue
        row = out.setdefault(o["arm"], {})
        for key, name in (("reward", "reward"), ("expo/all_wrong_frac", "all_wrong"), ("expo/sft_loss", "sft_nll")):
            epochs = epoch_means(o["curve"], key, steps_per_epoch)
            if epochs:
                row.setdefault(f"{name}_first", []).append(epochs[0])
                row.setdefault(f"{name}_last", []).append(epochs[-1])
    return out


def curve_table(outcomes: dict[str, dict[str, Any]], steps_per_epoch: int) -> str:
    heads = curve_headlines(outcomes, steps_per_epoch)
    lines = ["Training curves on U, mean ± sd over seeds of each run's epoch mean:", "",
             "| method | reward, first epoch | reward, last epoch | all-wrong groups, first epoch | all-wrong groups, "
             "last epoch | SFT NLL, first epoch | SFT NLL, last epoch |", "|---|---|---|---|---|---|---|"]
    for arm, h in heads.items():
        cells = [mean_sd(h.get(f"{n}_{e}", [])) for n in ("reward", "all_wrong", "sft_nll") for e in ("first", "last")]
        lines.append(f"| {NAMES[arm]} | {' | '.join(cells)} |")
    return "\n".join(lines) + "\n"


def step_total(steps: list[dict[str, float]], key: str, of: Any = float) -> int | None:
    """`of(value)` summed over the steps, rounded; None when a step lacks the key (curves of an older run)."""
    if not steps or any(key not in m for m in steps):
        return None
    return round(sum(of(m[key]) for m in steps))


def signal_table(outcomes: dict[str, dict[str, Any]], questions_per_step: int) -> str:
    """Where each arm's learning signal came from, summed over every step of every seed: ExPO's premise is that
    GRPO's update vanishes when every rollout of a group is wrong (advantages all zero), and that a positive
    sample restores it. Counts, not means: with a handful of questions the reader can check every cell."""
    lines = ["Training signal on U, summed over every step of every seed (a step updates the model only when some "
             "group has both correct and wrong rollouts, or an SFT positive exists):", "",
             "| method | steps with an update (grad norm > 0) | groups with no correct rollout | "
             "SFT positives trained on |", "|---|---|---|---|"]
    for arm in dict.fromkeys(o["arm"] for o in outcomes.values() if o["arm"] != "base"):
        steps = [m for o in outcomes.values() if o["arm"] == arm for m in o["curve"]]
        counts = [step_total(steps, "grad_norm", lambda v: v > 0),
                  step_total(steps, "expo/all_wrong_frac", lambda v: v * questions_per_step),
                  step_total(steps, "expo/positives")]
        of = [len(steps), len(steps) * questions_per_step, len(steps) * questions_per_step]
        cells = ["–" if c is None else f"{c} / {n}" for c, n in zip(counts, of, strict=True)]
        lines.append(f"| {NAMES[arm]} | {' | '.join(cells)} |")
    return "\n".join(lines) + "\n"


def plot_outcomes(outcomes: dict[str, dict[str, Any]], k: int, path: Path) -> Path:
    """Three panels (U, U0, held-out): greedy and pass@k per method, seed-averaged, with 95% intervals."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    arms = list(dict.fromkeys(o["arm"] for o in outcomes.values()))
    fig, axes = plt.subplots(1, len(SETS), figsize=(13, 3.8))
    for ax, (qset, title) in zip(axes, SETS.items(), strict=True):
        for j, metric in enumerate(("greedy", "pass")):
            values, low, high = [], [], []
            for arm in arms:
                s = seed_mean_scores(outcomes, arm, qset, metric, k)
                m = sum(s) / len(s) if s else 0.0
                lo, hi = mean_interval(s) if s else (0.0, 0.0)
                values.append(100 * m)
                low.append(100 * (m - lo))
                high.append(100 * (hi - m))
            ax.bar([i + 0.4 * j for i in range(len(arms))], values, 0.4, yerr=[low, high], capsize=3,
                   label="greedy" if metric == "greedy" else f"pass@{k}")
        ax.set_xticks([i + 0.2 for i in range(len(arms))], [NAMES[a] for a in arms], rotation=30, ha="right", fontsize=7)
        ax.set(title=title, ylabel="% solved (seed mean, 95% CI)", ylim=(0, 100))
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_training_curves(setting: str, outcomes: dict[str, dict[str, Any]], out: Path) -> Path | None:
    """The same picture `expo-lite report RUN_DIR...` draws (mean and band per arm), from the kept curves."""
    from expo_lite.tools.report import plot_curves

    runs = [{"method": NAMES[o["arm"]], "name": label, "metrics": o["curve"]} for label, o in outcomes.items() if o["curve"]]
    return plot_curves(runs, out, name=f"curves_{setting}.png", title=f"{setting}: training on U (seeds: band = min-max)")


def write_report(out: Path, *, designs: dict, outcomes: dict, failures: dict, options: dict,
                 total_s: float, runs: str) -> Path:
    rows = comparisons(outcomes, options["k"])
    design_text = (out / "design.md").read_text() if (out / "design.md").is_file() else ""
    written = json.loads((out / "design.json").read_text())["design_written"] if (out / "design.json").is_file() else "?"
    parts = [
        "# Replication: does ExPO learn what GRPO cannot?", "",
        f"`benchmarks/replicate.py` on {time.strftime('%Y-%m-%d')}, {total_s / 60:.1f} min in all. Run directories "
        f"under `{runs}` (not committed; the curves they hold are kept in `outcomes.json`).", "",
        f"## Pre-registered design (written to `design.md` at {written}, before any arm trained)", "",
        "The rules are replicate.py's docstring; the pilot applied them. This section is `design.md` verbatim.", "",
        design_text,
    ]
    for setting, by_label in outcomes.items():
        if not by_label:
            continue
        spe = designs[setting]["steps_per_epoch"]
        curves = plot_training_curves(setting, by_label, out)
        bars = plot_outcomes(by_label, options["k"], out / f"outcomes_{setting}.png")
        mine = [r for r in rows if r["setting"] == setting]
        parts += [f"## Results: {setting}", "", f"![training curves]({curves.name})" if curves else "", "",
                  curve_table(by_label, spe), signal_table(by_label, designs[setting]["questions_per_step"]),
                  "After training (seed-averaged per question; 95% intervals: Wilson for one seed, bootstrap over "
                  "questions otherwise):", "", outcome_table(by_label, options["k"]), f"![outcomes]({bars.name})", "",
                  "Paired comparisons (difference = A - B in points over questions and seeds; the interval resamples "
                  "questions with all their seeds; p = exact sign test over questions on the seed-mean difference; "
                  f"Holm over all {len(rows)} tests of this report):", "", comparison_table(mine, options["k"]),
                  "Wall time per run:", "", "| run | train s | eval s |", "|---|---|---|",
                  *[f"| {label} | {o['train_s']} | {o['eval_s']} |" for label, o in by_label.items()], ""]
    parts += [*[f"**{label} did not train**: {why}\n" for label, why in failures.items()],
              "## Options", "", "```json", json.dumps(options, indent=1), "```", ""]
    path = out / "report.md"
    atomic_write_text(path, "\n".join(parts))
    atomic_write_text(out / "comparisons.json", json.dumps(
        [{**{k: v for k, v in r.items() if k != "result"}, **r["result"].__dict__} for r in rows], indent=1))
    return path
