"""The run directory `runs/<name>/`: what a run leaves behind, laid out the same way by every command.

An existing run is never overwritten: a new run whose name is taken gets the next free suffix
(`demo-2`, `demo-3`, ...), and only `--resume` reuses a directory. A directory is claimed by whoever
creates its config.yaml first (O_EXCL), so two runs started at once never share one.

A run directory has one owner at a time (`RunLock`): two `train --resume` of the same run (a second
terminal, a re-run notebook cell) would interleave their writes. The lock is an flock, which the kernel
drops when its process ends however it ends, so a crashed or kill -9'ed owner leaves nothing stale
behind: the next process takes the lock over.
"""

from __future__ import annotations

import errno
import os
import signal
import threading
from dataclasses import dataclass
from pathlib import Path

from ..config import ExpoConfig
from ..io import append_jsonl, atomic_write_text

# Errors that mean "this machine cannot write there", as opposed to a bug: answered with exit 5.
WRITE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOTDIR, errno.EISDIR}

CONFIG_FILE = "config.yaml"
METRICS_FILE = "metrics.jsonl"
EXPLANATIONS_FILE = "explanations.jsonl"
ADAPTER_DIR = "adapter"
CHECKPOINTS_DIR = "checkpoints"


@dataclass
class RunDir:
    path: Path

    @property
    def config_path(self) -> Path:
        return self.path / CONFIG_FILE

    @property
    def metrics_path(self) -> Path:
        return self.path / METRICS_FILE

    @property
    def explanations_path(self) -> Path:
        return self.path / EXPLANATIONS_FILE

    @property
    def adapter_path(self) -> Path:
        return self.path / ADAPTER_DIR

    @property
    def checkpoints_path(self) -> Path:
        return self.path / CHECKPOINTS_DIR

    def log_metrics(self, record: dict) -> None:
        append_jsonl(self.metrics_path, record)


class RunDirBusy(RuntimeError):
    """Another live process owns the run directory."""


class RunDirWriteError(RuntimeError):
    """The run directory cannot be written (disk full, read-only, no permission)."""


def _claim(path: Path) -> bool:
    """Make `path` ours if it is new or empty and nobody has put a config.yaml in it yet (O_CREAT | O_EXCL)."""
    if path.exists() and any(p.name != CONFIG_FILE for p in path.iterdir()):
        return False
    path.mkdir(parents=True, exist_ok=True)
    try:
        os.close(os.open(path / CONFIG_FILE, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
        return True
    except FileExistsError:
        return False


def create_run_dir(cfg: ExpoConfig, resume: bool = False) -> RunDir:
    """Make (or, with resume, reopen) the run directory and save the fully resolved config in it.

    Returns the directory actually used. When a suffix was added (demo-2), the saved config's
    train.run_name says so, so it names its own folder; `cfg` itself is left as given (`with_run_name`).
    """
    wanted = cfg.run_dir()
    if resume:
        if not (wanted / CONFIG_FILE).is_file():
            raise FileNotFoundError(
                f"--resume: {wanted} holds no {CONFIG_FILE}; nothing to resume. "
                f"Run without --resume to start it, or pass the run's train.run_name."
            )
        return RunDir(wanted)
    path, n = wanted, 2
    while not _claim(path):
        path, n = wanted.with_name(f"{wanted.name}-{n}"), n + 1
    run = RunDir(path)
    atomic_write_text(run.config_path, with_run_name(cfg, path.name).to_yaml())
    return run


def with_run_name(cfg: ExpoConfig, name: str) -> ExpoConfig:
    """A copy of `cfg` whose train.run_name is `name` (the caller's config is never changed behind its back)."""
    return cfg.model_copy(update={"train": cfg.train.model_copy(update={"run_name": name})})


class RunLock:
    """`with RunLock(run_dir):` - this process owns the run directory, or RunDirBusy names the owner.

    The lock is taken on the directory itself (flock on a directory descriptor), so it leaves no file
    behind and a failed command leaves the directory byte for byte as it was. The owner's PID is read from
    /proc/locks for the message."""

    def __init__(self, run_dir: Path):
        self.path = Path(run_dir)
        self._fd: int | None = None

    def __enter__(self) -> RunLock:
        import fcntl

        fd = os.open(self.path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = _lock_owner(fd)
            os.close(fd)
            raise RunDirBusy(
                f"{self.path} is in use by process {owner or '(unknown)'}. Wait for it to finish or stop it "
                f"(Ctrl-C saves and exits), then run again; to start a separate run, pick another train.run_name."
            ) from None
        self._fd = fd
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor releases the flock
            self._fd = None


def _lock_owner(fd: int) -> int | None:
    """PID holding a flock on the file behind `fd` (Linux /proc/locks: '1: FLOCK ADVISORY WRITE pid maj:min:inode ...')."""
    st = os.fstat(fd)
    try:
        lines = Path("/proc/locks").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        parts = line.split()
        if len(parts) >= 6 and parts[1] == "FLOCK" and parts[5].rsplit(":", 1)[-1] == str(st.st_ino):
            return int(parts[4])
    return None


def check_writable(folder: Path) -> None:
    """Fail before any work when `folder` cannot hold a run directory (read-only, a file in the way, full).
    Probes the folder, or its nearest existing parent when it does not exist yet: nothing is left behind."""
    existing = folder.expanduser().absolute()
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    problem = None
    if not existing.is_dir():
        problem = f"{existing} is a file, not a folder"
    else:
        probe = existing / f".expo-write-test-{os.getpid()}"
        try:
            probe.write_bytes(b"0" * 4096)
        except OSError as exc:
            problem = exc.strerror or str(exc)
        finally:
            probe.unlink(missing_ok=True)
    if problem:
        raise RunDirWriteError(f"train.output_dir {str(folder)!r} cannot be written: {problem}. "
                               f"Choose a writable folder with --set train.output_dir=PATH.")


def is_write_failure(exc: BaseException) -> bool:
    """A disk that is full, read-only or forbidden - as an OSError, or as torch.save reports it."""
    if isinstance(exc, OSError):
        return exc.errno in WRITE_ERRNOS
    text = str(exc)
    return isinstance(exc, RuntimeError) and ("file write failed" in text or "No space left" in text)


def write_failure(exc: BaseException, checkpoints: Path) -> RunDirWriteError:
    """The answer to a failed write during a run: what failed, and which checkpoint `--resume` will use
    (for ExP-DPO the checkpoints of each round live in checkpoints/round<r>/)."""
    candidates = [last_complete_checkpoint(checkpoints)]
    if checkpoints.is_dir():
        candidates += [last_complete_checkpoint(d) for d in sorted(checkpoints.glob("round*"))]
    good = next((c for c in reversed(candidates) if c), None)
    where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
    keep = (f"The last complete checkpoint, {good}, is intact; free space (or fix permissions) and continue "
            f"with --resume." if good else "No checkpoint was complete yet; free space and start again.")
    reason = getattr(exc, "strerror", None) or str(exc).splitlines()[0]
    return RunDirWriteError(f"could not write the run directory{where}: {reason}. {keep}")


def last_complete_checkpoint(folder: Path) -> str | None:
    """The newest `checkpoint-N` whose trainer_state.json (written last by the Trainer) parses; a
    checkpoint cut short by kill -9 is skipped, so --resume never loads a half-written one."""
    import json
    import re

    if not folder.is_dir():
        return None
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := re.fullmatch(r"checkpoint-(\d+)", p.name))]
    for _, path in sorted(found, reverse=True):
        try:
            json.loads((path / "trainer_state.json").read_text())
            return str(path)
        except (OSError, ValueError):
            continue
    return None


def save_interrupted(trainer, adapter_dir: Path, console=None) -> None:
    """Ctrl-C: write a full checkpoint (weights, optimizer, scheduler, RNG, step) and the adapter.

    Not again when the step's checkpoint is already complete (rewriting it in place is not atomic: a second
    interruption could spoil a good checkpoint). While saving, further Ctrl-Cs are counted, not obeyed,
    until the third, which aborts the save (the previous checkpoint stays usable)."""
    step_dir = Path(trainer.args.output_dir) / f"checkpoint-{trainer.state.global_step}"
    with _patient_sigint(console):
        if last_complete_checkpoint(step_dir.parent) != str(step_dir):
            trainer._save_checkpoint(trainer.model, trial=None)
        trainer.save_model(str(adapter_dir))
    if console is not None:
        console.print(f"[yellow]interrupted at step {trainer.state.global_step}: checkpoint and adapter saved; "
                      f"continue with --resume[/yellow]")


class _patient_sigint:  # noqa: N801 - used as a context manager, reads like a function
    """Count Ctrl-Cs during an emergency save; the third one raises KeyboardInterrupt."""

    def __init__(self, console, abort_after: int = 3):
        self.console, self.abort_after, self.presses, self.previous = console, abort_after, 1, None

    def _handler(self, signum, frame):
        self.presses += 1
        if self.presses >= self.abort_after:
            raise KeyboardInterrupt
        if self.console is not None:
            self.console.print(f"[yellow]saving the checkpoint, please wait (Ctrl-C {self.abort_after - self.presses} "
                               f"more time(s) to abort the save)[/yellow]")

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGINT, self._handler)
        return self

    def __exit__(self, *exc):
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)
