"""`exact`: short text answers (TriviaQA, Natural Questions, SQuAD, yes/no, entity names), compared after the
SQuAD / TriviaQA normalisation: lower case, punctuation, the articles a / an / the and extra whitespace
removed. A row may list accepted `aliases` (TriviaQA's `answer.aliases`); any of them, or the gold, matches.

Where the answer is: the last `\\boxed{X}`, else the first `#### X` line, else the last "final answer is X",
else the last "the answer is X" / "Answer: X". X runs to the end of its sentence or line and stops where a
justification starts ("because", "since", "which", "; ", " (", " - "), but not at "and" or "of": "Romeo and
Juliet" and "The Lord of the Rings" are one answer each. Nothing else of the completion is read, so a gold
word mentioned in the reasoning is not an answer.
"""

from __future__ import annotations

import re
import string
from collections.abc import Sequence

from ..extraction import boxes
from .base import HASH_LINE_RE, AnswerFormat, Context, Found, Item

_FINAL_RE = re.compile(r"final\s+answer\s*(?:is|:)\s*:?", re.IGNORECASE)
_ANSWER_RE = re.compile(r"\banswer\s*(?:is|:)\s*:?", re.IGNORECASE)
_END_RE = re.compile(r"[.!?](?=\s|$)|\n")
_STOP_RE = re.compile(r",?\s+(?:because|since|which|as it|as this|as the)\b|;|\s+\(|\s+[-—–]{1,2}\s", re.IGNORECASE)
_ARTICLES_RE = re.compile(r"\b(?:a|an|the)\b")
_TEXT_RE = re.compile(r"\\text\{([^{}]*)\}")


def normalise(text: str) -> str:
    """SQuAD's normalize_answer: lower case, no punctuation, no articles, single spaces."""
    text = "".join(ch for ch in text.lower() if ch not in set(string.punctuation))
    return " ".join(_ARTICLES_RE.sub(" ", text).split())


def _clause(rest: str) -> str:
    rest = rest.lstrip(" \t:*_")
    line = rest.split("\n", 1)[0]
    end = _END_RE.search(line)
    clause = line[: end.start()] if end else line
    stop = _STOP_RE.search(clause)
    clause = clause[: stop.start()] if stop else clause
    return _TEXT_RE.sub(r"\1", clause.replace("**", "")).strip().strip("$\"'").strip()


class Exact(AnswerFormat):
    name = "exact"
    instruction = "Think step by step, then finish with the line \"The answer is <answer>.\""
    grading = ("the last \\boxed{X}, else the first `#### X` line, else the last \"final answer is X\" / \"the answer "
               "is X\"; X is compared with the gold answer and the row's aliases after SQuAD's normalisation (case, "
               "punctuation, articles, whitespace)")

    def gold_answer(self, raw: str, context: Context) -> str | None:
        gold = raw.strip()
        return gold if normalise(gold) else None

    def find(self, text: str, context: Context) -> Found | None:
        boxed = boxes(text)
        if boxed and _clause(boxed[-1][2]):
            return Found(boxed[-1][0], _clause(boxed[-1][2]))
        line = HASH_LINE_RE.search(text)
        if line and _clause(line.group(1)):
            return Found(line.start(), _clause(line.group(1)))
        for marker in (_FINAL_RE, _ANSWER_RE):
            for m in reversed(list(marker.finditer(text))):
                clause = _clause(text[m.end() :])
                if clause:
                    return Found(m.start(), clause)
        return None

    def judge_many(self, items: Sequence[Item]) -> list[bool]:
        verdicts = []
        for item in items:
            accepted = {normalise(item.gold), *(normalise(str(a)) for a in item.context.get("aliases") or [])}
            verdicts.append(item.answer is not None and normalise(item.answer) in accepted - {""})
        return verdicts

    def final_line(self, answer: str) -> str:
        return f"The answer is {answer}."
