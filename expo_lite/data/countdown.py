"""The embedded countdown task: reach a target from given numbers with + - * /, each number used once.

Not arithmetic word problems and not one answer: most targets can be reached several ways, and the verifier
(verify/formats/countdown.py) accepts any of them. Each problem is built backwards from a random expression
over its numbers, so it has at least that solution, which is the gold answer (the one ExPO's hint shows)
and, written out step by step, the expert solution the baselines train on. Five levels:

  level 1  3 numbers from 1-9, + and -
  level 2  3 numbers from 1-20, + - *
  level 3  4 numbers from 1-20, + - *
  level 4  4 numbers from 1-50, + - * /
  level 5  5 numbers from 1-50, + - * /

Every intermediate result is a whole number from 0 to 1,000 and the target is from 1 to 1,000. A problem
depends only on (seed, level, index), as the arithmetic task's do.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

LEVELS = {1: (3, 9, "+-"), 2: (3, 20, "+-*"), 3: (4, 20, "+-*"), 4: (4, 50, "+-*/"), 5: (5, 50, "+-*/")}
MAX_VALUE = 1000


@dataclass(frozen=True)
class CountdownProblem:
    id: str
    level: int
    numbers: tuple[int, ...]  # in the order the question lists them
    target: int
    expression: str  # one solution
    solution: str  # its steps, without the final answer line


def _combine(r: random.Random, a: tuple[str, int], b: tuple[str, int], ops: str) -> tuple[str, int, str] | None:
    """a op b for a random allowed op with a whole result in range, as (expression, value, step text)."""
    for op in r.sample(ops, len(ops)):
        x, y = (a, b) if op not in "-/" or a[1] >= b[1] else (b, a)
        if op == "+":
            value = x[1] + y[1]
        elif op == "-":
            value = x[1] - y[1]
        elif op == "*":
            value = x[1] * y[1]
        elif y[1] in (0, 1) or x[1] % y[1]:
            continue
        else:
            value = x[1] // y[1]
        if 0 <= value <= MAX_VALUE:
            wrap = [f"({e})" if any(c in e for c in "+-*/") else e for e, _ in (x, y)]
            return f"{wrap[0]} {op} {wrap[1]}", value, f"{x[1]} {op} {y[1]} = {value}"
    return None


def make_problem(seed: int, level: int, index: int) -> CountdownProblem:
    count, high, ops = LEVELS[level]
    r = random.Random(f"countdown-{seed}-{level}-{index}")
    while True:
        numbers = [r.randint(1, high) for _ in range(count)]
        items = [(str(n), n) for n in numbers]
        steps = []
        while len(items) > 1:
            i, j = r.sample(range(len(items)), 2)
            made = _combine(r, items[i], items[j], ops)
            if made is None:
                break
            items = [x for k, x in enumerate(items) if k not in (i, j)] + [(made[0], made[1])]
            steps.append(made[2])
        if len(items) == 1 and 1 <= items[0][1] <= MAX_VALUE and items[0][1] not in numbers:
            break
    shown = r.sample(numbers, len(numbers))
    solution = " ".join(f"{step}." for step in steps) + f" This uses {', '.join(map(str, numbers))} once each."
    return CountdownProblem(f"countdown-s{seed}-L{level}-{index}", level, tuple(shown), items[0][1], items[0][0],
                            solution)


def question(numbers: tuple[int, ...], target: int) -> str:
    listed = ", ".join(map(str, numbers[:-1])) + f" and {numbers[-1]}"
    return (f"Using the numbers {listed}, write an expression that equals {target}. You may use +, -, * and / and "
            f"parentheses, and must use each number exactly once.")


def generate_problems(seed: int, levels: list[int], per_level: int, offset: int = 0) -> list[CountdownProblem]:
    return [make_problem(seed, lv, offset + i) for lv in levels for i in range(per_level)]
