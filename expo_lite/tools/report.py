"""`expo-lite report RUN_DIR...`: compare runs side by side in the shape of the paper's tables.

Table-2 shape: accuracy (pass@k) per difficulty level, one row per method. Table-1 shape: pass@k per
dataset, one row per method. Plus PNG plots: learning curves of reward and of the fraction of
all-wrong groups (from metrics.jsonl), and per-level accuracy bars (from eval.json).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..io import atomic_write_text, read_jsonl

METHOD_NAMES = {"exp_grpo": "ExP-GRPO", "grpo": "GRPO", "grpo_sft_gt": "GRPO+SFT-GT-CoT", "exp_dpo": "ExP-DPO"}


def load_run(path: Path) -> dict[str, Any]:
    """A run's label, config facts, eval.json and metrics (each optional, except the config)."""
    from ..config import load_config

    if not (path / "config.yaml").is_file():
        raise FileNotFoundError(f"{path} is not a run directory (no config.yaml)")
    cfg = load_config(path / "config.yaml")
    method = METHOD_NAMES.get(cfg.algo.name, cfg.algo.name)
    if cfg.algo.name == "exp_dpo":
        method = f"{'ExP' if cfg.algo.positive_source == 'self_explanation' else 'expert-CoT'}-DPO ({cfg.algo.mode})"
    evaluation = json.loads((path / "eval.json").read_text()) if (path / "eval.json").is_file() else None
    if evaluation is not None and evaluation.get("adapter") is None:
        method = "base"
    metrics = list(read_jsonl(path / "metrics.jsonl")) if (path / "metrics.jsonl").is_file() else []
    return {"path": path, "name": path.name, "method": method, "dataset": cfg.task.name, "eval": evaluation,
            "metrics": metrics}


def _levels(evaluated: list[dict[str, Any]]) -> list[str]:
    """Every level any run was evaluated on, in numeric order (non-numeric labels last)."""
    return sorted({lv for r in evaluated for lv in r["eval"]["by_level"]}, key=lambda s: int(s) if s.isdigit() else 99)


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f}"


def _cell(summary: dict[str, Any] | None, metric: str) -> str:
    """`41.7 [19.3, 68.0]`: the value and its 95% interval (eval.json files older than the intervals show
    the value alone)."""
    if not summary or summary.get(metric) is None:
        return "–"
    ci = summary.get(f"{metric}_ci95")
    return _pct(summary[metric]) + (f" [{_pct(ci[0])}, {_pct(ci[1])}]" if ci else "")


def level_table(runs: list[dict[str, Any]], metric: str | None = None) -> str:
    """One row per run, one column per level; `metric` is pass@k (default) or greedy_accuracy."""
    evaluated = [r for r in runs if r["eval"]]
    if not evaluated:
        return "_no run has an eval.json yet: run `expo-lite eval RUN_DIR`_\n"
    metric = metric or f"pass@{evaluated[0]['eval']['k']}"
    title = "greedy accuracy" if metric == "greedy_accuracy" else metric
    levels = _levels(evaluated)
    head = f"| method (run) | {' | '.join(f'L{lv}' for lv in levels)} | all |"
    lines = [f"{title} (%) per level, [95% interval]", "", head, "|" + "---|" * (len(levels) + 2)]
    for r in evaluated:
        by = r["eval"]["by_level"]
        cells = [_cell(by.get(lv), metric) for lv in levels]
        lines.append(f"| {r['method']} ({r['name']}) | {' | '.join(cells)} | {_cell(r['eval']['overall'], metric)} |")
    return "\n".join(lines) + "\n"


def dataset_table(runs: list[dict[str, Any]]) -> str:
    evaluated = [r for r in runs if r["eval"]]
    if not evaluated:
        return ""
    k = evaluated[0]["eval"]["k"]
    datasets = sorted({r["dataset"] for r in evaluated})
    methods: dict[str, dict[str, dict[str, Any]]] = {}
    for r in evaluated:
        methods.setdefault(r["method"], {})[r["dataset"]] = r["eval"]["overall"]
    lines = [f"pass@{k} (%) per dataset, [95% interval]", "", f"| method | {' | '.join(datasets)} |",
             "|" + "---|" * (len(datasets) + 1)]
    for method, by in methods.items():
        lines.append(f"| {method} | {' | '.join(_cell(by.get(d), f'pass@{k}') for d in datasets)} |")
    return "\n".join(lines) + "\n"


def plot_curves(runs: list[dict[str, Any]], out: Path) -> Path | None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with_metrics = [r for r in runs if any("reward" in m for m in r["metrics"])]
    if not with_metrics:
        return None
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.5))
    for r in with_metrics:
        steps = [m for m in r["metrics"] if "reward" in m]
        ax1.plot([m["step"] for m in steps], [m["reward"] for m in steps], marker=".", label=f"{r['method']} ({r['name']})")
        wrong = [m for m in r["metrics"] if "expo/all_wrong_frac" in m]
        if wrong:
            ax2.plot([m["step"] for m in wrong], [m["expo/all_wrong_frac"] for m in wrong], marker=".", label=r["method"])
        else:  # plain GRPO logs TRL's zero-std fraction, an upper bound of the all-wrong fraction
            ax2.plot([m["step"] for m in steps], [m.get("frac_reward_zero_std", float("nan")) for m in steps],
                     linestyle="--", label=f"{r['method']} (zero-std groups)")
    ax1.set(title="reward", xlabel="step")
    ax2.set(title="groups with no correct rollout", xlabel="step", ylim=(-0.05, 1.05))
    ax1.legend(fontsize=7)
    ax2.legend(fontsize=7)
    fig.tight_layout()
    path = out / "learning_curves.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_levels(runs: list[dict[str, Any]], out: Path) -> Path | None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    evaluated = [r for r in runs if r["eval"] and r["eval"]["by_level"]]
    if not evaluated:
        return None
    k = evaluated[0]["eval"]["k"]
    levels = _levels(evaluated)
    width = 0.8 / len(evaluated)
    fig, ax = plt.subplots(figsize=(8, 3.5))
    for i, r in enumerate(evaluated):
        groups = [r["eval"]["by_level"].get(lv, {}) for lv in levels]
        values = [100 * g.get(f"pass@{k}", 0.0) for g in groups]
        cis = [g.get(f"pass@{k}_ci95") or [g.get(f"pass@{k}", 0.0)] * 2 for g in groups]  # older eval.json: no bar
        yerr = [[v - 100 * lo for v, (lo, _) in zip(values, cis, strict=True)],
                [100 * hi - v for v, (_, hi) in zip(values, cis, strict=True)]]
        ax.bar([j + i * width for j in range(len(levels))], values, width, yerr=yerr, capsize=2,
               label=f"{r['method']} ({r['name']})")
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(levels))], [f"level {lv}" for lv in levels])
    ax.set(ylabel=f"pass@{k} (%)", ylim=(0, 100), title=f"pass@{k} by level (bars: 95% intervals)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    path = out / "accuracy_by_level.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_report(run_dirs: list[Path], out: Path) -> Path:
    runs = [load_run(Path(p)) for p in run_dirs]
    out.mkdir(parents=True, exist_ok=True)
    curves, levels = plot_curves(runs, out), plot_levels(runs, out)
    parts = ["# expo-lite report", "", "Runs: " + ", ".join(f"`{r['name']}` ({r['method']}, {r['dataset']})" for r in runs), ""]
    parts += ["## Accuracy by level (the paper's Table 2 shape)", "", level_table(runs)]
    if any(r["eval"] for r in runs):
        parts += [level_table(runs, "greedy_accuracy")]
    table1 = dataset_table(runs)
    if table1:
        parts += ["## Accuracy by dataset (the paper's Table 1 shape)", "", table1]
    if levels:
        parts += [f"![accuracy by level]({levels.name})", ""]
    if curves:
        parts += ["## Learning curves", "", f"![learning curves]({curves.name})", ""]
    path = out / "report.md"
    atomic_write_text(path, "\n".join(parts))
    return path
