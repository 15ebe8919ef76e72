"""`program`: the user's own check, `task.program: "module:function"`, for answers no built-in format reads.

    def check(answer: str, gold: str, row: dict) -> bool

`answer` is the completion's final answer, found as the `exact` format finds it (the last `\\boxed{X}`, a
`#### X` line, "the answer is X"); a completion without one is wrong without a call. `gold` is the row's
answer column and `row` its other columns (whatever the data file holds beside question and answer). The
function is imported by name in a child process of the verifier's kind (../sympy_sandbox.py, its own child), so
it is bounded as our math-verify calls are: a soft timer ends it after 1.5 s, the parent kills the child at 4 s,
and neither a hang nor a crash reaches training. Verdicts are remembered per (answer, gold, row).

Before any row depends on it (every command that loads the task: data, explain, train, eval), the check is
imported by name and tried on the first rows' own gold answers (`preflight`): a module or function that does
not exist, or a check that answers none of them, is a config error (exit 2) that says which.

The rule when a check fails to give a verdict - it raises, misses the deadline, or returns something that is
not True/False (None, 1.0, "yes"): that completion counts as wrong (reward 0, explanation invalid), the failure
is counted and logged with the row id and the exception (`failures`, `expo-lite data` runs the check on every
row's gold answer first), and training goes on; after FAILURES_IN_A_ROW_LIMIT failures in a row with no
verdict between them the run stops with ProgramCheckError, because a check that can judge nothing would make
every reward 0 and train on nothing.

A completion may have several right answers (the check decides), so a verified explanation keeps its own
answer in its training target (`several_answers`).
"""

from __future__ import annotations

import atexit
import logging
import os
from collections import Counter
from collections.abc import Sequence
from typing import Any

from ..sympy_sandbox import SOFT_SECONDS, Sandbox
from .base import Context, Item
from .exact import Exact

FAILURES_IN_A_ROW_LIMIT = 20
PREFLIGHT_ROWS = 4  # gold answers tried before anything loads; none answered: a config error
LOGGED_FAILURES = 5

log = logging.getLogger(__name__)
# Users' checks get a child of their own: one that hangs costs a restart of this child, not of math-verify's.
CHECKS = Sandbox(warm=False)
atexit.register(CHECKS.close)


class ProgramCheckError(ValueError):
    """The user's check gave no verdict FAILURES_IN_A_ROW_LIMIT times in a row (bad input: the CLI exits 2)."""


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value if value is None or isinstance(value, bool | int | float | str) else str(value)


class Program(Exact):
    name = "program"
    several_answers = True
    instruction = "Think step by step, then finish with the line \"The answer is <answer>.\""

    def __init__(self, target: str):
        module, _, function = target.partition(":")
        if not module or not function or not all(part.isidentifier() for part in (*module.split("."), function)):
            raise ValueError(f"task.program {target!r}: write it as module:function (e.g. my_checks:check), a "
                             f"function importable from the working directory")
        self.target = target
        self.failures: Counter[str] = Counter()  # exception text -> count
        self.failure_examples: list[str] = []  # "row id: error", the first LOGGED_FAILURES
        self.failures_in_a_row = 0
        self.grading = (f"{target}(answer, gold, row) on the answer found as `exact` finds it, in a child process "
                        f"under a deadline; no verdict (an exception, a timeout, not True/False) counts as wrong")

    def gold_answer(self, raw: str, context: Context) -> str | None:
        gold = raw.strip()
        return gold or None

    def judge_many(self, items: Sequence[Item]) -> list[bool]:
        """Verdicts, failures counted and logged; raises ProgramCheckError past FAILURES_IN_A_ROW_LIMIT."""
        return self.judge_counting(items, stop=True)

    def judge_counting(self, items: Sequence[Item], stop: bool = False) -> list[bool]:
        """Verdicts with failures counted and logged; `stop`: apply the failures-in-a-row rule (training does,
        `expo-lite data`'s try-out on the gold answers does not)."""
        return [verdict for verdict, _ in self.judge_reporting(items, stop)]

    def judge_reporting(self, items: Sequence[Item], stop: bool = False) -> list[tuple[bool, str | None]]:
        """(verdict, why there was none) per item: the error is None when the check answered True or False."""
        asked = [i for i, item in enumerate(items) if item.answer is not None]
        results: list[tuple[bool, str | None]] = [(False, None)] * len(items)
        for i, (verdict, error) in zip(asked, CHECKS.run_reporting([self._request(items[i]) for i in asked]), strict=True):
            results[i] = (verdict, error)
            if error is None:
                self.failures_in_a_row = 0
                continue
            self._failed(items[i].row_id, error, stop)
        return results

    def preflight(self, golds: Sequence[Item]) -> None:
        """Before any row depends on the check: it must import (module and function exist), and answer at least
        one of the first PREFLIGHT_ROWS rows' own gold answers with True or False. Either failure is a config
        error (ProgramCheckError, exit 2) named here, not a run whose every reward is 0."""
        (_, error), = CHECKS.run_reporting([{"op": "resolve", "target": self.target}])
        if error is not None:
            raise ProgramCheckError(
                f"task.program {self.target}: {error}. The check is imported by name from the working directory "
                f"({os.getcwd()}) or an installed package: a file {self.target.partition(':')[0].replace('.', '/')}.py "
                f"there defining {self.target.partition(':')[2]}(answer, gold, row) -> bool.")
        probe = [item for item in golds if item.answer is not None][:PREFLIGHT_ROWS]
        outcomes = CHECKS.run_reporting([self._request(item) for item in probe])
        if probe and all(error is not None for _, error in outcomes):
            raise ProgramCheckError(
                f"task.program {self.target} gave no verdict on the first {len(probe)} rows' own gold answers "
                f"({'; '.join(f'{item.row_id}: {error}' for item, (_, error) in zip(probe, outcomes, strict=True))}); "
                f"it must return True or False within {SOFT_SECONDS:g} s, and judge a row's own gold answer right.")

    def _request(self, item: Item) -> dict[str, Any]:
        return {"op": "call", "target": self.target, "answer": item.answer, "gold": item.gold,
                "row": _jsonable(dict(item.context))}

    def _failed(self, row_id: str, error: str, stop: bool) -> None:
        self.failures[error] += 1
        self.failures_in_a_row += 1
        if len(self.failure_examples) < LOGGED_FAILURES:
            self.failure_examples.append(f"{row_id or '?'}: {error}")
            log.warning("task.program %s gave no verdict on row %s: %s (counted as wrong)", self.target, row_id or "?", error)
        if stop and self.failures_in_a_row >= FAILURES_IN_A_ROW_LIMIT:
            raise ProgramCheckError(
                f"task.program {self.target} gave no verdict {self.failures_in_a_row} times in a row (last: {error}); "
                f"every reward would be 0. Fix the function (run `expo-lite data` to try it on each row's gold "
                f"answer) and continue with --resume.")
