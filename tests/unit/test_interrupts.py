"""The Ctrl-C latch (expo_lite/interrupts.py): a press is raised where it lands, raised again by `honour()` until one
of our handlers acknowledges it, never off the main thread; `install()` takes SIGINT back when the process was
started with it ignored and blocked; a KeyboardInterrupt dropped by a finalizer is honoured at the next check."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest

from expo_lite import interrupts

from helpers import REPO
from interrupting import ignore_sigint


@pytest.fixture
def clean_latch():
    interrupts.acknowledge()
    yield
    interrupts.acknowledge()


def test_a_press_is_raised_again_until_acknowledged_and_only_on_the_main_thread(clean_latch):
    with pytest.raises(KeyboardInterrupt):
        interrupts._on_sigint(2, None)  # what the handler does when SIGINT arrives
    assert interrupts.pressed()
    seen = []

    def elsewhere():
        try:
            interrupts.honour()
            seen.append("no raise")
        except KeyboardInterrupt:
            seen.append("raised")

    worker = threading.Thread(target=elsewhere)
    worker.start()
    worker.join()
    assert seen == ["no raise"]  # a reward thread or a data loader worker never gets the KeyboardInterrupt
    for _ in range(2):  # until a handler of ours acts on it, every check raises it again
        with pytest.raises(KeyboardInterrupt):
            interrupts.honour()
    interrupts.acknowledge()
    interrupts.honour()  # acted on: the save that follows is not interrupted by the same press
    assert not interrupts.pressed()


# A child that starts deaf to SIGINT (ignored and blocked, as a background job of a masked parent), installs the
# handler, then gets SIGINT from itself inside a finalizer: Python drops that KeyboardInterrupt ("Exception ignored
# in"), the program goes on, and the next honour() raises it.
CHILD = r"""
import gc, os, signal, sys, time
from expo_lite import interrupts
assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN and signal.SIGINT in signal.pthread_sigmask(signal.SIG_BLOCK, [])
interrupts.install()
assert signal.SIGINT not in signal.pthread_sigmask(signal.SIG_BLOCK, [])

class Finalized:
    def __del__(self):
        os.kill(os.getpid(), signal.SIGINT)
        for _ in range(200):  # the KeyboardInterrupt is raised in here, and dropped with the finalizer
            time.sleep(0.01)

a = Finalized(); b = Finalized(); a.other, b.other = b, a  # a cycle: the garbage collector runs the finalizers
del a, b
gc.collect()
print("the program went on; latched:", interrupts.pressed(), flush=True)
try:
    interrupts.honour()
except KeyboardInterrupt:
    print("honoured", flush=True)
    sys.exit(130)
"""


def test_a_keyboard_interrupt_dropped_by_a_finalizer_is_honoured_at_the_next_check():
    done = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=120, cwd=REPO,
                          preexec_fn=ignore_sigint)
    assert "Exception ignored in" in done.stderr and "KeyboardInterrupt" in done.stderr, done.stderr[-2000:]
    assert "the program went on; latched: True" in done.stdout
    assert "honoured" in done.stdout and done.returncode == 130, (done.stdout, done.stderr[-2000:])


def test_a_ctrl_c_reaches_a_command_started_deaf_to_it():
    """`expo-lite` started with SIGINT ignored and blocked: a SIGINT while it waits still ends it with 130."""
    code = ("import sys, time\nfrom expo_lite.cli import app\napp(['recipes'], standalone_mode=False)  # the callback runs\n"
            "print('ready', flush=True)\n"
            "try:\n    time.sleep(60)\nexcept KeyboardInterrupt:\n    print('interrupted', flush=True)\n    sys.exit(130)")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=REPO, preexec_fn=ignore_sigint)
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.strip() == "ready":
            break
    time.sleep(0.2)
    proc.send_signal(2)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "interrupted" in out, (out, err[-2000:])
