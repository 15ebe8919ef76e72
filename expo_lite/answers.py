"""Final-answer extraction and equivalence checking, and the binary reward built on them.

Extraction looks for a final-answer marker, in this order of preference: the last `\\boxed{...}`
(MATH style), the first `#### X` line (GSM8K style), then the last "the answer is X". A bare number
elsewhere never counts: a restated question is not an answer.

Equivalence uses math-verify, with the gold answer parsed first (math-verify is not symmetric).
Its timeouts use `signal.alarm`, which only works in the main thread; everywhere else we rely on the
size/nesting limits below, which keep sympy away from the inputs that make it hang. Nothing in here
raises into a trainer: any failure is "not equal".
"""

from __future__ import annotations

import re
import threading
from typing import Any

MAX_ANSWER_CHARS = 200  # gold answers in MATH/GSM8K are far shorter; longer is garbage or an attack
MAX_NESTING = 12  # braces/parentheses depth
MAX_DIGITS = 60  # a run of digits longer than this is not a competition answer
# Power towers ("9^9^9", "10^{10^{10}}") and huge exponents make sympy build astronomically large
# numbers; no competition answer needs either.
_TOWER_RE = re.compile(r"(\^|\*\*)\s*[{(]?[\w\s.+-]*(\^|\*\*)|(\^|\*\*)\s*[{(]?\s*-?\d{4,}")
TIMEOUT_SECONDS = 2

_HASH_RE = re.compile(r"####\s*([^\n]+)")
_ANSWER_IS_RE = re.compile(r"answer\s*(?:is|:|=)\s*:?\s*\$?([^\n$]+?)\$?\s*(?:\.\s*)?$", re.IGNORECASE | re.MULTILINE)
_NUMBER_COMMAS_RE = re.compile(r"(?<=\d),(?=\d{3}\b)")


def _last_boxed_span(text: str) -> tuple[int, int, str] | None:
    """(start of '\\boxed', end after '}', content) of the last balanced \\boxed{...} / \\fbox{...}."""
    start = max(text.rfind("\\boxed"), text.rfind("\\fbox"))
    if start < 0:
        return None
    brace = text.find("{", start)
    if brace < 0:
        return None
    depth = 0
    for i in range(brace, len(text)):
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                return start, i + 1, text[brace + 1 : i]
    return None


def last_boxed(text: str) -> str | None:
    span = _last_boxed_span(text)
    return span[2].strip() if span else None


def final_answer_span(text: str) -> tuple[int, str] | None:
    """(index where the final-answer marker starts, the answer) or None when the text gives none."""
    span = _last_boxed_span(text)
    if span:
        return span[0], span[2].strip()
    # GSM8K style: the first "#### X" line ends the answer (as lm-eval-harness reads it); what a model
    # babbles after it is not a second answer.
    m = _HASH_RE.search(text)
    if m:
        return m.start(), m.group(1).strip().rstrip(".").strip()
    said = list(_ANSWER_IS_RE.finditer(text))
    if said:
        m = said[-1]
        return m.start(), m.group(1).strip().rstrip(".").strip()
    return None


def sentence_start(text: str, index: int) -> int:
    """Start of the sentence (or line) holding position `index`: where the final-answer statement begins."""
    best = 0
    for sep in ("\n", ". ", "! ", "? "):
        found = text.rfind(sep, 0, index)
        if found >= 0:
            best = max(best, found + len(sep))
    return best


def extract_final_answer(text: str) -> str | None:
    found = final_answer_span(text)
    return found[1] if found and found[1] else None


def normalize(answer: str) -> str:
    """Cheap canonical form for the string-equality fast path (and for GSM8K gold answers)."""
    a = answer.strip().strip("$").strip()
    a = _NUMBER_COMMAS_RE.sub("", a)
    a = re.sub(r"\\[,!; ]", "", a)  # LaTeX spacing
    a = re.sub(r"(?<!\d)\s+|\s+(?!\d)", "", a)  # "1 2" stays apart: it is not 12
    return a.rstrip(".")


def _too_hostile(answer: str) -> bool:
    if len(answer) > MAX_ANSWER_CHARS:
        return True
    depth = deepest = 0
    for ch in answer:
        if ch in "{([":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "})]":
            depth -= 1
    if deepest > MAX_NESTING:
        return True
    if any(len(run) > MAX_DIGITS for run in re.findall(r"\d+", answer)):
        return True
    return bool(_TOWER_RE.search(answer)) or answer.count("!") > 2


def _parse(answer: str, timeout: int | None) -> list[Any]:
    from math_verify import parse

    return parse(f"${answer}$", parsing_timeout=timeout)


def answers_match(gold: str, predicted: str | None) -> bool:
    """True when `predicted` is mathematically equal to `gold`. Never raises, returns in bounded time."""
    if predicted is None or not predicted.strip():
        return False
    try:
        if normalize(gold) == normalize(predicted):
            return True
        if _too_hostile(predicted) or _too_hostile(gold):
            return False
        from math_verify import verify

        timeout = TIMEOUT_SECONDS if threading.current_thread() is threading.main_thread() else None
        gold_parsed = _parse(normalize_for_parse(gold), timeout)
        pred_parsed = _parse(normalize_for_parse(predicted), timeout)
        if not gold_parsed or not pred_parsed:
            return False
        return bool(verify(gold_parsed, pred_parsed, timeout_seconds=timeout))
    except Exception:  # noqa: BLE001 - a verifier failure is a wrong answer, never a crashed trainer
        return False


def normalize_for_parse(answer: str) -> str:
    a = answer.strip().strip("$")
    return _NUMBER_COMMAS_RE.sub("", a)


def _braces_balanced(text: str) -> bool:
    depth = 0
    for ch in text:
        depth += {"{": 1, "}": -1}.get(ch, 0)
        if depth < 0:
            return False
    return depth == 0


def gold_is_parseable(gold: str) -> bool:
    """A gold answer we can check against: non-empty, sane, and something math-verify can parse.

    math-verify keeps the raw string as a fallback parse, so "parses" alone accepts garbage such as
    `}}{{`; a gold answer must also have balanced braces and at least one letter or digit (text answers
    like `Monday` or `\\text{(C)}` stay valid: they are compared as strings)."""
    if not gold or not gold.strip() or _too_hostile(gold):
        return False
    if not _braces_balanced(gold) or not any(ch.isalnum() for ch in gold):
        return False
    try:
        timeout = TIMEOUT_SECONDS if threading.current_thread() is threading.main_thread() else None
        return bool(_parse(normalize_for_parse(gold), timeout))
    except Exception:  # noqa: BLE001
        return False


def is_correct(completion: str, gold: str) -> bool:
    return answers_match(gold, extract_final_answer(completion))


def completion_text(completion: Any) -> str:
    """TRL passes completions as strings, or as chat messages for conversational datasets."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list) and completion and isinstance(completion[-1], dict):
        return str(completion[-1].get("content", ""))
    return str(completion)


def correctness_reward(completions: list[Any], answer: list[str], **_: Any) -> list[float]:
    """TRL reward function: 1.0 when the completion's final answer equals the `answer` column, else 0.0."""
    return [1.0 if is_correct(completion_text(c), str(a)) else 0.0 for c, a in zip(completions, answer, strict=True)]


correctness_reward.__name__ = "correctness"
