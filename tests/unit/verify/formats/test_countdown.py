"""`countdown`: any expression over exactly the given numbers that reaches the target is right."""

from __future__ import annotations

import pytest

from expo_lite.data.countdown import generate_problems, make_problem
from expo_lite.verify.formats import answer_format

COUNTDOWN = answer_format("countdown")
ROW = {"numbers": [2, 3, 5, 7], "target": 54}

CASES = [  # (completion, right?)
    ("3 + 5 = 8, 8 * 7 = 56, 56 - 2 = 54.\nThe final answer is $\\boxed{(3 + 5) * 7 - 2}$.", True),
    ("Another way: 5 + 3 = 8 ... $\\boxed{7 \\times (5 + 3) - 2}$", True),  # not the stored solution
    ("\\boxed{(3+5) \\cdot 7 - 2 = 54}", True),
    ("#### (5 + 3) x 7 - 2", True),
    ("The answer is ((3 + 5) * 7) - 2.", True),
    ("\\boxed{\\frac{(3 + 5) \\times 7 \\times 2}{2} - 2}", False),  # 2 used three times
    ("\\boxed{7 * 8 - 2}", False),  # 8 is not one of the numbers
    ("\\boxed{(3 + 5) * 7}", False),  # 2 unused, and 56
    ("\\boxed{(3 + 5) * 7 - 3}", False),
    ("\\boxed{-2 + (3 + 5) * 7}", False),  # unary minus: the numbers are used as given
    ("\\boxed{(3 + 5) * 7 - 2 ** 1}", False),
    ("\\boxed{7 / (5 - 5) + 3 - 2}", False),  # division by zero
    ("The answer is 54.", False),
    ("I could not find one.", False),
]


@pytest.mark.parametrize(("completion", "right"), CASES)
def test_verdicts_both_ways(completion, right):
    assert COUNTDOWN.are_correct([completion], ["(3 + 5) * 7 - 2"], [ROW]) == [right]


def test_a_target_keeps_its_own_expression():
    own = COUNTDOWN.found_answer("\\boxed{7 \\times (5 + 3) - 2}", ROW)
    assert own == "7 * (5 + 3) - 2"
    assert COUNTDOWN.target_answer(own, "(3 + 5) * 7 - 2") == own
    assert COUNTDOWN.found_answer(COUNTDOWN.final_line(own), ROW) == own


def test_generated_problems_are_solved_by_their_gold_and_seeded():
    problems = generate_problems(seed=3, levels=[1, 2, 3, 4, 5], per_level=40)
    for p in problems:
        row = {"numbers": list(p.numbers), "target": p.target}
        assert COUNTDOWN.gold_answer(p.expression, row) is not None, p
        assert len(p.numbers) == {1: 3, 2: 3, 3: 4, 4: 4, 5: 5}[p.level] and 1 <= p.target <= 1000
    assert make_problem(3, 4, 7) == generate_problems(3, [4], 8)[7]  # depends only on (seed, level, index)
    assert len({p.target for p in problems}) > 60  # not a handful of repeated puzzles
    assert COUNTDOWN.gold_answer("(3 + 5) * 7", ROW) is None  # a gold that does not solve its row is refused
