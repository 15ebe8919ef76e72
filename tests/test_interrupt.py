"""A real training process interrupted by SIGINT (Ctrl-C) or killed by SIGKILL resumes with --resume and
ends with the configured number of steps and a loadable adapter."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from expo_lite.config import ExpoConfig
from expo_lite.model import load_adapter_weights, load_model
from expo_lite.rundir import last_complete_checkpoint

STEPS = 8


def train_cmd(model_dir: Path, out: Path, *extra: str) -> list[str]:
    sets = [f"model.name={model_dir}", "model.backend=hf", f"train.output_dir={out}", f"train.max_steps={STEPS}",
            "train.per_device_train_batch_size=4", "algo.num_generations=2", "train.max_completion_length=48",
            "algo.name=grpo_sft_gt", "train.save_steps=2"]
    return [sys.executable, "-m", "expo_lite.cli", "train", "--no-tui", *extra, *sum((["--set", s] for s in sets), [])]


def logged_steps(run: Path) -> list[int]:
    path = run / "metrics.jsonl"
    if not path.is_file():
        return []
    steps = []
    for line in path.read_text().splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line being written right now
        if "loss" in record:
            steps.append(record["step"])
    return steps


def run_until_step_then(sig: int, model_dir: Path, out: Path, step: int) -> subprocess.CompletedProcess:
    proc = subprocess.Popen(train_cmd(model_dir, out), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 300
    while time.time() < deadline and (not logged_steps(out / "demo") or max(logged_steps(out / "demo")) < step):
        if proc.poll() is not None:
            pytest.fail(f"training ended before it could be interrupted:\n{proc.stdout.read()[-3000:]}")
        time.sleep(0.1)
    os.kill(proc.pid, sig)
    output, _ = proc.communicate(timeout=300)
    return subprocess.CompletedProcess(proc.args, proc.returncode, output)


def resume_and_check(model_dir: Path, out: Path) -> None:
    done = subprocess.run(train_cmd(model_dir, out, "--resume"), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    run = out / "demo"
    state = json.loads((Path(last_complete_checkpoint(run / "checkpoints")) / "trainer_state.json").read_text())
    assert state["global_step"] == STEPS
    assert max(logged_steps(run)) == STEPS
    model, _ = load_model(ExpoConfig.model_validate({"model": {"name": str(model_dir), "backend": "hf"}}))
    load_adapter_weights(model, run / "adapter")  # raises if the adapter is missing or does not fit


@pytest.mark.slow
def test_sigint_saves_exits_130_and_resumes(tiny_llama, tmp_path):
    result = run_until_step_then(signal.SIGINT, tiny_llama, tmp_path, step=3)
    assert result.returncode == 130, result.stdout[-3000:]
    assert "interrupted at step" in result.stdout
    run = tmp_path / "demo"
    interrupted_at = json.loads((Path(last_complete_checkpoint(run / "checkpoints")) / "trainer_state.json").read_text())
    assert 3 <= interrupted_at["global_step"] < STEPS  # saved where it stopped, not at the last save_steps
    assert (run / "adapter" / "adapter_model.safetensors").is_file()
    resume_and_check(tiny_llama, tmp_path)


@pytest.mark.slow
def test_sigkill_mid_run_resumes_from_last_checkpoint(tiny_llama, tmp_path):
    result = run_until_step_then(signal.SIGKILL, tiny_llama, tmp_path, step=3)
    assert result.returncode == -signal.SIGKILL
    run = tmp_path / "demo"
    assert last_complete_checkpoint(run / "checkpoints") is not None
    assert (run / "config.yaml").is_file()  # the run directory survives intact
    resume_and_check(tiny_llama, tmp_path)


def test_half_written_checkpoint_is_skipped(tmp_path):
    for step, state in ((2, '{"global_step": 2}'), (4, '{"global_st')):  # 4 was cut short by kill -9
        (tmp_path / f"checkpoint-{step}").mkdir()
        (tmp_path / f"checkpoint-{step}" / "trainer_state.json").write_text(state)
    (tmp_path / "checkpoint-6").mkdir()  # no trainer_state.json at all
    assert last_complete_checkpoint(tmp_path) == str(tmp_path / "checkpoint-2")
    assert last_complete_checkpoint(tmp_path / "missing") is None


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tiny_llama, tmp_path):
    from typer.testing import CliRunner

    from expo_lite.cli import app

    sets = [f"model.name={tiny_llama}", "model.backend=hf", f"train.output_dir={tmp_path}", "train.max_steps=6",
            "train.per_device_train_batch_size=4", "algo.num_generations=2", "train.max_completion_length=4",
            "algo.name=grpo_sft_gt", "algo.beta=1.0", "train.save_steps=1", "train.learning_rate=1e36",
            "train.max_grad_norm=1e30"]
    result = CliRunner().invoke(app, ["train", "--no-tui", *sum((["--set", s] for s in sets), [])])
    assert result.exit_code == 3, result.output
    # either the logged loss goes NaN first or sampling from NaN weights fails first: both stop the run
    assert "loss became nan" in result.output and "Last good checkpoint" in result.output
    run = tmp_path / "demo"
    good = last_complete_checkpoint(run / "checkpoints")
    assert good is not None and good in result.output
    assert not (run / "adapter").exists()  # the poisoned weights were not saved as the run's adapter
    state = json.loads((Path(good) / "trainer_state.json").read_text())
    assert all(isinstance(h.get("loss", 0.0), float) and h.get("loss", 0.0) == h.get("loss", 0.0) for h in state["log_history"])


def test_nan_guard_unit():
    from types import SimpleNamespace

    from transformers import TrainerControl

    from expo_lite.callbacks import NonFiniteLossError, StopOnNonFiniteLoss

    guard, control = StopOnNonFiniteLoss(), TrainerControl(should_save=True)
    guard.on_log(None, SimpleNamespace(global_step=3), control, logs={"loss": 0.5})
    guard.check(None)
    guard.on_log(None, SimpleNamespace(global_step=4), control, logs={"loss": float("inf")})
    assert control.should_training_stop and not control.should_save
    with pytest.raises(NonFiniteLossError, match="loss became inf at step 4.*checkpoint-3"):
        guard.check("runs/x/checkpoints/checkpoint-3")


def test_cuda_oom_is_answered_with_the_planner_advice(tiny_llama, tmp_path, monkeypatch):
    """A CUDA OOM cannot happen on this CPU machine; the failure is injected where training would raise
    it, and everything after that (the message, the exit code, the run directory) is real."""
    import torch
    from typer.testing import CliRunner

    from expo_lite import train
    from expo_lite.cli import app

    def out_of_memory(*args, **kwargs):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(train, "_run_grpo", out_of_memory)
    result = CliRunner().invoke(app, ["train", "--no-tui", "--set", f"model.name={tiny_llama}", "--set",
                                      "model.backend=hf", "--set", f"train.output_dir={tmp_path}"])
    assert result.exit_code == 4, result.output
    text = " ".join(result.output.split())
    assert "CUDA out of memory while training" in text and "Lower first:" in text and "--resume" in text
    assert (tmp_path / "demo" / "config.yaml").is_file()  # the run directory is left as it was
