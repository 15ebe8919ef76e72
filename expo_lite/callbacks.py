"""Trainer callbacks: every logged step goes to `metrics.jsonl` and, as one line, to the console.

(The live `rich` dashboard builds on the same records.)
"""

from __future__ import annotations

import math
import time
from typing import Any

from transformers import TrainerCallback

from .rundir import RunDir

# What a line shows, in order, when present: (log key, label, format)
LINE_FIELDS = [
    ("loss", "loss", ".4f"),
    ("reward", "reward", ".3f"),
    ("frac_reward_zero_std", "zero-std", ".2f"),
    ("expo/all_wrong_frac", "all-wrong", ".2f"),
    ("expo/explain_valid_rate", "expl-valid", ".2f"),
    ("expo/sft_loss", "L_sft", ".3f"),
    ("expo/beta", "beta", ".3g"),
    ("learning_rate", "lr", ".2e"),
]


class MetricsLogger(TrainerCallback):
    def __init__(self, run: RunDir, console: Any = None):
        self.run = run
        self.console = console
        self.started = time.perf_counter()

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero or not logs:
            return
        record = {"step": state.global_step, "time_s": round(time.perf_counter() - self.started, 2)}
        record.update({k: v for k, v in logs.items() if isinstance(v, int | float) and not _is_nan(v)})
        self.run.log_metrics(record)
        shown = [f"{label} {logs[key]:{fmt}}" for key, label, fmt in LINE_FIELDS if isinstance(logs.get(key), int | float)]
        if self.console is not None and shown:  # the closing train_runtime record has none of these
            self.console.print(" | ".join([f"step {state.global_step}/{state.max_steps}", *shown]), highlight=False,
                               soft_wrap=True)


def _is_nan(v: float) -> bool:
    return isinstance(v, float) and math.isnan(v)
