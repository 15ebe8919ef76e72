"""The sympy half of the derivation test (sympy_reach.py). In training it runs inside the verifier's child process;
here its two questions are asked in this process, so a wrong word fails with its traceback, not as "unknown"."""

from __future__ import annotations

import pytest

from expo_lite.verify.sympy_reach import relate, solves


@pytest.mark.parametrize(("answer", "member", "word"), [
    ("14", "\\frac{21\\cdot30}{45}", "equal"),
    ("3003", "\\binom{14}{6}", "equal"),
    ("9 + \\sqrt{101} - \\sqrt{2}", "\\sqrt{101} - \\sqrt{2} + 9", "equal"),  # sympy equality, not text
    ("19.2", "3\\sqrt{41}", "equal"),  # to the one decimal the answer is written with
    ("19.4", "3\\sqrt{41}", "differ"),  # 19.2 rounded, 19.3 rounded up, never 19.4
    ("5 - 11i", "(-3 - 8i)\\cdot (1 + i)", "equal"),  # i is the imaginary unit
    ("\\sqrt{x^2 - 1}", "x \\sqrt{1 - \\frac{1}{x^2}}", "equal"),  # equal at every point tried (x > 0)
    ("\\frac{2}{5}", "\\dfrac{\\frac{4}{5}r^2}{2r^2}", "equal"),  # r cancels: a constant in disguise
    ("110", "\\frac{1}{3} \\pi \\cdot 5^2 \\cdot 6", "differ"),
    ("2x + 1", "2x + 3", "differ"),  # the answer's own variable
    ("\\frac{7}{24}", "\\frac{s_{XZ}}{s_{XY}}", "unknown"),  # variables of its own, and it depends on them
    ("23", "f(1)", "unknown"),  # an undefined function
    ("(7, 5)", "12", "differ"),  # a number is never a pair
    ("(7, 5)", "(a, b)", "unknown"),  # a pair of variables names the answer, it is no value
    ("\\frac{\\sqrt{191}}{15}", "\\cos \\gamma", "unknown"),  # \gamma is an angle, not Euler's constant
    ("\\frac{63}{128}", "(a, b, c)", "differ"),  # three values named, one given
    ("(-1, 1, 1)", "(p, q)", "differ"),  # two named, three given (`(p, q)` parses as an interval)
    ("(3, -1)", "(p, q)", "unknown"),  # as many as it names
    ("w_{0}", "(a, b, c)", "differ"),  # an answer in words (`\\text{(C)}`, sent as w_0) is one value
    ("w_{0}", "1 + \\frac{10}{1/4}", "differ"),  # no arithmetic is worth a word
    ("w_{0}", "x", "unknown"),  # a variable may name it (`x = \\text{(D)}`)
])
def test_relate(answer, member, word):
    assert relate({"answer": answer, "member": member}, None) == word


def test_relate_puts_in_the_values_the_reasoning_gave():
    request = {"answer": "80", "member": "20(k + 1)", "given": {"k": "3"}}
    assert relate(request, None) == "equal"
    assert relate({**request, "answer": "81"}, None) == "differ"
    assert relate({"answer": "80", "member": "20(k + 1)"}, None) == "unknown"


@pytest.mark.parametrize(("request_", "word"), [
    ({"answer": "\\frac{1}{4}", "variables": ["k"], "equations": [["1 - 4k", "0"]]}, "holds"),
    ({"answer": "3", "variables": ["k"], "equations": [["1 - 4k", "0"]]}, "fails"),
    ({"answer": "-1, 8", "variables": ["x"], "equations": [["2x - 13", "3"], ["x", "-1"]]}, "holds"),  # a value each
    ({"answer": "(1,-19)", "variables": ["p", "q"], "equations": [["2p + q", "-17"], ["7p", "7"]]}, "holds"),
    ({"answer": "(2,-19)", "variables": ["p", "q"], "equations": [["2p + q", "-17"], ["7p", "7"]]}, "fails"),
    ({"answer": "24", "variables": ["x"], "equations": [["FD^2", "(1+x)^2 - (1-x)^2"], ["(1+x)^2 - (1-x)^2", "4x"]]},
     "unknown"),  # an identity constrains nothing
    ({"answer": "15", "variables": ["x"], "equations": [["\\sin 2x", "\\frac{1}{2}"]], "degrees": True}, "holds"),
    ({"answer": "6", "variables": ["v_{0}"], "equations": [["(5)^2 + v_{0}^2", "(\\sqrt{61})^2"]]}, "holds"),
    ({"answer": "5", "variables": ["x"], "equations": [["x + y", "10"]]}, "unknown"),  # y is unknown
    ({"answer": "5", "variables": ["x"], "equations": [["x + y", "10"]], "given": {"y": "5"}}, "holds"),
])
def test_solves(request_, word):
    assert solves(request_, None) == word


def test_kinds_of_values_never_equal():
    square = "\\begin{pmatrix} 2 & 5 \\\\ -1 & -3 \\end{pmatrix}^2"  # a matrix expression, not a number
    assert relate({"answer": "\\begin{pmatrix} -1 & -5 \\\\ 1 & 4 \\end{pmatrix}", "member": square}, None) == "equal"
    assert relate({"answer": "\\begin{pmatrix} -1 & -5 \\\\ 1 & 5 \\end{pmatrix}", "member": square}, None) == "differ"
    assert relate({"answer": "(-\\infty,\\infty)", "member": "2pq"}, None) == "differ"  # a product is no interval
    assert relate({"answer": "1, -2", "member": "x"}, None) == "unknown"  # `x` names the roots
