"""Answer formats: every way a task's answers are found, compared and written, behind one interface (base.py).

A format is named by a spec string, which is all any consumer (the reward, the explanation check, targets,
DPO pairs, eval, `expo-lite data`) passes around, and which rebuilds the same format in any process:

  boxed | hash            math (math_answers.py): MATH / Minerva boxes, GSM8K's `#### N`; math-verify compares
  choice                  multiple-choice labels (choice.py)
  exact                   short text answers, SQuAD / TriviaQA normalisation, per-row aliases (exact.py)
  countdown               an expression over given numbers that reaches a target (countdown.py)
  program:module:function the user's own check, bounded in a child process (program.py)
"""

from __future__ import annotations

from functools import cache

from .base import AnswerFormat, Context, Found, Item
from .choice import Choice
from .countdown import Countdown
from .exact import Exact
from .math_answers import Boxed, Hash
from .program import Program, ProgramCheckError

BUILT_IN = {f.name: f for f in (Boxed, Hash, Choice, Exact, Countdown)}
NAMES = (*BUILT_IN, "program")


@cache
def answer_format(spec: str) -> AnswerFormat:
    """The format a spec names (one instance per spec and process: a program check keeps its failure counts)."""
    if spec in BUILT_IN:
        return BUILT_IN[spec]()
    if spec.startswith("program:"):
        return Program(spec.removeprefix("program:"))
    raise ValueError(f"answer format {spec!r}: choose one of {', '.join(BUILT_IN)}, or program with task.program "
                     f"set to module:function")


__all__ = ["AnswerFormat", "Context", "Found", "Item", "NAMES", "ProgramCheckError", "answer_format"]
