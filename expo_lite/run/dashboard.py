"""The live training dashboard: a `rich` Live view attached to a trainer as a callback.

What it shows: a header (algorithm, model, backend, device), progress with ETA, the numbers ExPO is
about (reward, accuracy, the fraction of groups where every rollout is wrong, self-explanation valid
rate, L_SFT, beta) plus lr, tokens/s and memory, a small chart of reward over steps, and the latest
question with its self-explanation and verdict. `render()` is a pure function of the state so tests
(and Jupyter) can draw it without a terminal. Used only on a TTY or in Jupyter; elsewhere the plain
line logger in callbacks.py takes over.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any

from rich.console import Group
from rich.panel import Panel
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text
from transformers import TrainerCallback

SPARKS = "▁▂▃▄▅▆▇█"


def sparkline(values: list[float], width: int = 40) -> str:
    """Unicode bar chart of the last `width` values, scaled to their own min..max."""
    values = values[-width:]
    if not values:
        return ""
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    return "".join(SPARKS[min(int((v - low) / span * (len(SPARKS) - 1)), len(SPARKS) - 1)] for v in values)


def memory_text() -> str:
    import torch

    if torch.cuda.is_available():
        return f"{torch.cuda.max_memory_allocated() / 2**30:.1f} GiB GPU peak"
    try:
        import psutil

        return f"{psutil.Process(os.getpid()).memory_info().rss / 2**30:.1f} GiB RSS"
    except ImportError:  # pragma: no cover - psutil comes with accelerate
        return "n/a"


@dataclass
class DashboardState:
    header: dict[str, str]
    step: int = 0
    max_steps: int = 0
    started: float = field(default_factory=time.perf_counter)
    metrics: dict[str, float] = field(default_factory=dict)
    rewards: list[float] = field(default_factory=list)
    tokens_per_s: float | None = None
    memory: str = ""
    latest: dict[str, Any] | None = None  # question, explanation text, verdict

    def eta_seconds(self) -> float | None:
        if self.step == 0 or self.max_steps == 0:
            return None
        elapsed = time.perf_counter() - self.started
        return elapsed / self.step * (self.max_steps - self.step)


ROWS = [
    ("reward", "reward", ".3f"),
    ("rewards/correctness/mean", "accuracy", ".1%"),
    ("expo/all_wrong_frac", "all-wrong groups", ".0%"),
    ("expo/explain_valid_rate", "explanations valid", ".0%"),
    ("expo/sft_loss", "L_SFT", ".3f"),
    ("expo/sft_beta", "sft_beta", ".3g"),
    ("rewards/margins", "DPO reward margin", ".3f"),
    ("rewards/accuracies", "DPO preference acc", ".0%"),
    ("loss", "loss", ".4f"),
    ("learning_rate", "lr", ".2e"),
]


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "--:--"
    minutes, sec = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{sec:02d}" if hours else f"{minutes:02d}:{sec:02d}"


def render(state: DashboardState) -> Group:
    head = Text("  ".join(f"{k}: {v}" for k, v in state.header.items()), style="bold")
    progress = Table.grid(expand=True)
    progress.add_column(ratio=1)
    progress.add_column(justify="right")
    progress.add_row(ProgressBar(total=max(state.max_steps, 1), completed=state.step),
                     f"step {state.step}/{state.max_steps}  elapsed {_duration(time.perf_counter() - state.started)}"
                     f"  ETA {_duration(state.eta_seconds())}")

    numbers = Table(show_header=False, box=None, padding=(0, 1))
    numbers.add_column(style="cyan")
    numbers.add_column(justify="right")
    for key, label, fmt in ROWS:
        if key in state.metrics:
            numbers.add_row(label, format(state.metrics[key], fmt))
    numbers.add_row("tokens/s", "--" if state.tokens_per_s is None else f"{state.tokens_per_s:.0f}")
    numbers.add_row("memory", state.memory or "--")

    chart = Text(sparkline(state.rewards) or "(no steps yet)", style="green")
    if state.rewards:
        chart.append(f"\nlast {state.rewards[-1]:.3f}  min {min(state.rewards):.3f}  max {max(state.rewards):.3f}", style="dim")

    side = Table.grid(expand=True)
    side.add_column(ratio=1)
    side.add_column(ratio=2)
    side.add_row(Panel(numbers, title="metrics"), Panel(chart, title="reward over steps"))

    if state.latest:
        latest = Text()
        latest.append("Q: ", style="bold cyan")
        latest.append(state.latest["question"][:300] + "\n")
        latest.append("self-explanation: ", style="bold green")
        latest.append((state.latest.get("text") or "(none)")[:500] + "\n")
        latest.append("verdict: ", style="bold")
        latest.append(state.latest["verdict"], style="green" if state.latest["verdict"] == "valid" else "red")
    else:
        latest = Text("(no self-explanation yet)", style="dim")
    return Group(Panel(Group(head, progress), title="expo-lite"), side, Panel(latest, title="latest question"))


class Dashboard(TrainerCallback):
    """Live view of a training run. `show_explanations(records)` feeds the latest-question panel."""

    def __init__(self, header: dict[str, str], console: Any = None, refresh_per_second: float = 2.0):
        from rich.console import Console

        self.console = console or Console()
        self.state = DashboardState(header=header)
        self.refresh_per_second = refresh_per_second
        self.live = None
        self._last_tokens: tuple[float, float] | None = None  # (num_tokens, time)

    def on_train_begin(self, args, state, control, **kwargs):
        from rich.live import Live

        if not state.is_world_process_zero:
            return
        self.state.max_steps = state.max_steps
        self.state.started = time.perf_counter()
        self.live = Live(render(self.state), console=self.console, refresh_per_second=self.refresh_per_second,
                         transient=False)
        self.live.start()

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not logs or "train_runtime" in logs:
            return
        self.update(state.global_step, state.max_steps, logs)

    def update(self, step: int, max_steps: int, logs: dict[str, Any]) -> None:
        s = self.state
        s.step, s.max_steps = step, max_steps
        s.metrics.update({k: float(v) for k, v in logs.items() if isinstance(v, int | float)})
        if "reward" in logs:
            s.rewards.append(float(logs["reward"]))
        now = time.perf_counter()
        if "num_tokens" in logs:
            tokens = float(logs["num_tokens"])
            if self._last_tokens is not None and now > self._last_tokens[1]:
                s.tokens_per_s = (tokens - self._last_tokens[0]) / (now - self._last_tokens[1])
            self._last_tokens = (tokens, now)
        s.memory = memory_text()
        self.refresh()

    def show_explanations(self, records: list[Any]) -> None:
        if not records:
            return
        chosen = next((r for r in records if r.valid), records[-1])
        self.state.latest = {"question": chosen.question, "text": chosen.text,
                             "verdict": "valid" if chosen.valid else f"rejected: {chosen.reason}"}
        self.refresh()

    def refresh(self) -> None:
        if self.live is not None:
            self.live.update(render(self.state), refresh=True)

    def on_train_end(self, args, state, control, **kwargs):
        if self.live is not None:
            self.refresh()
        self.stop()

    def stop(self) -> None:
        """Hand the terminal back (end of training, Ctrl-C, a failed write) so messages print normally."""
        if self.live is not None:
            self.live.stop()
            self.live = None
