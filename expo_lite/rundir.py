"""The run directory `runs/<name>/`: what a run leaves behind, laid out the same way by every command.

An existing run is never overwritten: a new run whose name is taken gets the next free suffix
(`demo-2`, `demo-3`, ...), and only `--resume` reuses a directory.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .config import ExpoConfig
from .io import append_jsonl, atomic_write_text

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


def _free_name(base: Path) -> Path:
    if not base.exists() or not any(base.iterdir()):
        return base
    n = 2
    while (candidate := base.with_name(f"{base.name}-{n}")).exists():
        n += 1
    return candidate


def create_run_dir(cfg: ExpoConfig, resume: bool = False) -> RunDir:
    """Make (or, with resume, reopen) the run directory and save the fully resolved config in it.

    Returns the directory actually used; `cfg.train.run_name` is updated when a suffix was added so the
    saved config names its own folder.
    """
    wanted = cfg.run_dir()
    if resume:
        if not (wanted / CONFIG_FILE).is_file():
            raise FileNotFoundError(
                f"--resume: {wanted} holds no {CONFIG_FILE}; nothing to resume. "
                f"Run without --resume to start it, or pass the run's train.run_name."
            )
        return RunDir(wanted)
    path = _free_name(wanted)
    if path != wanted:
        cfg.train.run_name = path.name
    path.mkdir(parents=True, exist_ok=True)
    run = RunDir(path)
    atomic_write_text(run.config_path, cfg.to_yaml())
    return run


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
    """Ctrl-C: write a full checkpoint (weights, optimizer, scheduler, RNG, step) and the adapter."""
    trainer._save_checkpoint(trainer.model, trial=None)
    trainer.save_model(str(adapter_dir))
    if console is not None:
        console.print(f"[yellow]interrupted at step {trainer.state.global_step}: checkpoint and adapter saved; "
                      f"continue with --resume[/yellow]")
