"""The two math formats, `boxed` (MATH, Minerva) and `hash` (GSM8K): one way of finding and comparing answers
(../extraction.py, ../answers.py: math-verify in its sandbox), two ways of asking for them.

Extraction is the same for both (a completion with both `#### 5` and `\\boxed{7}` answers 7 on a GSM8K-style
task too); the format only chooses what the prompt asks for and how a target's last line is written.

The row matters once: a question that asks for several values ("Enter all the solutions, separated by
commas.") makes a gold `70,110` the two values 70 and 110, not the number 70110 that digit grouping would
read, so `70, 110` is right and `70110` is not.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ..answers import answers_match_many, gold_is_parseable
from ..extraction import GRADING, boxed_answer, find_final_answer
from .base import AnswerFormat, Context, Found, Item

_ASKS_FOR_A_LIST_RE = re.compile(r"separated by commas|enter all (?:the )?(?:possible |real |complex )?(?:solutions|values|roots|answers)",
                                 re.IGNORECASE)
_GROUPED_RE = re.compile(r"-?\d{1,3}(?:,\d{3})+")


def listed_gold(gold: str, context: Context) -> str:
    """A gold of comma-grouped digits read as a list when its question asks for one: `70,110` -> `70, 110`."""
    if _GROUPED_RE.fullmatch(gold.strip()) and _ASKS_FOR_A_LIST_RE.search(str(context.get("question", ""))):
        return ", ".join(part.strip() for part in gold.split(","))
    return gold


class _MathFormat(AnswerFormat):
    grading = GRADING
    shows_work = True

    def gold_answer(self, raw: str, context: Context) -> str | None:
        """A local row's answer column: its last box, else what follows `####`, else the text itself."""
        boxed = boxed_answer(raw)
        gold = boxed[1] if boxed else (raw.rsplit("####", 1)[1] if "####" in raw else raw)
        gold = gold.strip()
        return gold if gold_is_parseable(gold) else None

    def find(self, text: str, context: Context) -> Found | None:
        found = find_final_answer(text)
        return Found(found.start, found.text, found.end, found.style) if found else None

    def reached_value(self, found: str, gold: str, context: Context) -> str | None:
        return gold  # found verified equal to it; the gold is written cleanly ("6" where found reads "6.]")

    def judge_many(self, items: Sequence[Item]) -> list[bool]:
        return answers_match_many([(listed_gold(i.gold, i.context), i.answer) for i in items])


class Boxed(_MathFormat):
    name = "boxed"
    instruction = "Solve the problem step by step. Put the final answer in \\boxed{}."
    own_style = "boxed"

    def in_place(self, answer: str) -> str:
        return f"\\boxed{{{answer}}}"

    def final_line(self, answer: str) -> str:
        return f"The final answer is $\\boxed{{{answer}}}$."


class Hash(_MathFormat):
    name = "hash"
    instruction = 'Solve the problem step by step. Write the final answer on the last line as "#### <answer>".'
    own_style = "hash"

    def in_place(self, answer: str) -> str:
        return f"#### {answer}"

    def keeps_written(self, written: str) -> bool:
        return written.strip() == f"#### {written.strip()[4:].strip()}" and len(written.split()) == 2  # "#### 18", not "#### 18 dollars"

    def final_line(self, answer: str) -> str:
        return f"#### {answer}"
