"""The command line: config, doctor and the train entry point on the embedded default."""

from __future__ import annotations

import json

import yaml
from typer.testing import CliRunner

from expo_lite.cli import app
from expo_lite.config import load_config
from expo_lite.rundir import create_run_dir

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
    assert second.path.name == "exp-2" and cfg2.train.run_name == "exp-2"
    assert (first.path / "metrics.jsonl").read_text() == '{"step": 1}\n'
    assert load_config(second.config_path).train.run_name == "exp-2"


def test_train_on_embedded_default_writes_run_dir(embedded_model, tmp_path):
    result = runner.invoke(app, [
        "train", "--no-tui", "--set", f"train.output_dir={tmp_path}", "--set", "train.max_completion_length=24",
        "--set", "train.per_device_train_batch_size=4", "--set", "algo.num_generations=2",
        "--set", "explain.max_new_tokens=32", "--set", "explain.num_tries=1",
    ])
    assert result.exit_code == 0, result.output
    run = tmp_path / "demo"
    assert load_config(run / "config.yaml").train.max_completion_length == 24
    rollouts = [json.loads(line) for line in (run / "rollouts.jsonl").read_text().splitlines()]
    assert len(rollouts) == 2 and all(len(r["rewards"]) == 2 and set(r["rewards"]) <= {0.0, 1.0} for r in rollouts)
    assert (run / "explanations.jsonl").read_text().count("\n") == 2
    preview = json.loads((run / "preview.json").read_text())
    assert preview["groups"] == 2
    assert preview["all_wrong_groups"] == sum(sum(r["rewards"]) == 0 for r in rollouts)
    assert "no GRPO signal" in result.output


def test_train_resume_without_run_is_clear_error(tmp_path):
    result = runner.invoke(app, ["train", "--resume", "--set", f"train.output_dir={tmp_path}"])
    assert result.exit_code == 2
    assert "nothing to resume" in result.output
