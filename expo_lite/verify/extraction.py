"""Where a model states its final answer, and what that answer is.

The verifier is the training signal, so extraction is strict about *where* an answer is and never
guesses from what follows it: trailing checks, justifications and restatements ("The answer is 5
because 9 - 5 = 4.") must not turn a wrong answer into a right one. math-verify's whole-text parse reads
that example as 4 (its "answer ... = X" pattern prefers the rightmost equals sign), so we first isolate
the answer span ourselves and hand math-verify only the span (answers.py compares it).

Conventions, in order of preference (the first style present wins; within a style, as noted). They are the
same for every task: a task's answer format (`#### N` or `\boxed{}`) only chooses what the prompt asks for,
so a completion with both `#### 5` and `\boxed{7}` answers 7 on a GSM8K-style task too (GRADING says it in
one sentence for `expo-lite data` and the README):

  boxed         the last `\\boxed{...}` / `\\fbox{...}` / `\\boxed X` - MATH and Minerva's convention, as in
                math-verify and lm-eval-harness's minerva_math. Boxes right before it that are joined
                only by "," / "and" / "or" are one multi-valued answer (MATH's "enter all solutions"
                answers are written `$\\boxed{1}$ and $\\boxed{-2}$`): they are joined as `1, -2`.
  hash          the first `#### X` line - GSM8K's format as lm-eval-harness reads it ("strict-match"):
                a number followed by words is the number only (`#### 18 dollars` is 18), and a model's
                later lines are not a second answer. X is cut like a sentence-style clause (below), so
                `#### 109 (as 98 + 1 = 99)` is 109. Stricter than lm-eval's regex, which reads the
                leading digits only: an expression (`#### 2^{10}`, `#### 3/4`) is read whole.
  final answer  "final answer is X" / "Final Answer: X" (Minerva's "Final Answer: The final answer is X.
                I hope it is correct."), the last one.
  answer is     "the answer is X" / "Answer: X", the last one.

For the two sentence styles X is the first clause after the marker: a math environment (`$...$`,
`\\(...\\)`) if the clause starts with one (markdown bold is ignored), else the text up to the end of the sentence or
a word that starts a justification ("because", "since", "check", ...). A clause that starts with a
number is that number (a unit or a noun after it is dropped: "18 eggs" is 18). `x = 5` reads as 5; a
plain-arithmetic equation `48 + 24 = 72` reads as its right side only when the left side computes it.
"""

from __future__ import annotations

import ast
import operator
import re
from dataclasses import dataclass
from fractions import Fraction

GRADING = ("the first of these present in a completion: its last \\boxed{} (MATH / Minerva), its first `#### N` "
           "line, the number only (GSM8K as lm-eval-harness reads it), its last \"final answer is X\", its last "
           "\"the answer is X\"; compared with the gold answer by math-verify. The same for every task: the answer "
           "format only sets what the prompt asks for")


@dataclass(frozen=True)
class FinalAnswer:
    start: int  # index in the text where the final-answer statement's marker starts
    text: str  # the answer, as written (LaTeX or plain)
    style: str  # "boxed" | "hash" | "final_answer" | "answer_is"
    end: int = -1  # index just past the answer as written (the last box's `}`, the end of the `####` line or clause)


# ------------------------------------------------------------------------------------ boxed


_BOX_RE = re.compile(r"\\(?:boxed|fbox)\b\s*")
# What may stand between two boxes of one multi-valued answer: "," / "and" / "or", `$`, and a repeated
# "x =" ("$x = \\boxed{1}$ and $x = \\boxed{-2}$").
_JOINER_RE = re.compile(r"^[\s$,]*(?:(?:,?\s*and|,?\s*or|,)[\s$]*)?(?:[A-Za-z]\s*=\s*)?$")


def group_end(text: str, brace: int) -> int | None:
    """Index just past the `}` that closes the `{` at `brace`; None when it never closes."""
    depth = 0
    for j in range(brace, len(text)):
        if text[j] == "{":
            depth += 1
        elif text[j] == "}":
            depth -= 1
            if depth == 0:
                return j + 1
    return None


def boxes(text: str) -> list[tuple[int, int, str]]:
    """(start, end, content) of every \\boxed{...} / \\fbox{...} / \\boxed X, in order of appearance."""
    found = []
    for m in _BOX_RE.finditer(text):
        i = m.end()
        if i < len(text) and text[i] == "{":
            end = group_end(text, i)
            if end is not None:
                found.append((m.start(), end, text[i + 1 : end - 1].strip()))
        elif m.end() > m.start() + len("\\boxed") and i < len(text):  # `\boxed 8`: one token, no braces
            token = re.match(r"[^\s$]+", text[i:])
            if token:
                value = token.group().rstrip(".,;")
                if value:
                    found.append((m.start(), i + len(value), value))
    return found


def last_boxed(text: str) -> str | None:
    """Content of the last box (alone, never joined): how MATH solutions are read by most tools."""
    found = boxes(text)
    return found[-1][2] if found else None


def boxed_answer(text: str) -> tuple[int, str, int] | None:
    """(start, answer, end) of the last box, joined with the boxes right before it that form one answer."""
    found = boxes(text)
    if not found:
        return None
    k = len(found) - 1
    while k > 0 and _JOINER_RE.match(text[found[k - 1][1] : found[k][0]]):
        k -= 1
    contents = [b[2] for b in found[k:] if b[2]]
    return (found[k][0], ", ".join(contents), found[-1][1]) if contents else None


# ------------------------------------------------------------------------------------ #### N


_HASH_RE = re.compile(r"####[ \t]*([^\n]*)")
def hash_answer(text: str) -> tuple[int, str, int] | None:
    """The first `#### X` line, read like a sentence-style answer clause (see `_first_clause`): (start, answer, end
    of the line)."""
    m = _HASH_RE.search(text)
    if not m:
        return None
    value = _plain_value(_first_clause(m.group(1)))
    return (m.start(), value, m.end()) if value else None


# ------------------------------------------------------------------------------------ sentences


_FINAL_RE = re.compile(r"final\s+answer\s*(?:is|:|=)\s*:?", re.IGNORECASE)
_ANSWER_RE = re.compile(r"\banswer\s*(?:is|:|=)\s*:?", re.IGNORECASE)
_MINERVA_PREFIX_RE = re.compile(r"^\s*the\s+final\s+answer\s+is\s*:?", re.IGNORECASE)
# A word that starts a justification, a check or a restatement after the answer.
_CLAUSE_STOP_RE = re.compile(
    r"\s+(?:because|since|as|so|which|where|given|from|by|when|if|and|but|hence|thus|therefore|then|"
    r"i\.e\.|e\.g\.|check|checking|verify|wait|or)\b|\s+\(|\s+—|\s+--|;|\s+=>|\s+⇒",
    re.IGNORECASE,
)
_SENTENCE_END_RE = re.compile(r"[.!?](?=\s|$)|\n")
_NUMBER_THEN_UNIT_RE = re.compile(
    r"^(?:\\?\$\s*)?(-?\d[\d,]*(?:\.\d+)?(?:\s*/\s*\d+)?)(\s*\\?%)?(?:\s+[A-Za-z][A-Za-z .'-]*)?$"
)
_NAME_EQUALS_RE = re.compile(r"^[A-Za-z](?:_\{?\w+\}?)?\s*=\s*(.+)$")


def _strip_markup(text: str) -> str:
    return text.replace("**", "").replace("__", "").strip()


def _math_env(clause: str) -> str | None:
    """Content of a leading $...$, $$...$$, \\(...\\) or \\[...\\]."""
    for opener, closer in (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]")):
        if clause.startswith(opener):
            end = clause.find(closer, len(opener))
            return clause[len(opener) : end].strip() if end > 0 else None
    return None


def _first_clause(rest: str) -> str:
    """The answer clause right after an "answer is" marker (see the module docstring)."""
    rest = rest.lstrip(" \t:*_")
    rest = _MINERVA_PREFIX_RE.sub("", rest).lstrip(" \t:*_")  # "Final Answer: The final answer is X"
    line = rest.split("\n", 1)[0]
    env = _math_env(line)
    if env is not None:
        return env
    end = _SENTENCE_END_RE.search(line)
    clause = line[: end.start()] if end else line
    stop = _CLAUSE_STOP_RE.search(clause)
    clause = clause[: stop.start()] if stop else clause
    return _strip_markup(clause).strip().rstrip(".,:").strip()


def _plain_value(clause: str) -> str | None:
    """Read a plain-text clause: a number (units dropped), `x = v`, or a checked arithmetic equation."""
    clause = clause.replace("−", "-").strip()
    number = _NUMBER_THEN_UNIT_RE.match(clause)
    if number:
        return number.group(1).replace(" ", "") + ("\\%" if number.group(2) else "")
    named = _NAME_EQUALS_RE.match(clause)
    if named:
        return named.group(1).strip()
    if clause.count("=") == 1 and "\\" not in clause:
        lhs, rhs = (side.strip() for side in clause.split("="))
        left, right = arithmetic_value(lhs), arithmetic_value(rhs)
        if left is not None and right is not None:
            return rhs if left == right else None  # "5 = 4" is no answer at all
    return clause or None


def answer_sentence(text: str) -> tuple[int, str, int] | None:
    """The last "the answer is X" of a text: (where its marker starts, X, where its sentence ends), or None."""
    return _sentence_answer(text, _ANSWER_RE)


def _sentence_answer(text: str, marker: re.Pattern[str]) -> tuple[int, str, int] | None:
    """(start of the last marker followed by an answer, the answer, end of the sentence that states it)."""
    found = list(marker.finditer(text))
    for m in reversed(found):
        value = _plain_value(_first_clause(text[m.end() :]))
        if value:
            end = _SENTENCE_END_RE.search(text, m.end())
            return m.start(), value, end.start() if end else len(text)
    return None


# ------------------------------------------------------------------------------------ all styles


def find_final_answer(text: str) -> FinalAnswer | None:
    """The final answer of a completion, by the conventions in the module docstring."""
    for style, finder in (
        ("boxed", boxed_answer),
        ("hash", hash_answer),
        ("final_answer", lambda t: _sentence_answer(t, _FINAL_RE)),
        ("answer_is", lambda t: _sentence_answer(t, _ANSWER_RE)),
    ):
        found = finder(text)
        if found is not None and found[1]:
            return FinalAnswer(found[0], found[1], style, found[2])
    return None


def sentence_start(text: str, index: int) -> int:
    """Start of the sentence (or line) holding position `index`: where the final-answer statement begins."""
    best = 0
    for sep in ("\n", ". ", "! ", "? "):
        found = text.rfind(sep, 0, index)
        if found >= 0:
            best = max(best, found + len(sep))
    return best


# ------------------------------------------------------------------------------------ arithmetic


_OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}


def arithmetic_value(expr: str) -> Fraction | None:
    """Exact value of plain arithmetic (numbers, + - * / x, parentheses), or None; short inputs only."""
    expr = re.sub(r"(?<=\d)\s*[x×]\s*(?=\d)", "*", expr).replace("÷", "/").replace(",", "").replace("$", "")
    if len(expr) > 80 or not re.fullmatch(r"[\d\s.+\-*/()]+", expr):
        return None
    try:
        return exact_value(ast.parse(expr, mode="eval").body)
    except (SyntaxError, ValueError, ZeroDivisionError):
        return None


MAX_POWER_BITS = 4096  # 2^4096 is plenty for competition arithmetic, and evaluates at once


def exact_value(node: ast.AST, powers: bool = False) -> Fraction:
    """The exact value of an arithmetic syntax tree (numbers, + - * /, unary minus); ValueError on anything else.
    `powers`: also a unary plus and `**` by an integer small enough to evaluate at once (LaTeX arithmetic)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float) and not isinstance(node.value, bool):
        return Fraction(str(node.value))
    if isinstance(node, ast.UnaryOp) and (isinstance(node.op, ast.USub) or (powers and isinstance(node.op, ast.UAdd))):
        value = exact_value(node.operand, powers)
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
        return _OPS[type(node.op)](exact_value(node.left, powers), exact_value(node.right, powers))
    if powers and isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow):
        left, right = exact_value(node.left, powers), exact_value(node.right, powers)
        bits = max(abs(left.numerator).bit_length(), abs(left.denominator).bit_length())
        if right.denominator != 1 or abs(right) * bits > MAX_POWER_BITS:
            raise ValueError("not a small integer power")
        return left ** int(right)
    raise ValueError("not arithmetic")
