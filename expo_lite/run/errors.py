"""The errors a run ends with, one per documented exit status of the CLI (cli.py).

They live apart from the code that raises them so the command line can name them without importing torch or
transformers: every command, `expo-lite --help` and `recipes` included, wraps itself in the CLI's exit-status
handler, and importing callbacks.py (transformers) or planner.py (torch) there cost seconds at every start.
"""

from __future__ import annotations


class NonFiniteLossError(RuntimeError):
    """The loss became NaN/inf; the adapter was not saved (exit 3)."""


class GPUOutOfMemoryError(RuntimeError):
    """CUDA ran out of memory; the message says what the planner predicted and which knobs to lower (exit 4)."""
