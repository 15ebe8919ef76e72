"""Progress of a long phase (model conversion, explanation sampling, pair building, evaluation, report).

A user must always be able to tell work from a hang. Every phase that can take more than a few seconds
says up front how much work it will do, then shows a count and an ETA: a rich progress bar on a terminal
and in Jupyter; `key=value` lines when piped, in CI or with `--no-tui` - at the start, at most every
`every_s` seconds while it runs, and at the end:

    phase=pairs start total=400 work="400 questions x (4 rollouts + 2 explanation tries)"
    phase=pairs done=8/400 elapsed=61s eta=2989s
    phase=pairs finished done=400/400 elapsed=3050s
"""

from __future__ import annotations

import os
import time
from typing import Any

PLAIN_EVERY_S = 10.0


def make_console() -> Any:
    """The console our commands print to: on a terminal as rich sizes it; piped or in CI, lines are never
    wrapped at 80 columns (a log line must stay one line for grep)."""
    from rich.console import Console

    console = Console()
    if not live_console(console):
        console.soft_wrap = True
    return console


def live_console(console: Any) -> bool:
    """A console that can redraw a bar in place (a terminal or Jupyter), outside CI."""
    return not os.environ.get("CI") and bool(console.is_terminal or console.is_jupyter)


class PhaseProgress:
    """Context manager: `with PhaseProgress(console, "pairs", 400, work="...") as p: ... p.advance(8)`."""

    def __init__(self, console: Any, phase: str, total: int, work: str = "", every_s: float = PLAIN_EVERY_S,
                 live: bool | None = None):
        self.console, self.phase, self.total, self.work, self.every_s = console, phase, total, work, every_s
        self.live = live_console(console) if live is None else live
        self.done = 0
        self._started = self._last_line = 0.0
        self._bar: Any = None
        self._task: Any = None

    def __enter__(self) -> PhaseProgress:
        self._started = self._last_line = time.perf_counter()
        if self.live:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self.console.print(f"{self.phase}: {self.work}" if self.work else self.phase, highlight=False)
            self._bar = Progress(TextColumn(self.phase), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                                 TextColumn("ETA"), TimeRemainingColumn(), console=self.console)
            self._bar.start()
            self._task = self._bar.add_task(self.phase, total=self.total)
        else:
            work = f' work="{self.work}"' if self.work else ""
            self._line(f"phase={self.phase} start total={self.total}{work}")
        return self

    def advance(self, n: int = 1) -> None:
        self.done += n
        if self._bar is not None:
            self._bar.advance(self._task, n)
            return
        now = time.perf_counter()
        if now - self._last_line >= self.every_s and self.done < self.total:
            self._last_line = now
            self._line(f"phase={self.phase} done={self.done}/{self.total} elapsed={now - self._started:.0f}s "
                       f"eta={self.eta_seconds():.0f}s")

    def eta_seconds(self) -> float:
        elapsed = time.perf_counter() - self._started
        return elapsed / self.done * (self.total - self.done) if self.done else float("nan")

    def __exit__(self, exc_type, exc, tb) -> None:
        elapsed = time.perf_counter() - self._started
        if self._bar is not None:
            self._bar.stop()
        elif exc_type is None:
            self._line(f"phase={self.phase} finished done={self.done}/{self.total} elapsed={elapsed:.0f}s")
        else:
            self._line(f"phase={self.phase} stopped done={self.done}/{self.total} elapsed={elapsed:.0f}s")

    def _line(self, text: str) -> None:
        self.console.print(text, highlight=False, markup=False, soft_wrap=True)
