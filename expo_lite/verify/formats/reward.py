"""The GRPO reward, in any answer format: TRL calls it with the completions and the dataset's columns."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from ..answers import completion_text
from . import answer_format


def correctness_reward_for(spec: str) -> Callable[..., list[float]]:
    """A TRL reward function: 1.0 when a completion's final answer is right for its row in format `spec`, else 0.0.
    It reads the `answer`, `question`, `context` (the row's other columns, JSON) and `problem_id` columns."""
    fmt = answer_format(spec)

    def correctness(completions: list[Any], answer: list[str], question: list[str] | None = None,
                    context: list[str] | None = None, problem_id: list[str] | None = None, **_: Any) -> list[float]:
        n = len(completions)
        contexts = [{"question": q or "", **(json.loads(c) if c else {})}
                    for q, c in zip(question or [""] * n, context or [""] * n, strict=True)]
        verdicts = fmt.are_correct([completion_text(c) for c in completions], [str(a) for a in answer], contexts,
                                   [str(i) for i in (problem_id or [""] * n)])
        return [1.0 if v else 0.0 for v in verdicts]

    correctness.__name__ = "correctness"  # TRL logs rewards/correctness/mean; the dashboard reads it
    return correctness
