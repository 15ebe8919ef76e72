"""A run directory has one owner, a full disk or an unwritable output folder ends cleanly with the previous
checkpoint intact, long phases print progress when piped, and nothing but our own lines comes first."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from expo_lite.run.rundir import RunDirBusy, RunLock, last_complete_checkpoint

from helpers import REPO

ENV = {**os.environ, "PYTHONPATH": str(REPO)}


def train_sets(model_dir: Path, out: Path, steps: int = 6) -> list[str]:
    sets = [f"model.name={model_dir}", "model.backend=hf", f"train.output_dir={out}", f"train.max_steps={steps}",
            "train.per_device_train_batch_size=4", "algo.num_generations=2", "train.max_completion_length=16",
            "algo.name=grpo_sft_gt", "train.save_steps=2"]
    return sum((["--set", s] for s in sets), [])


def cli(*argv: str, timeout: int = 900) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "expo_lite.cli", *argv], capture_output=True, text=True,
                          timeout=timeout, cwd=REPO, env=ENV)


# ------------------------------------------------------------------ one owner per run directory


HOLD = r"""
import sys, time
import transformers.generation.utils as gen
original = gen.GenerationMixin.generate
def hold(*args, **kwargs):  # the owner is busy sampling for as long as the test needs
    open(sys.argv[1], "w").write("busy")
    time.sleep(600)
gen.GenerationMixin.generate = hold
from expo_lite.cli import app
app(sys.argv[2:], prog_name="expo-lite")
"""


@pytest.mark.slow
def test_a_second_resume_is_refused_naming_the_owner_and_a_dead_owners_lock_is_taken_over(tiny_llama, tmp_path):
    first = cli("train", "--no-tui", *train_sets(tiny_llama, tmp_path, steps=2))
    assert first.returncode == 0, first.stderr[-2000:]
    run = tmp_path / "demo"
    marker = tmp_path / "busy"
    owner = subprocess.Popen([sys.executable, "-c", HOLD, str(marker), "train", "--no-tui", "--resume",
                              *train_sets(tiny_llama, tmp_path, steps=4)], cwd=REPO, env=ENV,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.time() + 300
        while not marker.exists():
            assert owner.poll() is None and time.time() < deadline, owner.stdout.read()[-2000:]
            time.sleep(0.1)
        before = {p: p.stat().st_mtime_ns for p in run.rglob("*") if p.is_file()}
        second = cli("train", "--no-tui", "--resume", *train_sets(tiny_llama, tmp_path, steps=4))
        assert second.returncode == 2, second.stdout[-2000:] + second.stderr[-2000:]
        assert f"is in use by process {owner.pid}" in " ".join(second.stderr.split())
        assert {p: p.stat().st_mtime_ns for p in run.rglob("*") if p.is_file()} == before  # nothing written
    finally:
        owner.kill()  # kill -9: the lock is left "stale" in the sense that its owner is dead
        owner.communicate()
    third = cli("train", "--no-tui", "--resume", *train_sets(tiny_llama, tmp_path, steps=4))
    assert third.returncode == 0, third.stdout[-2000:] + third.stderr[-2000:]
    state = json.loads((Path(last_complete_checkpoint(run / "checkpoints")) / "trainer_state.json").read_text())
    assert state["global_step"] == 4


def test_lock_unit(tmp_path):
    with RunLock(tmp_path):
        holder = subprocess.run([sys.executable, "-c", "import sys; from expo_lite.run.rundir import RunLock\n"
                                 f"with RunLock({str(tmp_path)!r}): pass"], capture_output=True, text=True, env=ENV)
        assert holder.returncode != 0 and f"in use by process {os.getpid()}" in holder.stderr
        with pytest.raises(RunDirBusy):  # not re-entrant either: one owner
            RunLock(tmp_path).__enter__()
    with RunLock(tmp_path):  # released on exit
        pass
    assert list(tmp_path.iterdir()) == []  # the lock leaves no file behind


# ------------------------------------------------------------------ a full disk, an unwritable folder


ENOSPC_DRIVER = r"""
import errno, os, sys
where, nth = sys.argv[1], int(sys.argv[2])
calls = {"n": 0}
def full(owner, name, partial):
    original = getattr(owner, name)
    def wrapped(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == nth:
            path = args[1] if len(args) > 1 else kwargs.get("filename", "?")
            if partial:  # half a file, as a disk that fills up mid-write leaves it
                open(path, "wb").write(b"\0" * 1000)
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        return original(*args, **kwargs)
    setattr(owner, name, wrapped)
if where == "checkpoint":
    import peft.peft_model
    full(peft.peft_model, "safe_save_file", partial=True)
else:
    import expo_lite.run.rundir
    full(expo_lite.run.rundir, "append_jsonl", partial=False)
from expo_lite.cli import app
app(sys.argv[3:], prog_name="expo-lite")
"""


@pytest.mark.slow
@pytest.mark.parametrize(("where", "nth"), [("checkpoint", 2), ("metrics", 3)])
def test_disk_full_ends_with_exit_5_and_the_previous_checkpoint_resumes(tiny_llama, tmp_path, where, nth):
    argv = ["train", "--no-tui", *train_sets(tiny_llama, tmp_path)]
    out = subprocess.run([sys.executable, "-c", ENOSPC_DRIVER, where, str(nth), *argv], capture_output=True,
                         text=True, timeout=900, cwd=REPO, env=ENV)
    message = " ".join(out.stderr.split())
    assert out.returncode == 5, out.stdout[-2000:] + out.stderr[-2000:]
    run = tmp_path / "demo"
    good = last_complete_checkpoint(run / "checkpoints")
    assert "No space left on device" in message and "could not write the run directory" in message
    assert good is not None and f"The last complete checkpoint, {good}, is intact" in message and "--resume" in message
    assert Path(good).name == "checkpoint-2"  # the checkpoint being written at step 4 (or after step 3) is not it
    done = cli("train", "--no-tui", "--resume", *train_sets(tiny_llama, tmp_path))
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    final = json.loads((Path(last_complete_checkpoint(run / "checkpoints")) / "trainer_state.json").read_text())
    assert final["global_step"] == 6


def test_unwritable_output_folder_is_refused_before_any_work(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    out = cli("train", "--no-tui", "--set", f"train.output_dir={blocker}/runs", timeout=300)
    message = " ".join(out.stderr.split())
    assert out.returncode == 5 and "cannot be written" in message and "is a file, not a folder" in message
    assert "train.output_dir" in message and blocker.read_text() == "not a folder"


# ------------------------------------------------------------------ progress and noise in plain mode


@pytest.mark.slow
def test_pair_building_and_evaluation_print_progress_lines_when_piped(tiny_llama, tmp_path):
    sets = [f"model.name={tiny_llama}", "model.backend=hf", f"train.output_dir={tmp_path}", "task.num_problems=9",
            "task.levels=[1,2]", "algo.name=exp_dpo", "algo.positive_source=expert_cot", "algo.num_generations=2",
            "train.max_completion_length=12", "train.per_device_train_batch_size=2", "eval.max_new_tokens=12",
            "eval.n=2", "eval.k=2"]
    flat = sum((["--set", s] for s in sets), [])
    trained = cli("train", "--no-tui", *flat)
    assert trained.returncode == 0, trained.stderr[-2000:]
    lines = trained.stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("phase=pairs round 1 start"))
    assert 'total=18 work="round 1/1: 18 questions x (2 rollouts)' in lines[start]  # the amount of work, up front
    assert any(line.startswith("phase=pairs round 1 finished done=18/18") for line in lines[start:])
    evaluated = cli("eval", str(tmp_path / "demo"), "--limit", "5", *flat[-6:])
    assert evaluated.returncode == 0, evaluated.stderr[-2000:]
    out = evaluated.stdout.splitlines()
    assert any(line.startswith("phase=eval start total=5 work=\"5 questions x (2 samples") for line in out)
    assert any(line.startswith("phase=eval finished done=5/5 elapsed=") for line in out)


def test_progress_lines_are_periodic_with_count_and_eta():
    from rich.console import Console

    from expo_lite.progress import PhaseProgress

    console = Console(record=True, width=200, force_terminal=False)
    with PhaseProgress(console, "pairs", 4, "4 questions", every_s=0.0, live=False) as bar:
        for _ in range(4):
            bar.advance()
    text = console.export_text().splitlines()
    assert text[0] == 'phase=pairs start total=4 work="4 questions"'
    assert [line.split(" eta=")[0].split(" elapsed=")[0] for line in text[1:4]] == [
        "phase=pairs done=1/4", "phase=pairs done=2/4", "phase=pairs done=3/4"]
    assert all(" eta=" in line for line in text[1:4]) and text[4].startswith("phase=pairs finished done=4/4")


@pytest.mark.slow
def test_nothing_but_our_lines_before_the_first_one_and_verbose_shows_everything(tiny_llama, tmp_path):
    """The known-harmless warning of torch's pytree (torchao's enums, on every model load) and the loading
    bars are gone, and only those: --verbose brings them back."""
    argv = ["explain", "--limit", "1", "--set", f"model.name={tiny_llama}", "--set", "model.backend=hf",
            "--set", f"train.output_dir={tmp_path}", "--set", "explain.max_new_tokens=4", "--set", "explain.num_tries=1"]
    quiet = cli(*argv, timeout=300)
    assert quiet.returncode == 0, quiet.stderr[-2000:]
    assert quiet.stdout.startswith("arithmetic: ") and quiet.stderr == "", quiet.stderr[:2000]
    loud = cli("--verbose", *argv, timeout=300)
    assert loud.returncode == 0
    assert "is an Enum subclass and is now natively supported" in loud.stderr
