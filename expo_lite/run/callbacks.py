"""Every logged step goes to `metrics.jsonl`, and, in plain mode (not a TTY, CI, `--no-tui`), to the
console as one `key=value` line that grep and awk can read:

    step=2/4 loss=0.0400 reward=0.000 zero_std=1.00 all_wrong=1.00 expl_valid=0.50 l_sft=1.000 sft_beta=0.04 lr=5.00e-05
"""

from __future__ import annotations

import math
import time
from typing import Any

from transformers import TrainerCallback

from .. import interrupts
from .errors import NonFiniteLossError
from .rundir import RunDir

# What a line shows, in order, when present: (log key, label, format)
LINE_FIELDS = [
    ("loss", "loss", ".4f"),
    ("reward", "reward", ".3f"),
    ("frac_reward_zero_std", "zero_std", ".2f"),
    ("expo/all_wrong_frac", "all_wrong", ".2f"),
    ("expo/explain_valid_rate", "expl_valid", ".2f"),
    ("expo/sft_loss", "l_sft", ".3f"),
    ("expo/sft_beta", "sft_beta", ".3g"),
    ("rewards/margins", "dpo_margin", ".3f"),
    ("rewards/accuracies", "dpo_acc", ".2f"),
    ("learning_rate", "lr", ".2e"),
]


def format_line(step: int, max_steps: int, logs: dict[str, Any]) -> str | None:
    shown = [f"{label}={logs[key]:{fmt}}" for key, label, fmt in LINE_FIELDS if isinstance(logs.get(key), int | float)]
    return " ".join([f"step={step}/{max_steps}", *shown]) if shown else None


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
        line = format_line(state.global_step, state.max_steps, logs)
        if self.console is not None and line:  # the closing train_runtime record has none of these fields
            self.console.print(line, highlight=False, soft_wrap=True, markup=False)


class StepProgress(TrainerCallback):
    """What a step is doing while it runs, and what went wrong after it. A GRPO step samples, explains and
    scores before anything is logged (minutes at real lengths, 5 on a busy CPU with the embedded model), so in
    plain mode a line says when each step starts and what it is about to do (`starting`). In every mode a
    warning follows a step whose every completion hit the length limit (no answer can be read in a cut-off
    completion) or whose gradient was exactly zero (the step changed nothing)."""

    def __init__(self, console: Any, starting: str | None = None, max_completion_length: int | None = None):
        self.console = console
        self.starting = starting  # None: no start lines (the live dashboard shows the running step itself)
        self.max_completion_length = max_completion_length
        self.warned = {"clipped": 0, "zero_gradient": 0}  # steps warned about, per kind

    def on_step_begin(self, args, state, control, **kwargs):
        if self.starting and state.is_world_process_zero:
            self._say(f"step {state.global_step + 1}/{state.max_steps} started: {self.starting}")

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero or not logs:
            return
        step = f"step {state.global_step}"
        if logs.get("completions/clipped_ratio") == 1.0:
            self.warned["clipped"] += 1
            self._say(f"warning: {step}: every completion was cut off at train.max_completion_length="
                      f"{self.max_completion_length} tokens (completions/clipped_ratio 1.0), so no answer could be read "
                      f"and every reward is 0; raise train.max_completion_length", style="yellow")
        if logs.get("grad_norm") == 0.0:
            self.warned["zero_gradient"] += 1
            why = []
            if logs.get("frac_reward_zero_std") == 1.0:
                why.append("every group's rollouts got the same reward (zero_std 1.00)")
            if logs.get("expo/positives") == 0.0:
                why.append("no self-explanation was valid (expo/positives 0)")
            self._say(f"warning: {step}: the gradient was zero, the step changed nothing"
                      + (f": {' and '.join(why)}" if why else ""), style="yellow")

    def _say(self, text: str, style: str | None = None) -> None:
        if self.console is not None:
            self.console.print(text, style=style, highlight=False, soft_wrap=True, markup=False)


def _is_nan(v: float) -> bool:
    return isinstance(v, float) and math.isnan(v)


class HonourInterrupts(TrainerCallback):
    """A Ctrl-C that was pressed but not acted on (its KeyboardInterrupt dropped by a finalizer or a library's
    bare `except:`) is raised again at the next step or micro-step (interrupts.py)."""

    def on_step_begin(self, args, state, control, **kwargs):
        interrupts.honour()

    def on_substep_end(self, args, state, control, **kwargs):
        interrupts.honour()

    def on_step_end(self, args, state, control, **kwargs):
        interrupts.honour()


class StopOnNonFiniteLoss(TrainerCallback):
    """Stop at the first logged NaN/inf loss. The caller then refuses to save the (poisoned) weights, so
    the run directory keeps its last good checkpoint."""

    def __init__(self):
        self.bad_step: int | None = None
        self.bad_value: float | None = None

    def on_log(self, args, state, control, logs=None, **kwargs):
        loss = (logs or {}).get("loss")
        if isinstance(loss, int | float) and not math.isfinite(loss):
            self.bad_step, self.bad_value = state.global_step, loss
            control.should_training_stop = True
            control.should_save = False

    @staticmethod
    def is_sampling_failure(exc: BaseException) -> bool:
        """torch.multinomial's complaint when the weights (hence the probabilities) went NaN/inf."""
        return isinstance(exc, RuntimeError) and "probability tensor contains either `inf`, `nan`" in str(exc)

    def check(self, last_good_checkpoint: str | None) -> None:
        if self.bad_step is not None:
            raise NonFiniteLossError(
                f"loss became {self.bad_value} at step {self.bad_step}; training stopped and the adapter was not saved. "
                f"Last good checkpoint: {last_good_checkpoint or 'none yet'}. Lower train.learning_rate or "
                f"train.max_grad_norm, then continue with --resume."
            )
