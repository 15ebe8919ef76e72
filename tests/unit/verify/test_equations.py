"""Where reasoning writes its equations: math segments, statements, relation chains, members as a parser sees them.
Texts in the shapes MATH's solutions and GSM8K's write them."""

from __future__ import annotations

import pytest

from expo_lite.verify.equations import chain, clean_member, math_segments, segment_at, statements


def contents(text):
    return [text[s.start : s.end] for s in math_segments(text)]


def test_math_delimiters_as_math_solutions_write_them():
    text = ("so $AX=\\frac{21\\cdot30}{45}=\\boxed{14}$. Then \\[ x = 1 \\] and \\(y\\), $$z = 2$$ and\n"
            "\\begin{align*} a &= b \\\\ &= c \\end{align*} costs \\$5.")
    assert contents(text) == ["AX=\\frac{21\\cdot30}{45}=\\boxed{14}", " x = 1 ", "y", "z = 2", " a &= b \\\\ &= c "]
    seg = segment_at(text, text.index("\\boxed"))
    assert seg is not None and text[seg.after - 1] == "$" and text[seg.after] == "."


def test_dollars_that_are_money_are_not_math():
    """GSM8K writes money with a bare `$`: "$18 and $5", "$0.10 each and $0.80" hold no math."""
    assert contents("He pays $18 and $5 more.") == []
    assert contents("The pens cost $0.10 each and $0.80 in all.") == []
    assert contents("Each pen is $2, so 4 pens are $8.") == []
    assert contents("The sum is $x + y = 10$ dollars and $\\text{the area} = 5$.") == ["x + y = 10", "\\text{the area} = 5"]


def test_an_asymptote_figure_is_not_reasoning():
    text = '[asy]\nlabel("$5$", (44, 45));\nlabel("$43$",(63,45));\n[/asy]\nTherefore $60-52=\\boxed{8}$ dogs.'
    assert contents(text) == ["60-52=\\boxed{8}"]


def test_an_unclosed_display_runs_to_the_end():
    (seg,) = math_segments("Thus \\[ x = 3 + 4 = ")
    assert not seg.closed


@pytest.mark.parametrize(("math", "expected"), [
    ("\\frac{x}{15} = \\frac{20}{25}, \\quad \\text{so} \\quad x = \\frac{300}{25} = 12",
     ["\\frac{x}{15} = \\frac{20}{25}", "x = \\frac{300}{25} = 12"]),
    ("a &= b \\\\ &= c \\\\ d &= e", ["a &= b \\\\ &= c ", "d &= e"]),  # `&=` on the next row continues the chain
    ("80 + 79 = 80 + (80-1) \\\\ &\\qquad + (80+7) \\\\ &= 159", ["80 + 79 = 80 + (80-1) \\\\ &\\qquad + (80+7) \\\\ &= 159"]),
    ("f(4, 5) = 9; g = 1", ["f(4, 5) = 9", "g = 1"]),  # a comma inside brackets is part of a member
    ("1,\\!000 + 5 = 1,\\!005", ["1,\\!000 + 5 = 1,\\!005"]),  # thousands, not a list
    ("4x = 8 \\Rightarrow x = 2", ["4x = 8 ", " x = 2"]),
    ("\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix} = v \\\\ w = 3", ["\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix} = v ", " w = 3"]),
])
def test_statements_of_one_piece_of_math(math, expected):
    assert [piece.strip() for piece in statements(math)] == [e.strip() for e in expected]


def test_chains_split_at_relations_at_bracket_depth_zero():
    members = chain("AX=\\frac{AC\\cdot BX}{BC}=\\frac{21\\cdot30}{45}\\le 15 < f(x = 2)")
    assert [(m.relation, m.text) for m in members] == [
        ("", "AX"), ("=", "\\frac{AC\\cdot BX}{BC}"), ("=", "\\frac{21\\cdot30}{45}"), ("\\le", "15"), ("<", "f(x = 2)")]
    assert [m.text for m in chain("\\left(\\frac{3}{4}\\right)^2 = x")] == ["\\left(\\frac{3}{4}\\right)^2", "x"]  # \left is no \le
    assert [m.text for m in chain("x \\in [0, 1]")] == ["x", "[0, 1]"]
    assert [m.text for m in chain("\\infty = y")] == ["\\infty", "y"]  # \infty is no \in


@pytest.mark.parametrize(("raw", "clean"), [
    ("2000\\text{ cents}\\cdot \\frac{3\\text{ pages}}{5\\text{ cents}}", "2000 \\cdot \\frac{3 }{5 }"),
    ("32\\text{ cm}^2-8\\text{ cm}^2", "32 -8"),  # a unit takes its power with it
    ("1,\\!000 + 1{,}000", "1000 + 1000"),
    ("\\mathbf{2340}", "2340"),
    ("71^\\circ", "71"),  # degrees dropped where no trigonometry reads them
    ("\\sin 30^\\circ", "\\sin (30\\cdot\\frac{\\pi}{180})"),  # and radians where it does
    ("\\sin300^\\circ", "\\sin(300\\cdot\\frac{\\pi}{180})"),
    ("x &= 3.", "x  = 3"),
    ("\\begin{pmatrix} 1 & 0 \\\\ 0 & 1 \\end{pmatrix}", "\\begin{pmatrix} 1 & 0 \\\\ 0 & 1 \\end{pmatrix}"),  # a matrix keeps its rows
])
def test_members_as_a_parser_should_see_them(raw, clean):
    assert clean_member(raw) == clean


def test_an_aligned_row_that_starts_with_a_minus_sign_is_an_equation_of_its_own():
    rows = "36 &= 6 \\cdot 6\\\\\n72 &= 6 \\cdot 12\\\\\n-12 &= 6 \\cdot (-2)\\\\\n&- 5"
    assert [s.strip() for s in statements(rows)] == ["36 &= 6 \\cdot 6", "72 &= 6 \\cdot 12", "-12 &= 6 \\cdot (-2)\\\\\n&- 5"]


def test_a_matrix_environment_is_math_not_prose():
    text = "we find $x = 7$ and $y = 5,$ so $\\mathbf{v} = \\boxed{\\begin{pmatrix} 7 \\\\ 5 \\end{pmatrix}}.$"
    assert [text[s.start : s.end] for s in math_segments(text)] == [
        "x = 7", "y = 5,", "\\mathbf{v} = \\boxed{\\begin{pmatrix} 7 \\\\ 5 \\end{pmatrix}}."]
