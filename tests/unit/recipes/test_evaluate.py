"""pass@k (against brute force), per-level aggregation, and `expo-lite eval` on a config and a run dir."""

from __future__ import annotations

import itertools
import json
import random
from math import comb

import pytest
from typer.testing import CliRunner

from expo_lite.cli import app
from expo_lite.recipes.evaluate import QuestionResult, aggregate, pass_at_k
from expo_lite.stats import wilson_interval


def brute_force(n: int, c: int, k: int) -> float:
    samples = [1] * c + [0] * (n - c)
    subsets = list(itertools.combinations(range(n), k))
    return sum(any(samples[i] for i in s) for s in subsets) / len(subsets)


def test_pass_at_k_matches_brute_force_on_random_cases():
    rng = random.Random(0)
    for _ in range(60):
        n = rng.randint(1, 10)
        k = rng.randint(1, n)
        c = rng.randint(0, n)
        assert pass_at_k(n, c, k) == pytest.approx(brute_force(n, c, k), abs=1e-12)
        assert pass_at_k(n, c, k) == pytest.approx(1 - comb(n - c, k) / comb(n, k), abs=1e-12)


def test_pass_at_k_edge_cases():
    assert pass_at_k(4, 0, 4) == 0.0  # no correct sample
    assert pass_at_k(4, 4, 1) == 1.0  # all correct
    assert pass_at_k(4, 1, 4) == 1.0  # n = k: any correct sample is always drawn
    assert pass_at_k(4, 1, 1) == pytest.approx(0.25)
    assert pass_at_k(200, 3, 4) == pytest.approx(1 - comb(197, 4) / comb(200, 4))  # large n, no overflow
    for bad in ((4, 5, 1), (4, 1, 5), (4, 1, 0), (3, -1, 1)):
        with pytest.raises(ValueError, match="pass@k needs"):
            pass_at_k(*bad)


def test_aggregate_by_level_and_type():
    rows = [
        QuestionResult("a", 1, "Algebra", 4, 4, True),
        QuestionResult("b", 1, "Algebra", 4, 0, False),
        QuestionResult("c", 5, "Geometry", 4, 1, False),
        QuestionResult("d", -1, None, 4, 2, True),  # no level (GSM8K-style rows)
    ]
    out = aggregate(rows, k=4)
    assert out["overall"]["questions"] == 4
    assert out["overall"]["pass@4"] == pytest.approx((1 + 0 + 1 + 1) / 4)
    assert out["overall"]["greedy_accuracy"] == 0.5 and out["overall"]["sample_accuracy"] == pytest.approx(7 / 16)
    level1 = out["by_level"]["1"]
    assert {key: level1[key] for key in ("questions", "pass@4", "greedy_accuracy", "sample_accuracy")} == {
        "questions": 2, "pass@4": 0.5, "greedy_accuracy": 0.5, "sample_accuracy": 0.5}
    # pass@4 with n = 4 and greedy accuracy are 0/1 per question: Wilson intervals (1 of 2: 9.5% to 90.5%)
    assert level1["pass@4_ci95"] == pytest.approx(list(wilson_interval(1, 2)))
    assert level1["pass@4_ci95"] == pytest.approx([0.0945, 0.9055], abs=1e-4)
    assert out["overall"]["greedy_accuracy_ci95"] == pytest.approx(list(wilson_interval(2, 4)))
    assert out["by_level"]["5"]["pass@4"] == 1.0 and set(out["by_level"]) == {"1", "5"}
    assert set(out["by_type"]) == {"Algebra", "Geometry"}
    k1 = aggregate(rows, k=1)
    assert k1["by_level"]["5"]["pass@1"] == pytest.approx(0.25)
    # pass@1 values 1, 0, 0.25, 0.5 are fractional: a bootstrap interval around their mean, inside [0, 1]
    low, high = k1["overall"]["pass@1_ci95"]
    assert 0.0 <= low < k1["overall"]["pass@1"] < high <= 1.0


def test_eval_command_on_a_config_and_on_a_run_dir(tiny_llama, tmp_path):
    runner = CliRunner()
    common = ["--set", f"model.name={tiny_llama}", "--set", "model.backend=hf", "--set", f"train.output_dir={tmp_path}",
              "--set", "eval.n=2", "--set", "eval.k=2", "--set", "eval.max_new_tokens=4", "--set", "task.num_problems=2"]
    config = tmp_path / "c.yaml"
    config.write_text("train:\n  run_name: base-eval\n")
    result = runner.invoke(app, ["eval", str(config), "--limit", "3", *common])
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "base-eval" / "eval.json").read_text())
    assert report["adapter"] is None and report["overall"]["questions"] == 3 and len(report["questions"]) == 3
    assert report["overall"]["pass@2"] == 0.0  # a random tiny model never answers
    assert set(report["by_level"]) == {"1", "2"}

    train = runner.invoke(app, ["train", "--no-tui", *common[:6], "--set", "train.max_steps=1",
                                "--set", "train.per_device_train_batch_size=4", "--set", "algo.num_generations=2",
                                "--set", "train.max_completion_length=4", "--set", "algo.name=grpo_sft_gt"])
    assert train.exit_code == 0, train.output
    result = runner.invoke(app, ["eval", str(tmp_path / "demo"), "--limit", "2", "--set", "eval.n=2",
                                 "--set", "eval.k=1", "--set", "eval.max_new_tokens=4"])
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "demo" / "eval.json").read_text())
    assert report["adapter"].endswith("adapter") and "pass@1" in report["overall"]


def test_eval_errors_are_clear(tmp_path):
    result = CliRunner().invoke(app, ["eval", str(tmp_path)])
    assert result.exit_code == 2 and "not a run directory" in result.output
