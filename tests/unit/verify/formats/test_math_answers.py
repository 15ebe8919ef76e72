"""The math formats behind the interface: the conventions of verify/answers.py unchanged (tests/unit/verify/
test_answers.py runs untouched), plus the one thing a row adds - a question that asks for several values."""

from __future__ import annotations

import pytest

from expo_lite.verify.answers import is_correct
from expo_lite.verify.formats import Item, answer_format

LIST_QUESTION = ("Find all angles $x$, $0^\\circ \\le x < 180^\\circ,$ such that $\\tan x = 1$ or ... "
                 "Enter all the solutions, separated by commas.")


@pytest.mark.parametrize("spec", ["boxed", "hash"])
@pytest.mark.parametrize(("completion", "gold"), [
    ("So $x = \\frac{1}{2}$.\nThe final answer is $\\boxed{0.5}$.", "\\frac{1}{2}"),
    ("Adding: 3 + 4 = 7.\n#### 7", "7"),
    ("The answer is 5 because 9 - 5 = 4.", "4"),
    ("#### 5\nLater I think \\boxed{7}", "7"),
    ("She has $1,000 left.\n#### 1,000", "1000"),
])
def test_both_math_formats_grade_as_the_verifier_does(spec, completion, gold):
    assert answer_format(spec).are_correct([completion], [gold], [{}]) == [is_correct(completion, gold)]


def test_a_question_that_asks_for_a_list_makes_grouped_digits_two_values():
    fmt = answer_format("boxed")
    listed = {"question": LIST_QUESTION}
    assert fmt.judge_many([Item("70, 110", "70,110", listed), Item("110, 70", "70,110", listed),
                           Item("70110", "70,110", listed)]) == [True, True, False]
    # without such a question, grouped digits stay one number, as MATH's 1,000-style golds need
    assert fmt.judge_many([Item("70110", "70,110", {"question": "How many?"}), Item("70110", "70,110", {})]) == [True, True]


def test_final_lines_are_the_canonical_ones_and_read_back():
    assert answer_format("boxed").final_line("\\frac{3}{4}") == "The final answer is $\\boxed{\\frac{3}{4}}$."
    assert answer_format("hash").final_line("18") == "#### 18"
    for spec in ("boxed", "hash"):
        fmt = answer_format(spec)
        assert fmt.found_answer("Work.\n" + fmt.final_line("42"), {}) == "42"


def test_an_unknown_format_names_the_ones_there_are():
    with pytest.raises(ValueError, match="choose one of boxed, hash, choice, exact, countdown"):
        answer_format("multiple_choice")
