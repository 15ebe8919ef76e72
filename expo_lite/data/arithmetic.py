"""The embedded offline task: seeded multi-step arithmetic word problems in five difficulty levels.

Each problem comes with a written step-by-step solution (the "expert CoT" the baselines train on) and
a gold answer. Difficulty grows with the number of steps and the size of the numbers:

  level 1  one addition of single-digit numbers
  level 2  one addition or subtraction of two-digit numbers
  level 3  two steps: a small multiplication, then an addition or subtraction
  level 4  three steps with two-digit numbers
  level 5  four steps: multiplication, an exact division, an addition and a subtraction

A problem depends only on (seed, level, index), so growing `num_problems` never changes earlier ones.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

NAMES = ["Tom", "Ana", "Ben", "Mia", "Leo", "Sara", "Omar", "Lily", "Raj", "Emma", "Kofi", "Yuki"]
ITEMS = ["apples", "pencils", "stickers", "marbles", "cookies", "books", "shells", "cards", "coins", "stamps"]
CONTAINERS = ["boxes", "bags", "jars", "packs", "baskets", "crates"]


@dataclass(frozen=True)
class ArithmeticProblem:
    id: str
    level: int
    question: str
    solution: str  # step-by-step reasoning, without the final answer line
    answer: int


def _level1(r: random.Random, name: str, item: str) -> tuple[str, str, int]:
    a, b = r.randint(1, 5), r.randint(1, 5)
    q = f"{name} has {a} {item}. {name} gets {b} more {item}. How many {item} does {name} have now?"
    s = f"{name} starts with {a} {item} and gets {b} more, so {name} has {a} + {b} = {a + b} {item}."
    return q, s, a + b


def _level2(r: random.Random, name: str, item: str) -> tuple[str, str, int]:
    a, b = r.randint(20, 89), r.randint(11, 19)
    if r.random() < 0.5:
        q = f"{name} has {a} {item}. {name} buys {b} more. How many {item} does {name} have now?"
        s = f"{name} has {a} {item} and buys {b} more: {a} + {b} = {a + b}."
        return q, s, a + b
    q = f"{name} has {a} {item}. {name} gives away {b} of them. How many {item} does {name} have left?"
    s = f"{name} has {a} {item} and gives away {b}: {a} - {b} = {a - b}."
    return q, s, a - b


def _level3(r: random.Random, name: str, item: str) -> tuple[str, str, int]:
    box = r.choice(CONTAINERS)
    n, each, c = r.randint(2, 6), r.randint(3, 9), r.randint(2, 9)
    total = n * each
    if r.random() < 0.5:
        q = f"{name} buys {n} {box} with {each} {item} in each. Then {name} finds {c} more {item}. How many {item} does {name} have?"
        s = f"{n} {box} with {each} {item} each hold {n} * {each} = {total} {item}. Adding the {c} found: {total} + {c} = {total + c}."
        return q, s, total + c
    q = f"{name} buys {n} {box} with {each} {item} in each. Then {name} gives {c} {item} to a friend. How many {item} does {name} have left?"
    s = f"{n} {box} with {each} {item} each hold {n} * {each} = {total} {item}. After giving away {c}: {total} - {c} = {total - c}."
    return q, s, total - c


def _level4(r: random.Random, name: str, item: str) -> tuple[str, str, int]:
    box = r.choice(CONTAINERS)
    n, each, extra, lost = r.randint(3, 9), r.randint(12, 25), r.randint(10, 40), r.randint(10, 30)
    total = n * each
    q = (
        f"{name} has {n} {box} with {each} {item} in each. {name} buys another {extra} {item}, "
        f"then loses {lost} {item}. How many {item} does {name} have now?"
    )
    s = (
        f"First, {n} {box} of {each} {item} make {n} * {each} = {total} {item}. "
        f"Buying {extra} more gives {total} + {extra} = {total + extra}. "
        f"Losing {lost} leaves {total + extra} - {lost} = {total + extra - lost}."
    )
    return q, s, total + extra - lost


def _level5(r: random.Random, name: str, item: str) -> tuple[str, str, int]:
    box = r.choice(CONTAINERS)
    friends, each = r.randint(3, 7), r.randint(11, 19)
    n = friends * r.randint(2, 3)  # a multiple of `friends`, so the sharing divides exactly
    total = n * each
    per_friend = total // friends
    bonus, eaten = r.randint(15, 60), r.randint(5, 14)
    q = (
        f"{name} buys {n} {box} with {each} {item} in each and shares all of them equally among {friends} friends. "
        f"One friend then gets {bonus} more {item} from a neighbour and uses {eaten} of them. "
        f"How many {item} does that friend have now?"
    )
    s = (
        f"The {box} hold {n} * {each} = {total} {item}. Shared among {friends} friends, each gets "
        f"{total} / {friends} = {per_friend}. With {bonus} more the friend has {per_friend} + {bonus} = "
        f"{per_friend + bonus}. Using {eaten} leaves {per_friend + bonus} - {eaten} = {per_friend + bonus - eaten}."
    )
    return q, s, per_friend + bonus - eaten


_LEVELS = {1: _level1, 2: _level2, 3: _level3, 4: _level4, 5: _level5}


def make_problem(seed: int, level: int, index: int) -> ArithmeticProblem:
    r = random.Random(f"{seed}-{level}-{index}")
    name, item = r.choice(NAMES), r.choice(ITEMS)
    question, solution, answer = _LEVELS[level](r, name, item)
    return ArithmeticProblem(f"arith-s{seed}-L{level}-{index}", level, question, solution, answer)


def generate_problems(seed: int, levels: list[int], per_level: int, offset: int = 0) -> list[ArithmeticProblem]:
    """`per_level` problems for each level, indices offset..offset+per_level-1 (train and test use
    disjoint offsets)."""
    return [make_problem(seed, lv, offset + i) for lv in levels for i in range(per_level)]
