"""`expo-lite report RUN_DIR...`: compare runs side by side in the shape of the paper's tables.

Table-2 shape: accuracy (pass@k) per difficulty level, one row per method. Table-1 shape: pass@k per
dataset, one row per method. Plus PNG plots: learning curves (from metrics.jsonl: rollout reward, the fraction of groups with no
correct rollout, the SFT term's NLL), runs of one method overlaid as mean and band (several seeds), and
per-level accuracy bars (from eval.json).
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
    if cfg.algo.name == "exp_grpo" and cfg.algo.explain_on == "unsolved":
        method = "ExP-GRPO (explain unsolved)"
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


CURVES = [  # (metrics.jsonl key, panel title): what ExPO changes, step by step
    ("reward", "mean rollout reward"),
    ("expo/all_wrong_frac", "groups with no correct rollout"),
    ("expo/sft_loss", "SFT NLL per token (positives)"),
]


def curve_bands(runs: list[dict[str, Any]], key: str) -> dict[str, dict[str, list[float]]]:
    """Per method, the curve of `key` over steps: the mean over the method's runs (seeds) and the band from
    the lowest to the highest run at each step. A step counts the runs that logged it (`n`), so a run cut
    short narrows the band there instead of dragging the mean."""
    by_method: dict[str, dict[int, list[float]]] = {}
    for r in runs:
        for m in r["metrics"]:
            if key in m and "step" in m:
                by_method.setdefault(r["method"], {}).setdefault(int(m["step"]), []).append(float(m[key]))
    out = {}
    for method, by_step in by_method.items():
        steps = sorted(by_step)
        values = [by_step[s] for s in steps]
        out[method] = {"step": steps, "mean": [sum(v) / len(v) for v in values], "low": [min(v) for v in values],
                       "high": [max(v) for v in values], "n": [len(v) for v in values]}
    return out


def plot_curves(runs: list[dict[str, Any]], out: Path, name: str = "learning_curves.png", title: str = "") -> Path | None:
    """One panel per curve of CURVES, one colour per method: runs of the same method (several seeds) are drawn
    as their mean with a band from the lowest to the highest run; a method with one run is its line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [(key, label, curve_bands(runs, key)) for key, label in CURVES]
    panels = [p for p in panels if p[2]]
    if not panels:
        return None
    counts = {m: sum(r["method"] == m for r in runs) for m in dict.fromkeys(r["method"] for r in runs)}
    colours = {m: f"C{i}" for i, m in enumerate(counts)}
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.6), squeeze=False)
    for ax, (key, label, bands) in zip(axes[0], panels, strict=True):
        for method, b in bands.items():
            runs_label = f" ({counts[method]} runs, band: min-max)" if counts[method] > 1 else ""
            ax.plot(b["step"], b["mean"], marker=".", color=colours[method], label=f"{method}{runs_label}")
            if counts[method] > 1:
                ax.fill_between(b["step"], b["low"], b["high"], color=colours[method], alpha=0.2, linewidth=0)
        ax.set(title=label, xlabel="optimizer step")
        if key != "expo/sft_loss":
            ax.set_ylim(-0.05, 1.05)
        ax.legend(fontsize=6)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path = out / name
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
