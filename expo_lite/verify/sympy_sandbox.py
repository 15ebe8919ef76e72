"""math-verify under a hard deadline, in a child process: "never raises, never hangs", from any thread.
The same child runs a user's own answer check (the `program` answer format) under the same deadline.

Why a child process. sympy can spend unbounded time on hostile input (power towers, huge integers),
much of it inside C big-integer arithmetic where no Python signal handler runs; and math-verify's own
timeout uses `signal.alarm`, which only works in the main thread (TRL runs async reward functions on a
worker thread; notebooks, DataLoader workers and user thread pools are other threads). A process can be
killed whatever it is doing and from any thread. So every sympy call of ours goes to one long-lived
child (`serve()` below), one JSON line per request and per answer. A request that misses its deadline
gets the child killed and replaced, and its verdict is False ("not equal" / "not parseable"). We bound
the *time* sympy may take, not the *shape* of the expression, so no real answer is refused for its form.

Inside the child a soft timer (`setitimer`, sub-second) ends slow Python-level work without losing the
process; the parent's hard deadline covers what the timer cannot interrupt. Requests are pipelined
(a window of them in flight) so a batch of rewards costs one round trip, not one per completion.

The child runs in its own session: a Ctrl-C in the terminal goes to the trainer, which decides what to
do, and the child exits when its stdin closes (the parent died) or when the parent kills it.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import select
import subprocess
import sys
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any

SOFT_SECONDS = 1.5  # the child's own per-request timer (interrupts Python-level sympy work)
HARD_SECONDS = 4.0  # the parent's deadline per request: past it the child is killed and replaced
START_SECONDS = 120.0  # importing sympy + math-verify in a fresh child, generous for a loaded machine
WINDOW = 32  # requests in flight; keeps both pipes far below their buffer size
MEMORY_BYTES = 4 * 2**30  # the child's address-space limit (it needs ~0.3 GiB)
CACHE_SIZE = 8192
# One of each kind of answer, compared once in a new child before it reports ready.
WARM_UP = [("\\frac{1}{2}", "0.5"), ("(2, 5]", "(2,5]"), ("x^2+2x+1", "(x+1)^2"), ("1, -2", "-2, 1"),
           ("x^2+y^2=13", "y^2+x^2=13"), ("\\text{(C)}", "C"), ("\\sqrt{8}", "2\\sqrt{2}"), ("50\\%", "0.5")]  # verdicts remembered per process (GRPO rollouts repeat the same answers a lot)

log = logging.getLogger(__name__)


# ------------------------------------------------------------------------------------ the child


class _SoftTimeout(BaseException):
    """BaseException so math-verify's `except Exception` handlers cannot swallow it."""


USERS_OPS = ("call", "resolve")  # a user's check: its failures are reported, not just False
REACH_OPS = ("relate", "solves")  # does reasoning reach its answer (sympy_reach.py): a word, "unknown" when it cannot tell
_CHECKS: dict[str, Any] = {}  # "module:function" -> the user's check, imported once per child


def _check_named(target: str) -> Any:
    """The user's check a target names, imported once per child; an error that says which part is missing."""
    import importlib

    if target not in _CHECKS:
        module_name, _, name = target.partition(":")
        module = importlib.import_module(module_name)
        if not hasattr(module, name):
            public = sorted(n for n, v in vars(module).items() if callable(v) and not n.startswith("_"))
            raise AttributeError(f"module {module_name!r} ({getattr(module, '__file__', '?')}) has no {name!r}; "
                                 f"its functions: {', '.join(public) or 'none'}")
        if not callable(getattr(module, name)):
            raise TypeError(f"{target} is a {type(getattr(module, name)).__name__}, not a function")
        _CHECKS[target] = getattr(module, name)
    return _CHECKS[target]


def _call(request: dict[str, Any]) -> bool:
    """A user's check (formats/program.py): True or False, else an exception that says what came back.
    `resolve` only imports it (the format asks once, before any row depends on it)."""
    check = _check_named(request["target"])
    if request["op"] == "resolve":
        return True
    result = check(request["answer"], request["gold"], request["row"])
    if type(result).__name__ in ("bool", "bool_"):  # numpy's bool too
        return bool(result)
    raise TypeError(f"returned {type(result).__name__} {result!r:.60}, not True or False")


def _evaluate(request: dict[str, Any], timeout: int | None = None) -> bool | str:
    """math-verify on one request; gold is parsed first (math-verify's comparison is not symmetric)."""
    if request["op"] in USERS_OPS:
        return _call(request)
    if request["op"] in REACH_OPS:
        from . import sympy_reach

        return sympy_reach.OPS[request["op"]](request, timeout)
    from math_verify import parse, verify

    if request["op"] == "parse":
        return bool(parse(f"${request['text']}$", parsing_timeout=timeout))
    gold = parse(f"${request['gold']}$", parsing_timeout=timeout)
    pred = parse(f"${request['pred']}$", parsing_timeout=timeout)
    return bool(gold and pred and verify(gold, pred, timeout_seconds=timeout))


def serve(warm: bool = True) -> None:
    """The child's loop: one JSON request per stdin line, one `{"result": bool}` per stdout line (with an
    "error" when a user's check gave no verdict)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent owns Ctrl-C
    try:  # a hostile answer may ask sympy for a number with billions of digits: fail it, don't swap
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_BYTES, MEMORY_BYTES))
    except (ImportError, ValueError, OSError):
        pass
    logging.disable(logging.WARNING)  # math-verify warns that its own timeout is off: ours is on

    def on_timer(signum, frame):
        raise _SoftTimeout

    signal.signal(signal.SIGALRM, on_timer)
    for gold, pred in WARM_UP if warm else ():  # sympy imports and caches lazily: pay that before any deadline
        _evaluate({"op": "match", "gold": gold, "pred": pred})
    sys.path.insert(0, os.getcwd())  # a user's check is importable from the working directory, as in the parent

    out = sys.stdout
    out.write('{"ready": true}\n')
    out.flush()
    for line in sys.stdin:
        result, error = False, None
        try:
            signal.setitimer(signal.ITIMER_REAL, SOFT_SECONDS)
            result = _evaluate(json.loads(line))
        except _SoftTimeout:
            error = f"no verdict within {SOFT_SECONDS} s"
        except BaseException as exc:  # noqa: BLE001 - sympy errors, a user's check, bad input: all mean False
            error = f"{type(exc).__name__}: {exc}"[:300]
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        if error is not None and json.loads(line)["op"] in USERS_OPS:  # only a user's check reports why (math: False is a verdict)
            out.write(json.dumps({"result": False, "error": error}) + "\n")
        else:
            out.write(json.dumps({"result": result if isinstance(result, str) else bool(result)}) + "\n")
        out.flush()


# ------------------------------------------------------------------------------------ the parent


class _ChildGone(Exception):
    """The child died or missed a deadline while request `index` was at the head of the line."""

    def __init__(self, index: int):
        super().__init__(index)
        self.index = index


class Sandbox:
    """A client of one child process. Thread-safe; a forked copy of this process starts its own child."""

    def __init__(self, hard_seconds: float = HARD_SECONDS, start_seconds: float = START_SECONDS, warm: bool = True):
        self.hard_seconds = hard_seconds
        self.warm = warm  # compare the warm-up answers before reporting ready (math-verify's child)
        self.start_seconds = start_seconds
        self._lock = threading.Lock()
        self._proc: subprocess.Popen | None = None
        self._owner = os.getpid()
        self._buffer = b""
        self._ready = False
        self._cache: OrderedDict[str, tuple[Any, str | None]] = OrderedDict()
        self._broken: str | None = None  # why the child cannot run here; then we verify in-process
        self.kills = 0  # children killed for missing a deadline (for tests and the benchmark)

    # ---- public

    def match(self, gold: str, pred: str) -> bool:
        return self.run([{"op": "match", "gold": gold, "pred": pred}])[0]

    def parses(self, text: str) -> bool:
        return self.run([{"op": "parse", "text": text}])[0]

    def run(self, requests: list[dict[str, Any]]) -> list[bool]:
        """Verdicts for `requests` in order. Never raises (but lets KeyboardInterrupt through)."""
        return [verdict is True for verdict, _ in self.run_reporting(requests)]

    def answers(self, requests: list[dict[str, Any]]) -> list[bool | str]:
        """What each request answered, in order (a word for the reach operations; False when no answer came)."""
        return [answer for answer, _ in self.run_reporting(requests)]

    def run_reporting(self, requests: list[dict[str, Any]]) -> list[tuple[Any, str | None]]:
        """(answer, why there was none) for `requests` in order: the error is None when the request was
        answered, else what happened (a user's check raised, returned no True/False, or missed the deadline)."""
        keys = [json.dumps(r, sort_keys=True) for r in requests]
        results: list[tuple[Any, str | None] | None] = [self._cache.get(k) for k in keys]
        todo = [i for i, r in enumerate(results) if r is None]
        if todo:
            with self._lock:
                fresh = self._run_locked([keys[i] for i in todo])
            for i, answer in zip(todo, fresh, strict=True):
                results[i] = answer
                self._remember(keys[i], answer)
        return [r for r in results if r is not None]

    def forget(self) -> None:
        """Drop remembered verdicts (benchmarks time the real work)."""
        self._cache.clear()

    def close(self) -> None:
        with self._lock:
            self._kill()

    # ---- internals

    def _remember(self, key: str, answer: tuple[Any, str | None]) -> None:
        self._cache[key] = answer
        if len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)

    def _run_locked(self, lines: list[str]) -> list[tuple[Any, str | None]]:
        results: list[tuple[Any, str | None]] = [(False, None)] * len(lines)
        start = 0
        failures_in_a_row = 0
        while start < len(lines):
            if self._broken is None and not self._ensure_child():
                failures_in_a_row += 1
                if failures_in_a_row >= 3:
                    self._broken = "the verifier child process could not be started"
            if self._broken is not None:
                return results[:start] + [_in_process(json.loads(line), self._broken) for line in lines[start:]]
            try:
                start = self._pipeline(lines, results, start)
                failures_in_a_row = 0
            except _ChildGone as gone:
                # the request at the head of the line killed or outlived the child: its verdict stays False
                self.kills += 1
                results[gone.index] = (False, f"no verdict within {self.hard_seconds:g} s: stopped")
                self._kill()
                self._spawn()  # start importing now; the next request waits only for what is left
                start = gone.index + 1
            except BaseException:
                self._kill()  # an interrupted exchange would desynchronise requests and answers
                raise
        return results

    def _pipeline(self, lines: list[str], results: list[tuple[Any, str | None]], start: int) -> int:
        """Send lines[start:] with at most WINDOW in flight, reading answers in order. Returns len(lines)
        or raises _ChildGone with the failed request at `start` (updated as answers arrive)."""
        assert self._proc is not None and self._proc.stdin is not None
        sent = start
        done = start
        while done < len(lines):
            batch = []
            while sent < len(lines) and sent - done < WINDOW:
                batch.append(lines[sent] + "\n")
                sent += 1
            if batch:
                try:
                    self._proc.stdin.write("".join(batch).encode())
                    self._proc.stdin.flush()
                except OSError:  # BrokenPipeError: the child is gone
                    raise _ChildGone(done) from None
            answer = json.loads(self._read_line(self.hard_seconds, done))
            results[done] = (answer.get("result", False), answer.get("error"))
            done += 1
        return done

    def _read_line(self, timeout: float, index: int) -> bytes:
        """The next answer line within `timeout`; on a miss, raise _ChildGone(index)."""
        assert self._proc is not None and self._proc.stdout is not None
        fd = self._proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise _ChildGone(index)
            ready, _, _ = select.select([fd], [], [], left)
            if ready:
                chunk = os.read(fd, 65536)
                if not chunk:
                    raise _ChildGone(index)
                self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return line

    def _spawn(self) -> None:
        package_parent = str(Path(__file__).resolve().parents[1])
        code = (f"import sys; sys.path.insert(0, {package_parent!r}); from expo_lite.verify.sympy_sandbox import serve; "
                f"serve(warm={self.warm})")
        self._proc = subprocess.Popen(
            [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, start_new_session=True, env={**os.environ, "OMP_NUM_THREADS": "1"},
        )
        self._owner, self._buffer, self._ready = os.getpid(), b"", False

    def _ensure_child(self) -> bool:
        if self._owner != os.getpid():  # we are a fork: the pipes belong to our parent's child
            self._proc, self._owner = None, os.getpid()
        if self._proc is None or self._proc.poll() is not None:
            try:
                self._spawn()
            except OSError as exc:
                self._broken = f"could not start the verifier child process ({exc})"
                return False
        if not self._ready:
            try:
                self._read_line(self.start_seconds, 0)
            except _ChildGone:
                self._kill()
                return False
            self._ready = True
        return True

    def _kill(self) -> None:
        proc, self._proc, self._buffer, self._ready = self._proc, None, b"", False
        if proc is None or self._owner != os.getpid():
            return
        try:
            proc.kill()
            proc.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            pass
        for stream in (proc.stdin, proc.stdout):
            try:
                if stream is not None:
                    stream.close()
            except OSError:
                pass


def _in_process(request: dict[str, Any], why: str | None) -> tuple[Any, str | None]:
    """Last resort when no child can run here: math-verify (or a user's check) in this process, with
    math-verify's signal timeout in the main thread (no bound elsewhere). Warned about once, because the
    guarantee is weaker."""
    global _WARNED
    if not _WARNED:
        _WARNED = True
        log.warning("expo-lite: the answer verifier runs in-process (%s); hostile answers may take long", why)
    try:
        return _evaluate(request, 2 if threading.current_thread() is threading.main_thread() else None), None
    except Exception as exc:  # noqa: BLE001
        return False, f"{type(exc).__name__}: {exc}"[:300] if request.get("op") in USERS_OPS else None


_WARNED = False
SANDBOX = Sandbox()
atexit.register(SANDBOX.close)
