"""`expo-lite train` on the GPU user's stack, as a process: Ctrl-C saves and exits 130, `--resume` continues,
for ExP-GRPO on UnslothGRPOTrainer and ExP-DPO on UnslothDPOTrainer (backend unsloth, FastLanguageModel's
stand-in). The child builds the stack exactly as the lane's conftest does, then runs the real command line with
one phase instrumented (tests/integration/test_interrupt.py's driver)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from expo_lite.run.rundir import last_complete_checkpoint

from interrupting import DRIVER, SECONDS_TO_EXIT, ignore_sigint, interrupt_when_marked, logged_steps
from resolved_args import REPO

STEPS = 4
LANE = REPO / "tests" / "gpu_stack"
BOOTSTRAP = (f"import sys; sys.path.insert(0, {str(LANE)!r})\n"
             "from stack import build_gpu_user_stack; build_gpu_user_stack()\n"
             "from stand_ins import install_all; install_all()\n")
NEVER = 10**9  # a phase call number that is never reached: the run is not interrupted


def run_argv(model_dir: Path, out: Path, *sets: str) -> list[str]:
    base = [f"model.name={model_dir}", "model.backend=unsloth", "model.load_in_4bit=true", f"train.output_dir={out}",
            f"train.max_steps={STEPS}", "train.per_device_train_batch_size=4", "algo.num_generations=2",
            "train.max_completion_length=16", "explain.max_new_tokens=16", "explain.num_tries=1", "train.save_steps=1",
            *sets]
    return ["train", "--no-tui", *sum((["--set", x] for x in base), [])]


def launch(phase: str, nth: int, argv: list[str], out: Path) -> tuple[subprocess.Popen, Path]:
    marker = out / f".{phase}-marker"
    proc = subprocess.Popen([sys.executable, "-c", BOOTSTRAP + DRIVER, phase, str(marker), str(nth), *argv], cwd=out,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, preexec_fn=ignore_sigint,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    return proc, marker


def finish(argv: list[str], out: Path) -> str:
    proc, _ = launch("generation", NEVER, argv, out)
    output, _ = proc.communicate(timeout=900)
    assert proc.returncode == 0, output[-4000:]
    return " ".join(output.split())


def test_ctrl_c_then_resume_exp_grpo_on_unsloths_trainer(tiny_qwen2, tmp_path):
    argv = run_argv(tiny_qwen2, tmp_path, "algo.name=exp_grpo")
    proc, marker = launch("backward", 2, argv, tmp_path)  # inside step 2's backward
    status, output, seconds = interrupt_when_marked(proc, marker)
    assert status == 130 and seconds < SECONDS_TO_EXIT, output[-3000:]
    assert "on unsloth" in output and "interrupted at step 1:" in output and "continue with --resume" in output
    run = tmp_path / "demo"
    assert (run / "adapter" / "adapter_model.safetensors").is_file()
    assert json.loads((Path(last_complete_checkpoint(run / "checkpoints")) / "trainer_state.json").read_text())[
        "global_step"] == 1
    resumed = finish(argv[:2] + ["--resume"] + argv[2:], tmp_path)
    assert f"done: {STEPS} steps" in resumed
    assert sorted(set(logged_steps(run))) == list(range(1, STEPS + 1))  # step 1 once, then 2..4 after the resume
    state = json.loads((Path(last_complete_checkpoint(run / "checkpoints")) / "trainer_state.json").read_text())
    assert state["global_step"] == STEPS


def test_ctrl_c_then_resume_online_exp_dpo_on_unsloths_dpo_trainer(tiny_qwen2, tmp_path):
    argv = run_argv(tiny_qwen2, tmp_path, "algo.name=exp_dpo", "algo.positive_source=expert_cot", "algo.mode=online",
                    "algo.rounds=2", "task.levels=[1]", "task.num_problems=4", "train.per_device_train_batch_size=2")
    proc, marker = launch("backward", 2, argv, tmp_path)  # round 2's first DPO step (round 1: 2 pairs, 1 step)
    status, output, seconds = interrupt_when_marked(proc, marker)
    assert status == 130 and seconds < SECONDS_TO_EXIT, output[-3000:]
    run = tmp_path / "demo"
    assert json.loads((run / "round_state.json").read_text())["completed_rounds"] == 1
    resumed = finish(argv[:2] + ["--resume"] + argv[2:], tmp_path)
    assert "resuming at round 2/2" in resumed
    assert json.loads((run / "round_state.json").read_text())["completed_rounds"] == 2
    assert (run / "adapter" / "adapter_model.safetensors").is_file()
