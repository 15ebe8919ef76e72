"""`countdown`: reach a target with given numbers and + - * /, each number used exactly once - the game
hobbyists use to reproduce GRPO on small models (TinyZero's "Countdown"). A task with several correct
answers: 54 from 2, 3, 5 and 7 is `(3 + 5) * 7 - 2`, and equally `7 * (5 + 3) - 2`; `7 * 8 - 2` is not (8 is
not one of the numbers).

Where the answer is: the last `\\boxed{...}`, else the first `#### ...` line, else the last "the answer is ..."
sentence. The expression may be LaTeX (`\\times`, `\\cdot`, `\\div`, `\\frac{a}{b}`, `\\left(`) or plain (`*`, `x`,
`×`, `/`, `÷`); "expression = target" is read as the expression. It is right when it is built from numbers,
+ - * / and parentheses only (no unary minus, no other operators), uses exactly the row's `numbers` (as a
multiset), and its exact value (fractions, no rounding) is the row's `target`. The gold is one known solution:
ExPO conditions the self-explanation on it, but an explanation that reaches the target another valid way is
judged right and trained on with its own expression (`several_answers`).
"""

from __future__ import annotations

import ast
import operator
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from fractions import Fraction

from ..extraction import boxes
from .base import HASH_LINE_RE, AnswerFormat, Context, Found, Item

_ANSWER_RE = re.compile(r"\banswer\s*(?:is|:)\s*:?", re.IGNORECASE)
_FRAC_RE = re.compile(r"\\[dt]?frac\s*\{([^{}]*)\}\s*\{([^{}]*)\}")
_OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}
MAX_EXPRESSION_CHARS = 200


def plain_expression(text: str) -> str:
    """LaTeX or prose arithmetic as a Python expression: `(3+5) \\times 7 - 2` -> `(3+5) * 7 - 2`."""
    expr = text.strip().strip("$").strip()
    for _ in range(3):
        expr = _FRAC_RE.sub(r"((\1)/(\2))", expr)
    for latex, plain in (("\\times", "*"), ("\\cdot", "*"), ("\\div", "/"), ("×", "*"), ("÷", "/"), ("−", "-"),
                         ("\\left", ""), ("\\right", ""), ("\\,", ""), ("\\!", ""), ("{", "("), ("}", ")")):
        expr = expr.replace(latex, plain)
    expr = re.sub(r"(?<=[\d)])\s*x\s*(?=[\d(])", "*", expr)
    if "=" in expr:
        sides = [s.strip() for s in expr.split("=") if s.strip()]
        expr = max(sides, key=lambda s: len(re.findall(r"\d+", s)), default="")  # the side that uses the numbers
    return " ".join(expr.rstrip(".").split())


def evaluate(expr: str) -> tuple[Fraction, list[int]] | None:
    """(exact value, the integer literals used) of `expr`, or None when it is not + - * / over integers."""
    if not expr or len(expr) > MAX_EXPRESSION_CHARS:
        return None
    try:
        tree = ast.parse(expr, mode="eval").body
    except SyntaxError:
        return None
    used: list[int] = []

    def value(node: ast.AST) -> Fraction:
        if isinstance(node, ast.Constant) and type(node.value) is int:
            used.append(node.value)
            return Fraction(node.value)
        if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
            return _OPS[type(node.op)](value(node.left), value(node.right))
        raise ValueError(ast.dump(node)[:40])

    try:
        return value(tree), used
    except (ValueError, ZeroDivisionError):
        return None


def reaches(expr: str, numbers: Sequence[int], target: int) -> bool:
    result = evaluate(plain_expression(expr))
    return result is not None and result[0] == target and Counter(result[1]) == Counter(int(n) for n in numbers)


class Countdown(AnswerFormat):
    name = "countdown"
    several_answers = True
    shows_work = True
    instruction = ("Reason step by step, then write the final expression, using each given number exactly once, "
                   "in \\boxed{}.")
    grading = ("the last \\boxed{} expression (else a `#### ...` line or \"the answer is ...\"), right when it uses "
               "+ - * / and parentheses on exactly the given numbers, each once, and equals the target exactly; "
               "any such expression is right, not only the stored solution")

    def gold_answer(self, raw: str, context: Context) -> str | None:
        if "numbers" not in context or "target" not in context:
            return None
        gold = plain_expression(raw)
        return gold if reaches(gold, context["numbers"], int(context["target"])) else None

    def find(self, text: str, context: Context) -> Found | None:
        boxed = boxes(text)
        if boxed and plain_expression(boxed[-1][2]):
            return Found(boxed[-1][0], plain_expression(boxed[-1][2]))
        line = HASH_LINE_RE.search(text)
        if line and plain_expression(line.group(1)):
            return Found(line.start(), plain_expression(line.group(1)))
        for m in reversed(list(_ANSWER_RE.finditer(text))):
            clause = plain_expression(text[m.end() :].split("\n", 1)[0])
            if clause:
                return Found(m.start(), clause)
        return None

    def render_question(self, question: str, context: Context, layout: Mapping[str, str]) -> str:
        """The row's numbers and target after the question when its text does not state them all (a user's file
        may say only "Reach the target."); the embedded task's questions state them."""
        if "numbers" not in context or "target" not in context or not layout.get("numbers"):
            return question
        numbers, target = [str(int(n)) for n in context["numbers"]], int(context["target"])
        stated, wanted = re.findall(r"\d+", question), [*numbers, str(target)]
        if all(stated.count(n) >= wanted.count(n) for n in set(wanted)):
            return question
        line = layout["numbers"].format(numbers=", ".join(numbers), target=target)
        return question.rstrip() + "\n\n" + line

    def reached_value(self, found: str, gold: str, context: Context) -> str | None:
        return str(context["target"]) if "target" in context else None  # the work must arrive at the target

    def judge_many(self, items: Sequence[Item]) -> list[bool]:
        return [i.answer is not None and "numbers" in i.context and "target" in i.context
                and reaches(i.answer, i.context["numbers"], int(i.context["target"])) for i in items]

    def final_line(self, answer: str) -> str:
        return f"The final answer is $\\boxed{{{answer}}}$."
