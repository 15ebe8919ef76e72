"""Interrupting a real process inside a chosen phase (Ctrl-C) and watching what it leaves: the driver the
interrupt tests of both lanes start their children with."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest

SECONDS_TO_EXIT = 60  # generous for a loaded 2-core machine; the interrupt is seen within a second or two


# Runs the real command line in the child, with one phase instrumented: the N-th time the phase's function
# is entered, it writes a marker file and waits there for the test's SIGINT, so the KeyboardInterrupt is raised
# inside that phase. The wait stands for the phase's own work, so it does what that work does between small
# steps: it checks for a Ctrl-C that was pressed and not acted on (expo_lite/interrupts.py). `PHASE:swallow`
# instead drops the KeyboardInterrupt where it is raised, as a finalizer or a library's bare `except:` does,
# and lets the phase go on: the product must still act on the press at its next token or step.
DRIVER = r"""
import os, sys, time
phase, marker, nth = sys.argv[1], sys.argv[2], int(sys.argv[3])
phase, _, how = phase.partition(":")
calls = {"n": 0}
def instrument(owner, name):
    original = getattr(owner, name)
    def wrapped(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == nth:
            import signal
            from expo_lite import interrupts
            # written whole, then renamed: the test sends SIGINT once the marker exists, and a file object still
            # being closed by the garbage collector drops a KeyboardInterrupt raised in its flush (CPython clears
            # errors of close() in a finalizer): `open(marker, "w").write(...)` lost ~10% of presses that way
            with open(marker + ".tmp", "w") as handle:
                handle.write(f"{phase}; Python's SIGINT handler: {signal.getsignal(signal.SIGINT)!r}")
            os.replace(marker + ".tmp", marker)
            deadline = time.time() + 120
            try:
                while time.time() < deadline:
                    time.sleep(0.05)
                    interrupts.honour()
            except KeyboardInterrupt:
                if how != "swallow":
                    raise
        return original(*args, **kwargs)
    setattr(owner, name, wrapped)
if phase == "generation":
    import transformers.generation.utils as gen
    instrument(gen.GenerationMixin, "generate")
elif phase == "reward":  # the GRPO reward the train recipe builds for its task's answer format
    import types
    import expo_lite.verify.formats.reward as reward
    build = reward.correctness_reward_for
    def instrumented_reward(spec):
        holder = types.SimpleNamespace(fn=build(spec))
        instrument(holder, "fn")
        holder.fn.__name__ = "correctness"
        return holder.fn
    reward.correctness_reward_for = instrumented_reward
elif phase == "backward":
    import accelerate
    instrument(accelerate.Accelerator, "backward")
elif phase == "checkpoint":  # between the weights and the trainer state of a checkpoint
    import transformers
    instrument(transformers.Trainer, "_save_optimizer_and_scheduler")
from expo_lite.cli import app
app(sys.argv[4:], prog_name="expo-lite")
"""


def ignore_sigint():
    """The child starts deaf to Ctrl-C both ways a process can inherit that: SIGINT ignored (what `cmd &` in a
    non-interactive shell does to its child) and blocked (the signal mask of a parent thread that had it blocked).
    The command must take SIGINT back either way (expo_lite/interrupts.py)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})


def interrupt_when_marked(proc: subprocess.Popen, marker: Path) -> tuple[int, str, float]:
    """SIGINT as soon as the phase is entered; (exit status, output, seconds from SIGINT to exit)."""
    deadline = time.time() + 600
    while not marker.exists():
        if proc.poll() is not None or time.time() > deadline:
            pytest.fail(f"the process never reached the phase:\n{proc.stdout.read()[-3000:]}")
        time.sleep(0.05)
    state = signal_state(proc.pid)
    sent = time.time()
    proc.send_signal(signal.SIGINT)
    try:
        output, _ = proc.communicate(timeout=SECONDS_TO_EXIT * 5)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail(f"SIGINT was not obeyed within {SECONDS_TO_EXIT * 5} s:\n{proc.communicate()[0][-3000:]}")
    output = f"{output}\n[when SIGINT was sent] {marker.read_text()}; {state}"  # says why, if a SIGINT is ever lost
    return proc.returncode, " ".join(output.split()), time.time() - sent  # whitespace-normalised


def signal_state(pid: int) -> str:
    """The kernel's view of a process's SIGINT (bit 2 of each mask): ignored, caught, pending, and blocked
    in which threads. Read before the signal is sent, so a lost Ctrl-C is explained by the failure message."""
    bit = 1 << (signal.SIGINT - 1)

    def status(path: Path) -> dict[str, str]:
        return dict(line.split(":\t", 1) for line in path.read_text().splitlines() if ":\t" in line)

    try:
        fields = status(Path(f"/proc/{pid}/status"))
        blocked = []
        for task in Path(f"/proc/{pid}/task").iterdir():
            info = status(task / "status")
            if int(info["SigBlk"], 16) & bit:
                blocked.append(f"{task.name}:{info['Name'].strip()}")
    except (OSError, KeyError, ValueError) as exc:
        return f"unreadable ({exc})"
    flags = {name: bool(int(fields[key], 16) & bit) for name, key in
             (("ignored", "SigIgn"), ("caught", "SigCgt"), ("pending", "ShdPnd"))}
    return f"SIGINT {flags}, blocked in {len(blocked)} of {fields['Threads'].strip()} threads {blocked[:8]}"


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
