"""The command line: config, doctor and the train entry point on the embedded default."""

from __future__ import annotations

import json

import pytest
import yaml
from typer.testing import CliRunner

from expo_lite.cli import app
from expo_lite.config import load_config
from expo_lite.run.rundir import create_run_dir

runner = CliRunner()


def test_config_command_prints_resolved_config():
    result = runner.invoke(app, ["config", "--set", "train.max_steps=9"])
    assert result.exit_code == 0, result.output
    data = yaml.safe_load(result.stdout)
    assert data["train"]["max_steps"] == 9 and data["algo"]["positive_source"] == "self_explanation"


def test_config_command_rejects_typo_with_exit_2():
    result = runner.invoke(app, ["config", "--set", "lora.rank=8"])
    assert result.exit_code == 2
    assert "lora.rank" in result.output and "Valid keys here: r, alpha" in result.output


def test_doctor_reports_versions_and_backend():
    result = runner.invoke(app, ["doctor"])
    assert result.exit_code == 0, result.output
    for needle in ("transformers", "trl", "peft", "bitsandbytes", "backend: auto", "embedded model"):
        assert needle in result.output


def test_run_dir_never_overwrites(tmp_path):
    cfg = load_config(None, [f"train.output_dir={tmp_path}", "train.run_name=exp"])
    first = create_run_dir(cfg)
    (first.path / "metrics.jsonl").write_text('{"step": 1}\n')
    cfg2 = load_config(None, [f"train.output_dir={tmp_path}", "train.run_name=exp"])
    second = create_run_dir(cfg2)
    assert second.path.name == "exp-2" and cfg2.train.run_name == "exp"  # the caller's config is not changed
    assert (first.path / "metrics.jsonl").read_text() == '{"step": 1}\n'
    assert load_config(second.config_path).train.run_name == "exp-2"


@pytest.mark.slow
def test_train_runs_three_exp_grpo_steps_on_the_embedded_model(embedded_model, tmp_path):
    result = runner.invoke(app, [
        "train", "--no-tui", "--set", f"train.output_dir={tmp_path}", "--set", "train.max_steps=3",
        "--set", "train.max_completion_length=24", "--set", "train.per_device_train_batch_size=4",
        "--set", "algo.num_generations=2", "--set", "explain.max_new_tokens=48", "--set", "explain.num_tries=1",
        "--set", "train.save_steps=2",
    ])
    assert result.exit_code == 0, result.output
    run = tmp_path / "demo"
    assert load_config(run / "config.yaml").train.max_steps == 3
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    steps = [m for m in metrics if "expo/sft_beta" in m]
    assert [m["step"] for m in steps] == [1, 2, 3]
    assert all(m["expo/explained"] == 2 and 0 <= m["expo/all_wrong_frac"] <= 1 for m in steps)
    explanations = [json.loads(line) for line in (run / "explanations.jsonl").read_text().splitlines()]
    assert len(explanations) == 6 and {e["step"] for e in explanations} == {0, 1, 2}
    assert (run / "adapter" / "adapter_config.json").is_file()
    assert (run / "checkpoints" / "checkpoint-2").is_dir()
    assert "step=3/3" in result.output and "adapter" in result.output
    started = ("step 1/3 started: sampling 2 completions for each of 2 prompts (up to 24 tokens), then 1 "
               "self-explanation try for each question, then the update")
    assert started in result.output and result.output.index(started) < result.output.index("step=1/3")


@pytest.mark.parametrize(("algo", "key", "positive"), [("grpo", "expo/positives", False), ("grpo_sft_gt", "expo/positives", True)])
def test_baselines_run_through_the_same_recipe(tiny_llama, tmp_path, algo, key, positive):
    result = runner.invoke(app, [
        "train", "--no-tui", "--set", f"model.name={tiny_llama}", "--set", "model.backend=hf",
        "--set", f"algo.name={algo}", "--set", f"train.output_dir={tmp_path}", "--set", "train.max_steps=1",
        "--set", "train.max_completion_length=4", "--set", "train.per_device_train_batch_size=4",
        "--set", "algo.num_generations=2",
    ])
    assert result.exit_code == 0, result.output
    metrics = [json.loads(line) for line in (tmp_path / "demo" / "metrics.jsonl").read_text().splitlines()]
    step = next(m for m in metrics if "loss" in m)
    assert (key in step and step[key] == 2) if positive else (key not in step)


def test_train_resume_without_run_is_clear_error(tmp_path):
    result = runner.invoke(app, ["train", "--resume", "--set", f"train.output_dir={tmp_path}"])
    assert result.exit_code == 2
    assert "nothing to resume" in result.output
