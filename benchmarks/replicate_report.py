"""The replication's report: pilot, design, outcomes with 95% intervals, paired comparisons, wall times.

Every accuracy is shown with its Wilson interval; every comparison as a paired difference over the same
questions with a bootstrap interval and the exact McNemar p (expo_lite/stats.py). Pure functions of the
numbers replicate.py collected, so they are tested without a model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from expo_lite.io import atomic_write_text
from expo_lite.recipes.evaluate import pass_at_k
from expo_lite.stats import mean_interval, paired_difference

COMPARISONS = [("exp-grpo", "grpo"), ("exp-grpo", "grpo-sft-gt"), ("exp-dpo", "dpo-expert-cot"), ("exp-grpo", "sdft")]
NAMES = {"base": "base", "grpo": "GRPO", "grpo-sft-gt": "GRPO+SFT-GT-CoT", "exp-grpo": "ExP-GRPO",
         "dpo-expert-cot": "expert-CoT DPO", "exp-dpo": "ExP-DPO (offline)", "sdft": "SDFT (TRL)"}


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


def pilot_table(pilot: dict[str, dict[str, Any]], k: int) -> str:
    lines = [f"| level | questions | base pass@{k} [95% CI] | base greedy [95% CI] | valid self-explanation [95% CI] |",
             "|---|---|---|---|---|"]
    for lv, s in pilot.items():
        n = s["questions"]
        lines.append(f"| {lv} | {n} | {with_interval([1.0] * s['solved'] + [0.0] * (n - s['solved']))} | "
                     f"{with_interval([1.0] * s['greedy_solved'] + [0.0] * (n - s['greedy_solved']))} | "
                     f"{with_interval([1.0] * s['valid'] + [0.0] * (n - s['valid']))} |")
    return "\n".join(lines) + "\n"


def mdd_table(design: dict[str, Any]) -> str:
    """The minimum detectable paired difference (80% power, exact McNemar at 0.05) at the sizes used."""
    lines = ["| outcome | questions | MDD, no noise flips | MDD, 5% noise flips each way |", "|---|---|---|---|"]
    sizes = {"unsolved": design["unsolved"], "held_out": design["held_out"]}
    for name, by_noise in design["mdd"].items():
        cells = ["not detectable" if v is None else f"{pct(v)} points" for v in (by_noise["0.0"], by_noise["0.05"])]
        lines.append(f"| {name.replace('_', '-')} | {sizes[name]} | {cells[0]} | {cells[1]} |")
    return "\n".join(lines) + "\n"


def outcome_table(outcomes: dict[str, dict[str, Any]], k: int) -> str:
    lines = [f"| method | unsolved solved, greedy | unsolved solved, pass@{k} | held-out greedy | held-out pass@{k} |",
             "|---|---|---|---|---|"]
    for label, o in outcomes.items():
        cells = [with_interval(scores(o[s], m, k)) for s in ("unsolved", "held_out") for m in ("greedy", "pass")]
        lines.append(f"| {display(label, o)} | {' | '.join(cells)} |")
    return "\n".join(lines) + "\n"


def level_table(outcomes: dict[str, dict[str, Any]], k: int) -> str:
    levels = sorted({r["level"] for o in outcomes.values() for r in o["held_out"]})
    lines = [f"| method | {' | '.join(f'L{lv} pass@{k}' for lv in levels)} | {' | '.join(f'L{lv} greedy' for lv in levels)} |",
             "|---|" + "---|" * (2 * len(levels))]
    for label, o in outcomes.items():
        by = {lv: [r for r in o["held_out"] if r["level"] == lv] for lv in levels}
        cells = [with_interval(scores(by[lv], "pass", k)) for lv in levels]
        cells += [with_interval(scores(by[lv], "greedy", k)) for lv in levels]
        lines.append(f"| {display(label, o)} | {' | '.join(cells)} |")
    return "\n".join(lines) + "\n"


def comparisons(outcomes: dict[str, dict[str, Any]], k: int) -> list[dict[str, Any]]:
    """Each comparison of COMPARISONS, per training seed, on each outcome and metric."""
    out = []
    for a, b in COMPARISONS:
        for label_a, oa in outcomes.items():
            label_b = next((lb for lb, ob in outcomes.items() if ob["arm"] == b and ob["seed"] == oa["seed"]), None)
            if oa["arm"] != a or label_b is None:
                continue
            for outcome in ("unsolved", "held_out"):
                if not oa[outcome]:  # e.g. no unsolved training question: nothing to compare
                    continue
                for metric in ("greedy", "pass"):
                    res = paired_difference(scores(oa[outcome], metric, k), scores(outcomes[label_b][outcome], metric, k))
                    out.append({"a": label_a, "b": label_b, "outcome": outcome, "metric": metric, "result": res})
    return out


def comparison_table(rows: list[dict[str, Any]], k: int) -> str:
    lines = ["| comparison | outcome | metric | difference (points) [95% bootstrap CI] | only A / only B solved | exact McNemar p |",
             "|---|---|---|---|---|---|"]
    for row in rows:
        r = row["result"]
        metric = "greedy" if row["metric"] == "greedy" else f"pass@{k}"
        discordant = "–" if r.only_a is None else f"{r.only_a} / {r.only_b}"
        p = "–" if r.p_value is None else f"{r.p_value:.3f}"
        lines.append(f"| {row['a']} vs {row['b']} | {row['outcome'].replace('_', '-')} ({r.questions} q) | {metric} | "
                     f"{100 * r.difference:+.1f} [{100 * r.low:+.1f}, {100 * r.high:+.1f}] | {discordant} | {p} |")
    return "\n".join(lines) + "\n"


def display(label: str, outcome: dict[str, Any]) -> str:
    name = NAMES.get(outcome["arm"], outcome["arm"])
    return name if label == outcome["arm"] else f"{name} ({label})"


def plot(outcomes: dict[str, dict[str, Any]], k: int, path: Path) -> Path:
    """Two panels with 95% interval error bars: the unsolved set solved, and held-out pass@k."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    labels = list(outcomes)
    for ax, outcome, title in ((axes[0], "unsolved", "training questions the base model failed: solved"),
                               (axes[1], "held_out", "held-out test questions")):
        for j, metric in enumerate(("greedy", "pass")):
            values, low, high = [], [], []
            for label in labels:
                s = scores(outcomes[label][outcome], metric, k)
                m = sum(s) / len(s) if s else 0.0
                lo, hi = mean_interval(s) if s else (0.0, 0.0)
                values.append(100 * m)
                low.append(100 * (m - lo))
                high.append(100 * (hi - m))
            ax.bar([i + 0.4 * j for i in range(len(labels))], values, 0.4, yerr=[low, high], capsize=3,
                   label="greedy" if metric == "greedy" else f"pass@{k}")
        ax.set_xticks([i + 0.2 for i in range(len(labels))],
                      [display(lb, outcomes[lb]) for lb in labels], rotation=30, ha="right", fontsize=7)
        ax.set(title=title, ylabel="% (bars: 95% Wilson intervals)", ylim=(0, 100))
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_report(out: Path, *, pilot: dict, design: dict, outcomes: dict, timings: dict, failures: dict,
                 settings: dict, k: int, pilot_s: float, total_s: float, runs: str) -> Path:
    import json
    import time

    rows = comparisons(outcomes, k)
    figure = plot(outcomes, k, out / "outcomes.png") if outcomes else None
    seeds = design["seeds"]
    parts = [
        "# Replication: does ExPO learn what GRPO cannot?", "",
        f"`benchmarks/replicate.py` on {time.strftime('%Y-%m-%d')}, {total_s / 60:.1f} min in all (pilot "
        f"{pilot_s / 60:.1f} min). Run directories under `{runs}`.", "",
        "## Pilot (base model, before any training)", "", pilot_table(pilot, k),
        "## Design (fixed by the rule in replicate.py before the arms trained)", "",
        f"- trained on levels **{design['levels']}**: {design['train_questions']} training questions, of which "
        f"**{design['unsolved']}** the base model failed in the pilot (pass@{k} = 0: the unsolved set); "
        f"{design['grpo_steps']} GRPO/SDFT steps; held-out: {design['held_out']} test questions",
        f"- training seeds: {seeds}" + ("" if len(seeds) > 1 else " (one seed: the budget of a 2-core CPU run; "
                                         "`--seeds 0 1` runs two)"),
        f"- the pilot sampled with seed {design['pilot_seed']}, every outcome with seed {design['eval_seed']}; "
        "the base row below is the base model re-sampled, the baseline for regression to the mean", "",
        "Minimum detectable difference at these sizes (80% power, exact McNemar, alpha 0.05):", "", mdd_table(design),
        "## Outcomes (95% Wilson intervals)", "", outcome_table(outcomes, k),
        "Held-out accuracy per level:", "", level_table(outcomes, k) if outcomes else "",
        f"![outcomes]({figure.name})" if figure else "", "",
        "## Paired comparisons (same questions, same evaluation seed)", "",
        "Difference = A - B in percentage points; only A / only B = questions one method solved and the other "
        "did not (McNemar's discordant pairs).", "", comparison_table(rows, k),
        "## Wall time per arm", "", "| arm | train s | eval s |", "|---|---|---|",
        *[f"| {label} | {t['train_s']} | {t['eval_s']} |" for label, t in timings.items()], "",
        *[f"**{label} did not train**: {why}\n" for label, why in failures.items()],
        "## Settings", "", "```json", json.dumps(settings, indent=1), "```", "",
    ]
    path = out / "report.md"
    atomic_write_text(path, "\n".join(parts))
    (out / "comparisons.json").write_text(json.dumps(
        [{**{k_: v for k_, v in r.items() if k_ != "result"}, **r["result"].__dict__} for r in rows], indent=1))
    return path
