"""The verifier: is a completion's final answer equal to the gold answer? And the TRL reward built on it.

Everything that grades goes through here: GRPO's reward, the validity check of every self-explanation,
the chosen/rejected split of ExP-DPO and every evaluation number. A wrong verdict is a wrong reward.

Two steps:
1. *Where* the answer is: extraction.py (last `\\boxed{}` - MATH/Minerva; first `#### N` - GSM8K as
   lm-eval-harness reads it, the number only; "final answer is X" - Minerva; "the answer is X").
   Only the isolated answer is compared, so trailing text cannot change a verdict.
2. *Whether it equals* the gold answer: math-verify (gold parsed first; its comparison is not symmetric),
   run in a child process under a hard deadline (sympy_sandbox.py), so no input can hang or crash a
   trainer, in the main thread or any other. Two exact fast paths answer the common cases without sympy:
   identical text up to LaTeX spacing and `$`, and plain numbers (exact rational comparison).

Digit grouping is a property of one number: `1,000` and MATH's `1,\\!000` are 1000, but a comma between
two values separates them: `(4,112)` is a pair, `[3,100]` an interval, `70, 110` two values.
"""

from __future__ import annotations

import re
from fractions import Fraction
from typing import Any

from .extraction import find_final_answer
from .sympy_sandbox import SANDBOX

MAX_ANSWER_CHARS = 1000  # the longest MATH answers (matrices) are a few hundred characters; longer is not an answer

_LATEX_SPACE_RE = re.compile(r"\\[,!;: ]|\\q?quad\b|\\left\b|\\right\b")
_JUXTAPOSED_DIGITS_RE = re.compile(r"\d\s+\d")
_PLAIN_NUMBER_RE = re.compile(r"-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|-?\.\d+")


def _canonical(answer: str) -> str:
    """A spelling-level canonical form: LaTeX spacing, `$`, `\\$`, `dfrac`, and spaces are dropped, except
    between two digits ("1 2" is not 12) and after a comma ("70, 110" is two values, "70,110" one number)."""
    a = _LATEX_SPACE_RE.sub("", answer.replace("−", "-")).replace("\\$", "").strip().strip("$").strip()
    a = a.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac")
    a = re.sub(r"(?<![\d,])\s+|(?<!,)\s+(?!\d)", "", a)
    return a.rstrip(".")


def _plain_number(canonical: str) -> Fraction | None:
    """The exact value of a plain decimal number (thousands groups allowed only in a lone number)."""
    if not _PLAIN_NUMBER_RE.fullmatch(canonical):
        return None
    try:
        return Fraction(canonical.replace(",", ""))
    except (ValueError, ZeroDivisionError):
        return None


def normalize(answer: str) -> str:
    """Canonical text of a gold answer (GSM8K's `#### 1,000` is stored as `1000`)."""
    a = _canonical(answer)
    return a.replace(",", "") if _plain_number(a) is not None else a


def _quick_verdict(gold: str, pred: str) -> bool | None:
    """True/False when decidable without sympy, else None."""
    if not gold.strip() or not pred.strip() or len(gold) > MAX_ANSWER_CHARS or len(pred) > MAX_ANSWER_CHARS:
        return False
    g, p = _canonical(gold), _canonical(pred)
    if g == p:
        return True
    if _JUXTAPOSED_DIGITS_RE.search(p):  # math-verify reads "5 4" as 9 (a mixed number); it is no single answer
        return False
    g_value, p_value = _plain_number(g), _plain_number(p)
    if g_value is not None and p_value is not None:
        if g_value == p_value:
            return True
        if "." not in g + p:  # two different integers; decimals go to math-verify for its rounding rules
            return False
    return None


def _for_sympy(answer: str) -> str:
    """The answer as math-verify's LaTeX parser should see it. Python's `**` becomes `^`: the parser reads
    `2**3` as 2 (it stops at the first `*`), which would grade a wrong answer right."""
    return answer.strip().strip("$").strip().replace("**", "^")


def answers_match_many(pairs: list[tuple[str, str | None]]) -> list[bool]:
    """answers_match for many (gold, predicted) pairs at once: one pipelined trip to the sandbox."""
    verdicts: list[bool | None] = [False if p is None else _quick_verdict(g, p) for g, p in pairs]
    pending = [i for i, v in enumerate(verdicts) if v is None]
    if pending:
        requests = [{"op": "match", "gold": _for_sympy(pairs[i][0]), "pred": _for_sympy(pairs[i][1] or "")}
                    for i in pending]
        for i, verdict in zip(pending, SANDBOX.run(requests), strict=True):
            verdicts[i] = verdict
    return [bool(v) for v in verdicts]


def answers_match(gold: str, predicted: str | None) -> bool:
    """True when `predicted` is mathematically equal to `gold`. Never raises, returns in bounded time."""
    return answers_match_many([(gold, predicted)])[0]


def _braces_balanced(text: str) -> bool:
    depth = 0
    for ch in text:
        depth += {"{": 1, "}": -1}.get(ch, 0)
        if depth < 0:
            return False
    return depth == 0


def gold_is_parseable(gold: str) -> bool:
    """A gold answer we can check against: non-empty, balanced braces, a letter or digit, and something
    math-verify parses within the deadline. (math-verify keeps the raw string as a fallback parse, so
    "parses" alone would accept garbage such as `}}{{`; text answers like `\\text{(C)}` stay valid.)"""
    if not gold or not gold.strip() or len(gold) > MAX_ANSWER_CHARS:
        return False
    if not _braces_balanced(gold) or not any(ch.isalnum() for ch in gold):
        return False
    if _plain_number(_canonical(gold)) is not None:
        return True
    return SANDBOX.parses(_for_sympy(gold))


def extract_final_answer(text: str) -> str | None:
    found = find_final_answer(text)
    return found.text if found else None


def final_answer_span(text: str) -> tuple[int, str] | None:
    """(index where the final-answer statement's marker starts, the answer) or None."""
    found = find_final_answer(text)
    return (found.start, found.text) if found else None


def is_correct(completion: str, gold: str) -> bool:
    return answers_match(gold, extract_final_answer(completion))


def are_correct(completions: list[str], golds: list[str]) -> list[bool]:
    """is_correct for a batch (one trip to the sandbox)."""
    return answers_match_many([(g, extract_final_answer(c)) for c, g in zip(completions, golds, strict=True)])


def completion_text(completion: Any) -> str:
    """TRL passes completions as strings, or as chat messages for conversational datasets."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list) and completion and isinstance(completion[-1], dict):
        return str(completion[-1].get("content", ""))
    return str(completion)


def correctness_reward(completions: list[Any], answer: list[str], **_: Any) -> list[float]:
    """TRL reward function: 1.0 when the completion's final answer equals the `answer` column, else 0.0."""
    verdicts = are_correct([completion_text(c) for c in completions], [str(a) for a in answer])
    return [1.0 if v else 0.0 for v in verdicts]


correctness_reward.__name__ = "correctness"
