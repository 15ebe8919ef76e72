"""Ctrl-C that is honoured every time, in every phase, within seconds.

Python turns SIGINT into a KeyboardInterrupt raised in whatever Python code the main thread runs next. Three
ways a press can then be lost, and what this module does about each:

  ignored      a process started in the background of a non-interactive shell (`cmd &` in a script, CI
               runners, job tools) inherits SIGINT *ignored*, and Python never installs its handler;
  blocked      a process inherits the signal mask of the thread that started it: a parent that had SIGINT
               blocked (a runner inside a signal-masked section) starts us with SIGINT pending forever;
  swallowed    the KeyboardInterrupt is raised inside code that does not let it through: a finalizer
               (`__del__`, a weakref callback, a generator closed by the garbage collector: Python prints
               "Exception ignored in ..." and goes on) or a library's bare `except:`; the run then continues.

`install()` (every `expo-lite` command, first thing) puts our handler in place and unblocks SIGINT in the main
thread; the handler raises KeyboardInterrupt as Python's does, and also *latches* the press. The places that run
all the time in every long phase call `honour()`: each decoded token (core/sampling.py), each trainer step and
micro-step (`HonourInterrupts` in run/callbacks.py), each chunk of pair building, explanation and evaluation.
`honour()` raises KeyboardInterrupt again for a latched press that no handler of ours has acted on yet, so a
swallowed one is honoured at the next token or step. Our `except KeyboardInterrupt:` handlers (the ones that
save and exit 130) call `acknowledge()`, so the save itself is never interrupted by the same press again.

Only the CLI installs the handler: in a notebook the kernel's own interrupt stays as Jupyter does it, the latch
stays empty and `honour()` costs a global read.
"""

from __future__ import annotations

import signal
import threading

_latched = False  # a press that no handler of ours has acted on yet


def install() -> None:
    """Our SIGINT handler in the main thread, SIGINT unblocked there (see the module docstring)."""
    if threading.current_thread() is not threading.main_thread():
        return
    signal.signal(signal.SIGINT, _on_sigint)
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def _on_sigint(signum: int, frame: object) -> None:
    global _latched
    _latched = True
    raise KeyboardInterrupt


def honour() -> None:
    """Raise KeyboardInterrupt for a Ctrl-C that was pressed and not yet acted on (a no-op off the main thread)."""
    if _latched and threading.current_thread() is threading.main_thread():
        raise KeyboardInterrupt


def acknowledge() -> None:
    """A handler of ours is acting on the Ctrl-C (saving, then exiting): do not raise it again."""
    global _latched
    _latched = False


def pressed() -> bool:
    """A Ctrl-C is latched and not yet acted on."""
    return _latched
