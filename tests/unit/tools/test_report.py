"""`expo-lite report` on synthetic run directories: the table shapes and the plots."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from expo_lite.cli import app
from expo_lite.config import load_config
from expo_lite.run.rundir import create_run_dir


def fake_run(tmp_path, name, algo, by_level, adapter=True, metrics=None, intervals=True, overrides=()):
    """An eval.json as `expo-lite eval` writes it (`intervals=False`: as written before intervals existed)."""
    cfg = load_config(None, [f"train.output_dir={tmp_path}", f"train.run_name={name}", f"algo.name={algo}", *overrides])
    run = create_run_dir(cfg)
    overall = sum(by_level.values()) / len(by_level)

    def group(v, questions):
        out = {"pass@4": v, "greedy_accuracy": v / 2, "questions": questions, "sample_accuracy": 0.0}
        if intervals:
            out |= {"pass@4_ci95": [max(0.0, v - 0.1), min(1.0, v + 0.1)], "greedy_accuracy_ci95": [0.0, v]}
        return out

    (run.path / "eval.json").write_text(json.dumps({
        "k": 4, "adapter": "x" if adapter else None, "overall": group(overall, 10),
        "by_level": {lv: group(v, 2) for lv, v in by_level.items()}, "by_type": {},
    }))
    for m in metrics or []:
        run.log_metrics(m)
    return run.path


def test_report_tables_and_plots(tmp_path):
    base = fake_run(tmp_path, "base", "grpo", {"1": 0.97, "5": 0.04}, adapter=False, intervals=False)
    grpo = fake_run(tmp_path, "grpo", "grpo", {"1": 0.91, "5": 0.02},
                    metrics=[{"step": 1, "reward": 0.1, "frac_reward_zero_std": 0.9}, {"step": 2, "reward": 0.2}])
    expo = fake_run(tmp_path, "expo", "exp_grpo", {"1": 0.96, "5": 0.23},
                    metrics=[{"step": s, "reward": 0.1 * s, "expo/all_wrong_frac": 1 - 0.2 * s} for s in (1, 2, 3)])
    out = tmp_path / "report"
    result = CliRunner().invoke(app, ["report", str(base), str(grpo), str(expo), "--out", str(out)])
    assert result.exit_code == 0, result.output
    text = (out / "report.md").read_text()
    assert "| method (run) | L1 | L5 | all |" in text
    assert "| base (base) | 97.0 | 4.0 | 50.5 |" in text
    assert "| GRPO (grpo) | 91.0 [81.0, 100.0] | 2.0 [0.0, 12.0] | 46.5 [36.5, 56.5] |" in text
    assert "| ExP-GRPO (expo) | 96.0 [86.0, 100.0] | 23.0 [13.0, 33.0] | 59.5 [49.5, 69.5] |" in text
    assert "greedy accuracy (%) per level, [95% interval]" in text
    assert "| ExP-GRPO (expo) | 48.0 [0.0, 96.0] | 11.5 [0.0, 23.0] | 29.8 [0.0, 59.5] |" in text
    assert "| method | arithmetic |" in text and "| ExP-GRPO | 59.5 [49.5, 69.5] |" in text
    for png in ("learning_curves.png", "accuracy_by_level.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and f"]({png})" in text


def test_report_without_eval_and_bad_dir(tmp_path):
    cfg = load_config(None, [f"train.output_dir={tmp_path}", "train.run_name=bare"])
    run = create_run_dir(cfg)
    result = CliRunner().invoke(app, ["report", str(run.path)])
    assert result.exit_code == 0 and "no run has an eval.json" in (run.path / "report.md").read_text()
    result = CliRunner().invoke(app, ["report", str(tmp_path / "nope")])
    assert result.exit_code == 2 and "not a run directory" in result.output


def test_runs_of_one_method_are_overlaid_as_mean_and_band(tmp_path):
    from expo_lite.tools.report import curve_bands, load_run

    def curve(name, algo, rewards, overrides=()):
        return fake_run(tmp_path, name, algo, {"1": 0.5}, overrides=overrides,
                        metrics=[{"step": s + 1, "reward": r, "expo/sft_loss": 1.0 - r} for s, r in enumerate(rewards)])

    seeds = [curve(f"expo-s{i}", "exp_grpo", rw) for i, rw in enumerate([[0.0, 0.2, 0.4], [0.1, 0.3, 0.5], [0.2, 0.1]])]
    unsolved = curve("expo-unsolved", "exp_grpo", [0.0, 0.0, 0.1], ["algo.explain_on=unsolved"])
    grpo = curve("grpo", "grpo", [0.0, 0.0, 0.0])
    runs = [load_run(p) for p in (*seeds, unsolved, grpo)]
    assert [r["method"] for r in runs[3:]] == ["ExP-GRPO (explain unsolved)", "GRPO"]
    bands = curve_bands(runs, "reward")
    expo = bands["ExP-GRPO"]
    assert expo["step"] == [1, 2, 3] and expo["n"] == [3, 3, 2]  # the third seed stopped after 2 steps
    assert expo["mean"] == pytest.approx([0.1, 0.2, 0.45])
    assert (expo["low"], expo["high"]) == ([0.0, 0.1, 0.4], [0.2, 0.3, 0.5])
    assert bands["GRPO"]["mean"] == [0.0, 0.0, 0.0] and bands["GRPO"]["n"] == [1, 1, 1]
    assert curve_bands(runs, "expo/sft_loss")["ExP-GRPO"]["mean"] == pytest.approx([0.9, 0.8, 0.55])
    out = tmp_path / "report"
    result = CliRunner().invoke(app, ["report", *map(str, (*seeds, unsolved, grpo)), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert (out / "learning_curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
