"""Does reasoning reach its answer (derivation.reach) and write only true arithmetic (derivation.false_equation)?
Texts as MATH's human solutions write them (most taken from benchmarks/data/math, some with their answer swapped for
another), and as GSM8K's and the embedded model's write theirs. Every sympy question goes to the real sandbox."""

from __future__ import annotations

import time

import pytest

from expo_lite.verify.computed import false_equation
from expo_lite.verify.derivation import final_chain, reach
from expo_lite.verify.extraction import find_final_answer


def how(text: str, answer: str) -> str:
    found = find_final_answer(text)
    assert found is not None, text
    return reach(text, found.start, answer, found.end).how


@pytest.mark.parametrize(("text", "answer", "expected"), [
    # the member before the answer is worth it: exactly, or by sympy
    ("so $AX=\\frac{AC\\cdot BX}{BC}=\\frac{21\\cdot30}{45}=\\boxed{14}$.", "14", "chain"),
    ("The number of words with no consonants is $2\\times 2\\times 2\\times 2=16$. Therefore the number of words with "
     "at least one consonant is $625-16=\\boxed{609}$.", "609", "chain"),
    ("We choose 6 of the 14, so there are $\\binom{14}{6} = \\boxed{3003}$ ways.", "3003", "chain"),
    ("Its length is $\\sqrt{101} - \\sqrt{2} + 9 = \\boxed{9 + \\sqrt{101} - \\sqrt{2}}$.", "9 + \\sqrt{101} - \\sqrt{2}", "chain"),
    ("Divide both sides by 3 to obtain $N=3(2003)=\\boxed{6009}$.", "6009", "chain"),  # a number before a bracket multiplies
    ("Thus, we can copy \\[2000\\text{ cents}\\cdot \\frac{3\\text{ pages}}{5\\text{ cents}} = \\boxed{1200}\\text{ pages}.\\]",
     "1200", "chain"),  # units read past
    ("30 of the 300 students own cats: $\\frac{30}{300} = \\frac{1}{10} = \\boxed{10\\%}$.", "10\\%", "chain"),
    ("Using a calculator, the product rounded to the nearest tenth is $3\\sqrt{41}=\\boxed{19.2}$.", "19.2", "chain"),
    ("This means the image of $-3 - 8i$ is $(-3 - 8i)(1 + i) = \\boxed{5 - 11i}.$", "5 - 11i", "chain"),  # i is imaginary
    ("so $\\sin(-60^\\circ) = \\sin300^\\circ = \\boxed{-\\frac{\\sqrt{3}}{2}}$.", "-\\frac{\\sqrt{3}}{2}", "chain"),  # degrees
    ("\\begin{align*}\n17\\frac{5}{6} - 11\\frac{2}{3} &= 6 + \\frac{5}{6} - \\frac{4}{6} \\\\ &= 6 + \\frac{1}{6} \\\\ "
     "&= \\boxed{6\\frac{1}{6}\\text{ feet}}.\n\\end{align*}", "6\\frac{1}{6}\\text{ feet}", "chain"),
    # the member before the answer is worth something else: the last step is false
    ("Therefore $5+4+43=52$ of the dogs like at least one. Therefore $60-52=\\boxed{9}$ dogs do not.", "9", "false_chain"),
    ("so $AX=\\frac{AC\\cdot BX}{BC}=\\frac{21\\cdot30}{45}=\\boxed{15}$.", "15", "false_chain"),
    ("The area is $\\frac{1}{3} \\pi \\cdot 5^2 \\cdot 6 = \\boxed{110}$.", "110", "false_chain"),
    ("the maximum integer value is $1 + \\frac{10}{1/4} = \\boxed{\\text{empty}}.$", "\\text{empty}", "false_chain"),
    ("Thus, $(a,b,c) = \\boxed{\\frac{63}{128}}.$", "\\frac{63}{128}", "false_chain"),  # three values named, one given
    # the chain names a variable: the answer is checked in the reasoning's equations
    ("The discriminant is zero when $1 - 4k = 0,$ or $k = \\boxed{\\frac{1}{4}}$.", "\\frac{1}{4}", "solved"),
    ("The discriminant is zero when $1 - 4k = 0,$ or $k = \\boxed{3}$.", "3", "unsolved"),
    ("By the Pythagorean Theorem, $(5)^2 + BC^2 = (\\sqrt{61})^2,$ so $BC = \\boxed{6}.$", "6", "solved"),  # a segment
    ("Then $7p = 7$ and $2p + q = -17,$ so $(p,q) = \\boxed{(1,-19)}.$", "(1,-19)", "solved"),
    ("Then $7p = 7$ and $2p + q = -17,$ so $(p,q) = \\boxed{(2,-19)}.$", "(2,-19)", "unsolved"),
    ("Note $FD^2 = (1+x)^2 - (1-x)^2 = 4x,$ and $x = \\boxed{24}.$", "24", "stated"),  # an identity checks nothing
    # nothing before the answer can be valued, or it is stated in words: kept
    ("Hence $\\tan Y = \\frac{XZ}{XY} = \\boxed{\\frac{7}{24}}$.", "\\frac{7}{24}", "stated"),
    ("Since this holds for all vectors $\\mathbf{v},$ $\\mathbf{R}^2 = \\mathbf{I} = \\boxed{\\begin{pmatrix} 1 & 0 \\\\ 0 & 1 "
     "\\end{pmatrix}}.$", "\\begin{pmatrix} 1 & 0 \\\\ 0 & 1 \\end{pmatrix}", "stated"),  # bold names a matrix, no number
    ("If 0.25 inches represents 3 miles, then 1 inch represents 12 miles. Therefore, 15 inches represents "
     "$\\boxed{180\\text{ miles}}$.", "180\\text{ miles}", "stated"),
    ("All plotted points lie on a hyperbola.  The answer is $\\boxed{\\text{(E)}}.$", "\\text{(E)}", "stated"),
    # stated apart from the reasoning: it must have been computed
    ("Sara has 1 + 4 = 5 marbles.\n#### 5", "5", "computed"),
    ("How much Raj has now: 3 * 4 = 12\n#### 7", "7", "other_result"),
    ("2 * 4 = 8 marbles. So she has 6 marbles.\nThe answer is 6.", "6", "other_result"),
    ("Finally, we carry out the subtraction and we find $(3)^3$. Thus, our answer is $\\boxed{27}$.", "27", "computed"),
])
def test_how_an_answer_is_reached(text, answer, expected):
    assert how(text, answer) == expected


def test_the_final_chain_is_the_one_the_answer_ends():
    text = "Since $\\frac{x}{15} = \\frac{20}{25}, \\quad \\text{so} \\quad x = \\frac{300}{25} = \\boxed{12}.$"
    members = final_chain(text, text.index("\\boxed"))
    assert [m.text for m in members] == ["\\frac{300}{25}", "x"]  # nearest first, not the statement before `\text{so}`
    assert final_chain("Therefore, the graph has $\\boxed{2}$ asymptotes.", 26) == []
    assert final_chain("So $x = 5, \\boxed{5}$.", 13) == []  # a box after a comma starts a statement of its own


@pytest.mark.parametrize(("text", "false"), [
    ("Raj has 74 - 14 = 48 cookies left. So far, Raj has 74 - 14 = 48 cookies left.\n", "Raj has 74 - 14 = 48"),
    ("Mathews made $4200+$3000 = $8600 in all.\n", "Mathews made $4200+$3000 = $8600"),
    ("We get $12 \\times 3 = 35$ apples.\n", "12 \\times 3 = 35"),
    # not false: algebra, unit conversions, rounding, a change of unit, triples, money in dollars and cents
    ("We have S + 2S + 4S = 7S apples.\n", None),
    ("$$420\\text{ minutes} = \\dfrac{420}{60}\\text{ hours} = 7$$\n", None),
    ("Weng earns 2060/15 = 137.33 per hour.\n", None),
    ("The shop loses 5 thousand dollars a day, so 5 * 3 = $15,000 in three days.\n", None),
    ("So Bea earned $2.50 - $2.24 = 26 cents more.\n", None),
    ("Then 15 minutes * 1 hour/60 minutes = .25 hours.\n", None),
    ("The grid gives 7:50 + 30 minutes = 8:20.\n", None),
    ("The pitcher holds 12 x 1 and 1/4 = 15 cups.\n", None),
])
def test_false_plain_arithmetic_is_found_and_nothing_else(text, false):
    assert false_equation(text, len(text)) == false


def test_real_answers_that_crashed_the_check_do_not():
    """MATH writes `90\\text{ square\\nunits}` (a newline inside the answer); it used to raise AttributeError."""
    text = "The area is $9 \\cdot 10 = \\boxed{90\\text{ square\nunits}}$."
    assert how(text, "90\\text{ square\nunits}") == "chain"


@pytest.mark.parametrize("text", [
    "So $x = " + "\\frac{" * 3000 + "1" + "}{2}" * 3000 + " = \\boxed{5}$.",  # a 10,000-character nest
    "So $x = " + "{" * 5000 + "2 + 3 = \\boxed{5}$.",  # unbalanced braces
    "So $y = 9^{9^{9^{9^{9}}}} = \\boxed{5}$ and $" * 3 + " " + "$1$ " * 2000,  # a power tower, many dollars
])
def test_pathological_reasoning_returns_within_the_bound(text):
    """Members longer than a step are not read; each sympy question has the sandbox's hard deadline (4 s), and a
    check asks at most a few. Seconds, not minutes, on any input."""
    start = time.perf_counter()
    found = find_final_answer(text)
    reach(text, found.start, "5", found.end)
    false_equation(text, found.start)
    assert time.perf_counter() - start < 30


def test_an_answer_announced_before_a_repetition_must_have_been_computed():
    """The embedded model on GSM8K (gsm8k-10): word salad, "The answer is 121.", then chatter that repeats it as a
    `####` line in a sentence of its own. The announcement is the statement that counts: no step computed 121."""
    text = ("The first part of the problem involves finding the number of people that the monster ate of over three "
            "centuries, which is approximately 847.\n\nHere is the final answer:\n\nThe answer is 121.\n\nSo, the last "
            'line is "#### 121"')
    assert how(text, "121") == "other_result"
