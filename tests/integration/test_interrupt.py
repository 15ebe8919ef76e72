"""Ctrl-C and kill -9 on real processes: every command saves what it saves, exits 130 within seconds, and
`--resume` continues. Each process is started the way a background job of a script starts (SIGINT
inherited as *ignored*, which used to make Ctrl-C silently do nothing) with a CPU burner beside it, and
is interrupted inside a chosen phase: generation, reward checking, backward, a checkpoint write, DPO
pair building, explanation, evaluation."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from expo_lite.models.loader import load_adapter_weights
from expo_lite.run.rundir import last_complete_checkpoint

from helpers import REPO, load_tiny
from interrupting import DRIVER, SECONDS_TO_EXIT, ignore_sigint, interrupt_when_marked, logged_steps

STEPS = 8


@pytest.fixture
def cpu_burner():
    """One process spinning on a core beside the one under test: a busy laptop, a shared CI runner."""
    burner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    yield
    burner.kill()
    burner.wait()


def start(phase: str, nth: int, argv: list[str], out: Path) -> tuple[subprocess.Popen, Path]:
    marker = out / f".{phase}-marker"
    proc = subprocess.Popen([sys.executable, "-c", DRIVER, phase, str(marker), str(nth), *argv], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, preexec_fn=ignore_sigint,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    return proc, marker


def train_argv(model_dir: Path, out: Path, *extra: str) -> list[str]:
    sets = [f"model.name={model_dir}", "model.backend=hf", f"train.output_dir={out}", f"train.max_steps={STEPS}",
            "train.per_device_train_batch_size=4", "algo.num_generations=2", "train.max_completion_length=48",
            "algo.name=exp_grpo", "explain.max_new_tokens=24", "explain.num_tries=1", "train.save_steps=2"]
    return ["train", "--no-tui", *extra, *sum((["--set", x] for x in sets), [])]


def resume_and_check(model_dir: Path, out: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "expo_lite.cli", *train_argv(model_dir, out, "--resume")],
                          capture_output=True, text=True, timeout=900, cwd=REPO)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    run = out / "demo"
    state = json.loads((Path(last_complete_checkpoint(run / "checkpoints")) / "trainer_state.json").read_text())
    assert state["global_step"] == STEPS
    assert max(logged_steps(run)) == STEPS
    model, _ = load_tiny(model_dir)
    load_adapter_weights(model, run / "adapter")  # raises if the adapter is missing or does not fit


# (phase, which call of the phase's function is interrupted: one inside step 2 or later)
TRAIN_PHASES = [("generation", 4), ("reward", 2), ("backward", 3), ("checkpoint", 2)]


@pytest.mark.slow
@pytest.mark.parametrize(("phase", "nth"), TRAIN_PHASES)
def test_ctrl_c_in_every_phase_of_training_saves_and_exits_130(tiny_llama, tmp_path, cpu_burner, phase, nth):
    proc, marker = start(phase, nth, train_argv(tiny_llama, tmp_path), tmp_path)
    status, output, seconds = interrupt_when_marked(proc, marker)
    assert status == 130, output[-3000:]
    assert seconds < SECONDS_TO_EXIT, seconds
    assert "interrupted at step" in output and "continue with --resume" in output
    run = tmp_path / "demo"
    saved = Path(last_complete_checkpoint(run / "checkpoints"))
    step = json.loads((saved / "trainer_state.json").read_text())["global_step"]
    assert f"interrupted at step {step}:" in output  # the checkpoint holds the step it stopped at
    assert 1 <= step < STEPS and (run / "adapter" / "adapter_model.safetensors").is_file()
    if phase == "checkpoint":  # the hardest moment: half a checkpoint on disk; it is completed, then resumed
        assert step == 4 and (saved / "optimizer.pt").is_file()
        resume_and_check(tiny_llama, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize(("algo", "phase", "nth"), [("exp_grpo", "backward", 3), ("exp_dpo", "generation", 2)])
def test_a_ctrl_c_that_a_library_swallows_is_still_honoured_at_the_next_step_or_token(tiny_llama, tmp_path, cpu_burner,
                                                                                      algo, phase, nth):
    """The KeyboardInterrupt is raised inside the phase and dropped there (as a finalizer or a bare `except:` drops
    it), and the phase goes on: the press stays latched and the next trainer step (GRPO) or decoded token (DPO pair
    building) acts on it, with the same save and exit 130."""
    if algo == "exp_grpo":
        argv = train_argv(tiny_llama, tmp_path)
    else:
        argv = ["train", "--no-tui", *sum((["--set", x] for x in [
            f"model.name={tiny_llama}", "model.backend=hf", f"train.output_dir={tmp_path}", "algo.name=exp_dpo",
            "algo.mode=offline", "algo.positive_source=expert_cot", "task.num_problems=6", "task.levels=[1,2,3]",
            "algo.num_generations=2", "train.max_completion_length=16", "train.per_device_train_batch_size=2"]), [])]
    proc, marker = start(f"{phase}:swallow", nth, argv, tmp_path)
    status, output, seconds = interrupt_when_marked(proc, marker)
    assert status == 130 and seconds < SECONDS_TO_EXIT, output[-3000:]
    if algo == "exp_grpo":
        assert "interrupted at step" in output and "continue with --resume" in output
    else:
        assert "8/18 questions of round 1 are saved in pairs_round0.partial.jsonl" in output


@pytest.mark.slow
def test_sigkill_mid_run_resumes_from_last_checkpoint(tiny_llama, tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "expo_lite.cli", *train_argv(tiny_llama, tmp_path)], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 600
    while time.time() < deadline and max(logged_steps(tmp_path / "demo") or [0]) < 3:
        if proc.poll() is not None:
            pytest.fail(f"training ended before it could be killed:\n{proc.stdout.read()[-3000:]}")
        time.sleep(0.1)
    proc.kill()
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    run = tmp_path / "demo"
    assert last_complete_checkpoint(run / "checkpoints") is not None
    assert (run / "config.yaml").is_file()  # the run directory survives intact
    resume_and_check(tiny_llama, tmp_path)


@pytest.mark.slow
def test_ctrl_c_in_dpo_pair_building_keeps_the_finished_chunks_and_resume_continues(tiny_llama, tmp_path, cpu_burner):
    argv = ["train", "--no-tui", *sum((["--set", x] for x in [
        f"model.name={tiny_llama}", "model.backend=hf", f"train.output_dir={tmp_path}", "algo.name=exp_dpo",
        "algo.mode=offline", "algo.positive_source=expert_cot", "task.num_problems=6", "task.levels=[1,2,3]",
        "algo.num_generations=2", "train.max_completion_length=16", "train.per_device_train_batch_size=2"]), [])]
    proc, marker = start("generation", 2, argv, tmp_path)  # the second chunk of 8 questions
    status, output, seconds = interrupt_when_marked(proc, marker)
    assert status == 130 and seconds < SECONDS_TO_EXIT, output[-3000:]
    assert "8/18 questions of round 1 are saved in pairs_round0.partial.jsonl" in output
    run = tmp_path / "demo"
    partial = [json.loads(line) for line in (run / "pairs_round0.partial.jsonl").read_text().splitlines()]
    assert len(partial) == 1 and len(partial[0]["problem_ids"]) == 8
    done = subprocess.run([sys.executable, "-m", "expo_lite.cli", *argv[:2], "--resume", *argv[2:]],
                          capture_output=True, text=True, timeout=900, cwd=REPO)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    resumed = " ".join(done.stdout.split())
    assert "8 questions of this round were done before the interruption" in resumed
    assert "phase=pairs round 1 start total=10" in resumed  # only the rest is sampled
    pairs = [json.loads(line) for line in (run / "pairs_round0.jsonl").read_text().splitlines()]
    assert {p["problem_id"] for p in pairs} >= set(partial[0]["problem_ids"]) - {None}
    assert not (run / "pairs_round0.partial.jsonl").exists()


@pytest.mark.slow
@pytest.mark.parametrize(("command", "questions", "done"), [("explain", 12, 8), ("eval", 30, 21)])
def test_ctrl_c_in_explain_and_eval_keeps_what_is_done(tiny_llama, tmp_path, cpu_burner, command, questions, done):
    """explain samples 8 questions per call; eval 21 (their 2 samples + greedy answer: 63 rows of at most 64).
    The second call is interrupted: what the first produced is kept."""
    sets = [f"model.name={tiny_llama}", "model.backend=hf", f"train.output_dir={tmp_path}",
            f"task.num_problems={questions}", "task.levels=[1]", "explain.max_new_tokens=16", "explain.num_tries=1",
            "eval.max_new_tokens=16", "eval.n=2", "eval.k=2"]
    flat = sum((["--set", x] for x in sets), [])
    if command == "explain":
        argv = ["explain", *flat]
    else:
        (tmp_path / "c.yaml").write_text("")
        argv = ["eval", str(tmp_path / "c.yaml"), *flat]
    proc, marker = start("generation", 2, argv, tmp_path)
    status, output, seconds = interrupt_when_marked(proc, marker)
    assert status == 130 and seconds < SECONDS_TO_EXIT, output[-3000:]
    run = tmp_path / "demo"
    assert f"interrupted after {done}/{questions} questions" in output
    if command == "explain":
        assert len((tmp_path / "demo-explain" / "explanations.jsonl").read_text().splitlines()) == done
    else:
        partial = json.loads((run / "eval.partial.json").read_text())
        assert partial["partial"] is True and len(partial["questions"]) == done
        assert partial["questions_planned"] == questions and not (run / "eval.json").exists()


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
            "algo.name=grpo_sft_gt", "algo.sft_beta=1.0", "train.save_steps=1", "train.learning_rate=1e36",
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

    from expo_lite.run.callbacks import NonFiniteLossError, StopOnNonFiniteLoss

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

    from expo_lite.cli import app
    from expo_lite.recipes import train

    def out_of_memory(*args, **kwargs):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(train, "_run_grpo", out_of_memory)
    result = CliRunner().invoke(app, ["train", "--no-tui", "--set", f"model.name={tiny_llama}", "--set",
                                      "model.backend=hf", "--set", f"train.output_dir={tmp_path}"])
    assert result.exit_code == 4, result.output
    text = " ".join(result.output.split())
    assert "CUDA out of memory while training" in text and "Lower first:" in text and "--resume" in text
    assert (tmp_path / "demo" / "config.yaml").is_file()  # the run directory is left as it was
