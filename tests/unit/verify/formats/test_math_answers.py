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


@pytest.mark.parametrize(("text", "answer", "target"), [
    # the answer's sentence is kept, the step that computes it included (MATH's own solution)
    ("So the number is $5\\times 5\\times 5\\times 5=625$. Therefore there are $625-16=\\boxed{609}$ words.",
     "609", "So the number is $5\\times 5\\times 5\\times 5=625$. Therefore there are $625-16=\\boxed{609}$ words."),
    # only the answer's form is normalised, where it stands; what follows the answer's sentence is dropped
    ("Half of it is $\\frac{1}{2} = \\boxed{0.5}$. Let me double-check: 0.5 + 0.5 = 1.", "\\frac{1}{2}",
     "Half of it is $\\frac{1}{2} = \\boxed{\\frac{1}{2}}$."),
    ("\\begin{align*}\nx &= 6 + \\frac{1}{6} \\\\ &= \\boxed{6\\frac{1}{6}}.\n\\end{align*} Done!", "6\\frac{1}{6}",
     "\\begin{align*}\nx &= 6 + \\frac{1}{6} \\\\ &= \\boxed{6\\frac{1}{6}}.\n\\end{align*}"),
    ("The roots are $x = \\boxed{1}$ and $x = \\boxed{-2}$. Check.", "1, -2", "The roots are $x = \\boxed{1}$ and $x = \\boxed{-2}$."),
    # stated another way: a sentence that only announces it is a wrapper, replaced by the final line; a sentence
    # that does a step before stating it stays, and the final line follows it
    ("So 3 + 4 = 7. The answer is 7, since he buys more.", "7", "So 3 + 4 = 7.\nThe final answer is $\\boxed{7}$."),
    ("Adding the two, 3 + 4 gives 7, so the answer is 7. Done.", "7",
     "Adding the two, 3 + 4 gives 7, so the answer is 7.\nThe final answer is $\\boxed{7}$."),
    # no answer at all (an expert solution without its answer line): the final line is added
    ("Natalia sold 48/2 = 24 clips in May.", "24", "Natalia sold 48/2 = 24 clips in May.\nThe final answer is $\\boxed{24}$."),
])
def test_a_boxed_target_keeps_its_last_step(text, answer, target):
    assert answer_format("boxed").target(text, answer, {}) == target


def test_a_hash_target_states_the_answer_on_its_line():
    fmt = answer_format("hash")
    assert fmt.target("9 * 2 = 18 dollars.\n#### 18 dollars\nThanks!", "18", {}) == "9 * 2 = 18 dollars.\n#### 18"
    assert fmt.target("9 * 2 = 18 dollars.\n#### 18", "18", {}) == "9 * 2 = 18 dollars.\n#### 18"
    assert fmt.target("9 * 2 = 18 dollars.", "18", {}) == "9 * 2 = 18 dollars.\n#### 18"  # GSM8K's solution, its line cut
    assert fmt.target("So she makes $\\boxed{18}$ dollars.", "18", {}) == "So she makes $\\boxed{18}$ dollars.\n#### 18"
