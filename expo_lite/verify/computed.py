"""The values a piece of reasoning computes, read from its text without sympy: plain arithmetic as GSM8K writes it
("48/2 = 24 clips", "5 plus 3 is 8") and plain arithmetic in LaTeX clothing (`\\frac{21\\cdot30}{45}`,
`5\\times 5`, `2^{10}`), in exact rationals. derivation.py asks two questions of it: is the answer among the
results (`computed_values`), and does the reasoning write a false equation (`false_equation`).

A value is a *result* of the reasoning when it is:

  after `=`      `5 + 3 = 8`, `9 * 2 = $18`, `= 1,000 dollars`, `= \\frac{3}{4}`, GSM8K's calculator
                 annotations `48/2 = <<48/2=24>>24`, a chain `2 + 2 = 4 = 4` (each value after an `=`
                 that is not the start of a longer expression: in `x = 24 + 8 = 32` the results are 32,
                 not 24). When the left side is plain arithmetic (units and asides read past), the value
                 must be its result: "12 * 4 * 4 = 160" is the hinted answer dressed as a result (it is
                 192), and so is "84 - 28 + 1 = 11"; rounded results count ("2060/15 = 137.33")
  before `= v`   a solved equation written the other way round: `10 = b`
  written out    an expression left unevaluated, whose value is the answer: "so she sold 48 + 24 clips"
                 (not one followed by `=`: in `5 + 5 = 1` the reasoning's result is 1, not 10)
  in words       arithmetic written in a clause, then its result after a word such as "is", "equals",
                 "gives", "to find": "5 plus 3 is 8", "150 divided by 5 equals 30", "multiply 4*2 to find 8",
                 "half of 10 is 5", "15.36 minutes, which rounds down to 15". The result must be the value of
                 the arithmetic before it: "I divided that by 2 to find the answer, which is 448000" computes
                 nothing we can check, and "The total is 7" only concludes

A number that the reasoning only mentions is not a result: in "4 * 6 = 24. So, Emma now has 6 cookies" the 6
is an operand. Answers that are not numbers (`\\sqrt{2}`, an interval) are results when their canonical text
follows an `=` or a result word.
"""

from __future__ import annotations

import ast
import math
import re
from fractions import Fraction

from .answers import _canonical
from .extraction import arithmetic_value, exact_value, group_end

# A number as reasoning writes one: 1,000 / 1 000 000 (grouped), 18.50, .5, -3, 3/4, \frac{3}{4}, 25%.
_NUMBER = (r"-?(?:\d{1,3}(?:,\d{3})+(?:\.\d+)?(?!\d)|\d{1,3}(?: \d{3})+(?!\d|\.\d)|\d+(?:\.\d+)?|\.\d+)")
_FRACTION = r"\\[dt]?frac\s*\{\s*(-?\d+)\s*\}\s*\{\s*(\d+)\s*\}"
# What may stand between `=` and the value it gives: spaces, a currency sign ($ € £), LaTeX spacing, a calculator
# annotation `<<48/2=24>>`, an opening `$` of inline math.
_LEAD = r"[\s$€£]*(?:\\\$|\\[,;!]|<<[^<>\n]*>>|\*\*)*[\s$€£]*(?:\\\$)?\s*"
# After a value: not more digits (a backtracked `350` of `3500-105`), not the continuation of an expression on the
# same line (`24 + 8`, `24 x 3`, `2^3`, `$80+$10`).
_NOT_CONTINUED = r"(?![\d.]\d|\d)(?![ \t]*(?:[-+*/×÷^x]|\\times|\\cdot|\\div)[ \t]*[\d(\\.$€£])"
_VALUE_AFTER_EQUALS_RE = re.compile(rf"=\s*{_LEAD}(?:{_FRACTION}|({_NUMBER})(?:\s*/\s*(\d+))?){_NOT_CONTINUED}")
_VALUE_BEFORE_VARIABLE_RE = re.compile(rf"(?<![\w.])({_NUMBER})\s*=\s*\$?\s*[A-Za-z](?:_\w+)?\b(?!\s*[-+*/(\w])")
# A result stated in words after the arithmetic of its clause: "... is 8", "... equals 30", "... to find 8".
_RESULT_WORD_RE = re.compile(
    rf"\b(?:is|are|was|were|equals?|makes?|gives?|giving|yields?|gets?|getting|to get|to find|results? in|"
    rf"comes? to|leaves?|leaving|totals?)\s+(?:of\s+|a total of\s+|us\s+|him\s+|her\s+|them\s+)?{_LEAD}"
    rf"(?:{_FRACTION}|({_NUMBER})(?:\s*/\s*(\d+))?){_NOT_CONTINUED}", re.IGNORECASE)
_ROUNDED_RE = re.compile(rf"\brounds?(?:ed)?(?: up| down)? to\s+{_LEAD}({_NUMBER})", re.IGNORECASE)
_LAST_NUMBER_RE = re.compile(rf"({_NUMBER})(?!.*\d)", re.DOTALL)
# Arithmetic in words, as symbols: "5 plus 3" -> "5 + 3", "half of 10" -> "10 / 2", "20 percent of 50" -> "20 / 100 * 50".
_NUM = r"\$?\d[\d,]*(?:\.\d+)?"
_IN_SYMBOLS = [
    (re.compile(r"\s+plus\s+", re.IGNORECASE), " + "), (re.compile(r"\s+minus\s+", re.IGNORECASE), " - "),
    (re.compile(r"\s+(?:times|multiplied by)\s+", re.IGNORECASE), " * "),
    (re.compile(r"\s+divided by\s+", re.IGNORECASE), " / "),
    (re.compile(rf"\bhalf (?:of )?({_NUM})", re.IGNORECASE), r"\1 / 2"),
    (re.compile(rf"\b(?:twice|double) (?:of )?({_NUM})", re.IGNORECASE), r"2 * \1"),
    (re.compile(rf"\btriple (?:of )?({_NUM})", re.IGNORECASE), r"3 * \1"),
    (re.compile(rf"({_NUM})\s*(?:%|percent) of ({_NUM})", re.IGNORECASE), r"\1 / 100 * \2"),
]
# Plain arithmetic on numbers, with brackets: `48 + 24`, `(3 + 5) * 7 - 2`, `$12 x 3`.
_OPERAND = r"-?\$?(?:\d[\d,]*(?:\.\d+)?|\.\d+)"  # 48, 1,000, 18.50, .75, -8
_EXPRESSION_RE = re.compile(
    rf"[(\s]*{_OPERAND}(?:[ \t]*(?:[-+*/×÷]|x(?=[ \t]*[$(]*[\d.]))[ \t]*[( \t]*{_OPERAND}[) \t]*)+")
_SENTENCE_END_RE = re.compile(r"[.!?](?=\s)")
_ASIDE_RE = re.compile(r"\([^()]*[A-Za-z][^()]*\)")  # "(the number of jobs she worked)"
_UNIT_RE = re.compile(r"(?<=[\d.])[ \t]*[A-Za-z][A-Za-z'/-]*(?:[ \t]+[A-Za-z][A-Za-z'/-]*)*")  # "500 pounds", "15 per hour"
_CLAUSE_RE = re.compile(r"(?<=[.!?;:])\s+|\n+")
_PERCENT_OR_UNIT_RE = re.compile(r"^(?:\\?\$\s*)?(.*?)(?:\s*\\?%)?$", re.DOTALL)  # MATH: `90\\text{ square\nunits}`


def number_value(text: str) -> Fraction | None:
    """The exact value of a number as an answer or a result writes it (`1,000`, `$18.50`, `3/4`,
    `\\frac{3}{4}`, `25\\%`), or None when the text is not one number."""
    text = _PERCENT_OR_UNIT_RE.fullmatch(text.strip().strip("$").strip()).group(1).strip()  # type: ignore[union-attr]
    frac = re.fullmatch(_FRACTION, text)
    if frac:
        return Fraction(int(frac.group(1)), int(frac.group(2))) if int(frac.group(2)) else None
    m = re.fullmatch(rf"({_NUMBER})(?:\s*/\s*(\d+))?", text)
    if not m:
        return None
    return _value(m.group(1), m.group(2))


def _value(number: str, denominator: str | None) -> Fraction | None:
    try:
        value = Fraction(number.replace(",", "").replace(" ", ""))
        if denominator is not None:
            value = value / int(denominator) if int(denominator) else None
        return value
    except (ValueError, ZeroDivisionError):
        return None


def _match_value(m: re.Match[str], number_group: int) -> Fraction | None:
    """The value a match of a pattern states, its groups being (frac numerator, frac denominator, number,
    denominator) starting at `number_group - 2`; None when it is no number (a zero denominator)."""
    num, den = m.group(number_group - 2), m.group(number_group - 1)
    if num is not None:
        return Fraction(int(num), int(den)) if int(den) else None
    return _value(m.group(number_group), m.group(number_group + 1))


def computed_values(reasoning: str) -> list[Fraction]:
    """Every value the reasoning computes, in the ways of the module docstring."""
    values = [value for _, value, agrees, _ in _results_after_equals(reasoning) if agrees is not False]
    values += [v for m in _VALUE_BEFORE_VARIABLE_RE.finditer(reasoning) if (v := _value(m.group(1), None)) is not None]
    for m in _EXPRESSION_RE.finditer(reasoning):
        if not reasoning[m.end() :].lstrip().startswith("="):  # an equated expression's result is its own
            value = _balanced_value(m.group())
            if value is not None:
                values.append(value)
    for clause in _CLAUSE_RE.split(reasoning):
        values += _results_in_words(clause)
    return values


def _results_after_equals(reasoning: str):  # -> Iterator[tuple[re.Match, Fraction, bool | None, bool]]
    """(match, value written after an `=`, whether it agrees with the plain arithmetic on its left (None: the left
    side is not plain arithmetic), whether that left side is a whole expression) for every `=` followed by a value."""
    for m in _VALUE_AFTER_EQUALS_RE.finditer(reasoning):
        value = _match_value(m, 3)
        if value is None:
            continue
        written, whole = _left_side(reasoning[_segment_start(reasoning, m.start()) : m.start()])
        if written is None:
            yield m, value, None, whole
            continue
        percent = re.match(r"\s*\\?%", reasoning[m.end() :]) is not None  # "8 / 25 = 32%", "15 / 60 * 100 = 25%"
        yield m, value, any(_agrees(written * scale, value, m.group(3)) for scale in ((1, 100) if percent else (1,))), whole


def last_result(reasoning: str) -> tuple[Fraction, str] | None:
    """The value after the reasoning's last `=` that is followed by a number (the result of its last step), with the
    text of that step; None when no `=` gives a number."""
    last = None
    for m, value, agrees, _ in _results_after_equals(reasoning):
        if agrees is not False:
            last = (value, reasoning[_segment_start(reasoning, m.start()) : m.end()].strip())
    return last


_UNITS_RE = re.compile(r"\\(?:text|mbox|mathrm|textrm)\s*\{")


def false_equation(text: str, at: int) -> str | None:
    """The first false plain-arithmetic equation of the reasoning `text[:at]`, as written ("74 - 14 = 48"), or None.

    Plain text: an `=` whose left side is a whole plain-arithmetic expression (not the tail of algebra such as
    "S + 2S + 4S = 7S", where a letter is glued to a number) and whose value disagrees with it even rounded to
    the decimals written. LaTeX: two members of a chain that are both plain arithmetic in LaTeX (one of them
    an operation) and differ. Only what is read exactly counts; anything sympy would have to read is skipped."""
    from .equations import chain, math_segments, statements

    masked = text[:at]
    for seg in math_segments(text):  # the whole text: the math the answer sits in closes after it
        if seg.start >= at:
            break
        end = min(seg.end, at)
        masked = masked[: seg.start] + " " * (end - seg.start) + masked[end:]
        for statement in statements(text[seg.start : end]):
            if _UNITS_RE.search(statement):
                continue  # "420\\text{ minutes} = \\dfrac{420}{60}\\text{ hours}": a conversion, equal only with its units
            members = chain(statement)
            for left, right in zip(members, members[1:], strict=False):
                if right.relation != "=":
                    continue
                a, b = latex_arithmetic_value(left.text), latex_arithmetic_value(right.text)
                if (a is not None and b is not None and _is_operation(left.text + right.text)
                        and not _agrees(a, b, right.text) and not _agrees(b, a, left.text)):
                    return f"{left.text} = {right.text}"
    for m in _VALUE_AFTER_EQUALS_RE.finditer(masked):
        value, left = _match_value(m, 3), masked[_segment_start(masked, m.start()) : m.start()]
        computed = _bare_arithmetic(left)
        if value is None or computed is None or " " in (m.group(3) or "") or re.match(r"[A-Za-z\\]|\s*%|\s+\d", masked[m.end() :]):
            continue  # "= 7S" is algebra, "= 12 200" may be two numbers, "= 25%" a percentage
        if not any(_agrees(computed * 10**k, value, m.group(3)) or _agrees(computed, value * 10**k, m.group(3))
                   for k in range(7)):  # a change of unit (cents, thousands) is not false arithmetic
            return masked[_segment_start(masked, m.start()) : m.end()].strip()
    return None


# The plain arithmetic that ends a left side, as written: numbers, currency, operators and brackets only.
_BARE_ARITHMETIC_RE = re.compile(r"(?:[\d$€£.,()+\-*/×÷ \t]|(?<=[\d\s)])x(?=[\s\d($]))+$")


def _bare_arithmetic(left: str) -> Fraction | None:
    """The value of the left side of an `=` when it ends in plain arithmetic written with no word inside it (a unit
    inside, "1 hour/60 minutes", or a percentage makes its value a matter of reading) and nothing glued before it
    (`S + 2S + 4S`, `7:50 + 30`, `$2,430 – ($1,250 + $850)`, "60 students x 2/3"); None otherwise."""
    tail = _BARE_ARITHMETIC_RE.search(left)
    if tail is None:
        return None
    expression = tail.group().strip()
    before = left[: tail.start()].rstrip(" \t")
    if not re.match(r"[\d$€£(.]", expression) or (before and not before[-1].isspace() and tail.group()[:1] != " "
                                                 and before[-1] not in "(\n") or before.endswith(("–", "−", ":", ",", ".")):
        return None
    if re.search(r"\b(?:and|of|by|times|plus|minus|over|from|per)$", before, re.IGNORECASE):
        return None  # "12 x 1 and 1/4", "half of 10 / 2": the arithmetic goes on in words
    expression = re.sub(r"(?<=\d),(?=\d{3}(?!\d))", "", expression).replace("$", "").replace("€", "").replace("£", "")
    if not re.search(r"\d\s*[-+*/×÷x]\s*\(?\s*[\d.]", expression) or re.fullmatch(r"\d+\s*/\s*\d+", expression):
        return None  # a lone number, or a fraction, is no computation
    expression = re.sub(r"(?<![\d.,/])(\d+/\d+)(?![\d./])", r"(\1)", expression)  # "25 / 1/3": 1/3 is one number
    return _balanced_value(re.sub(r"(?<=[\d\s)])x(?=[\s\d(])", "*", expression).replace("×", "*"))


def written_latex_values(text: str, at: int) -> list[Fraction]:
    """The values of plain LaTeX arithmetic written out whole as a piece of math before `at` and left unevaluated
    ("we find $(3)^3$", "there are $4\\cdot 3$ ways"): the LaTeX form of "so she sold 48 + 24 clips"."""
    from .equations import clean_member, math_segments

    values = []
    for seg in math_segments(text):
        if seg.end > at:
            break
        math = clean_member(text[seg.start : seg.end])
        if _is_operation(math) and "=" not in math and number_value(math) is None:  # `$\\frac{3}{4}$` is a number
            value = latex_arithmetic_value(math)
            if value is not None:
                values.append(value)
    return values


def _is_operation(latex: str) -> bool:
    return re.search(r"[-+*/^]|\\(?:frac|dfrac|tfrac|cdot|times|div)|\)\s*\(", latex.lstrip("-")) is not None


def _segment_start(text: str, equals: int) -> int:
    """Where the left side of the `=` at `equals` begins: after the previous `=`, line or sentence."""
    cuts = [text.rfind("=", 0, equals), text.rfind("\n", 0, equals)]
    cuts += [m.end() - 1 for m in _SENTENCE_END_RE.finditer(text, 0, equals)][-1:]
    return max(cuts) + 1


def _left_side_value(left: str) -> Fraction | None:
    """The value of plain arithmetic ending a left side, read past units, currency and asides ("1000 pounds -
    500 pounds", "$2060/$15 per hour", "28 (the jobs) + 7"), or None when the left side does not end in one (a
    variable, words, a lone number)."""
    return _left_side(left)[0]


def _left_side(left: str) -> tuple[Fraction | None, bool]:
    """(`_left_side_value`, whether that arithmetic is the whole left side: no operator, bracket, `^` or number before
    it, so it is not the tail of a longer expression such as `2^3 + 1`, `S + 2 + 4` or "60 students x 2/3")."""
    text = _ASIDE_RE.sub(" ", left).replace("\\$", "").replace("$", "").replace("€", "").replace("£", "")
    text = re.sub(r"(?<=\d) (?=\d{3}\b)", "", text)  # 17 000 -> 17000
    text = re.sub(r"(?<=[\d.)])\s*[x×]\s*(?=[\d.(])", " * ", text)
    text = re.sub(r"(?<![\d.,/])(\d+) (\d+)/(\d+)(?![\d./])", r"(\1+\2/\3)", text)  # a mixed number: 1 1/2
    text = re.sub(r"(?<![\d.,/])(\d+/\d+)(?![\d./])", r"(\1)", text)  # "2000 / 2/3": 2/3 is one number
    text = re.sub(r"(\d+(?:\.\d+)?|\.\d+)\s*\\?%", r"(\1/100)", text)  # 10% -> (10/100)
    text = _UNIT_RE.sub("", text).rstrip()
    tail = [m for m in _EXPRESSION_RE.finditer(text) if m.end() >= len(text.rstrip(" \t)"))]
    if not tail:
        return None, False
    before = text[: tail[-1].start()].rstrip()
    return _balanced_value(tail[-1].group()), not re.search(r"[-+*/×÷^(\\{_\d]$|[A-Za-z]\s*[-+*/]$", before)


def _agrees(computed: Fraction, written: Fraction, text: str | None) -> bool:
    """A written result agrees with the arithmetic before it exactly, or as that value rounded or cut to the
    decimals it is written with (GSM8K's "2060/15 = 137.33", "3 / 21 * 100 = 14.28")."""
    if computed == written:
        return True
    decimals = len(text.split(".", 1)[1]) if text and "." in text else 0
    scale = 10**decimals
    return written * scale in (round(computed * scale), math.floor(computed * scale), math.ceil(computed * scale))


def _results_in_words(clause: str) -> list[Fraction]:
    """Results stated in words that equal the arithmetic written before them in the clause (see the docstring)."""
    out = []
    for m in _RESULT_WORD_RE.finditer(clause):
        stated = _match_value(m, 3)
        before = clause[: m.start()]
        for pattern, symbols in _IN_SYMBOLS:
            before = pattern.sub(symbols, before)
        last = max(before.rfind(ch) for ch in "0123456789)")
        written = _left_side_value(before[: last + 1]) if last >= 0 else None  # "14 boys + 11 girls", "... 50, which"
        if stated is not None and written is not None and written == stated:
            out.append(stated)
    for m in _ROUNDED_RE.finditer(clause):
        rounded, last = _value(m.group(1), None), _LAST_NUMBER_RE.search(clause[: m.start()])
        value = _value(last.group(1), None) if last else None
        if rounded is not None and value is not None and rounded in (math.floor(value), math.ceil(value)):
            out.append(rounded)
    return out


def _balanced_value(expression: str) -> Fraction | None:
    """The value of an expression matched with stray brackets at its ends ("(so 48 + 24" / "2)")."""
    text = expression.strip()
    while text.count("(") > text.count(")") and text.startswith("("):
        text = text[1:].strip()
    while text.count(")") > text.count("(") and text.endswith(")"):
        text = text[:-1].strip()
    return arithmetic_value(text)


def _symbolic_results(reasoning: str) -> str:
    """The canonical text that follows each `=` or result word: where a non-numeric answer can be reached."""
    pieces = re.split(r"=|\b(?:is|are|equals?|gives?|yields?)\b", reasoning)[1:]
    return "\n".join(_canonical(p.split("\n", 1)[0]) for p in pieces)


def is_computed(reasoning: str, answer: str) -> bool:
    """True when `answer` is a result of a computation in `reasoning` (see the module docstring)."""
    target = number_value(answer)
    if target is not None:
        return target in computed_values(reasoning)
    wanted = _canonical(answer)
    return bool(wanted) and wanted in _symbolic_results(reasoning)


# ------------------------------------------------------------------------------------ arithmetic in LaTeX

_LATEX_OPERATORS = {"\\cdot": "*", "\\times": "*", "\\div": "/", "\\left": "", "\\right": ""}
_LATEX_FRACTIONS = ("\\frac", "\\dfrac", "\\tfrac")
_LATEX_SPACING = ("\\,", "\\!", "\\;", "\\:", "\\ ")
_MAX_LATEX_CHARS = 300  # a line of arithmetic; longer is not what we read without sympy


def latex_arithmetic_value(latex: str) -> Fraction | None:
    """The exact value of plain arithmetic written in LaTeX (numbers, + - \\cdot \\times \\div /, \\frac, powers,
    brackets, `(2)(-1)` side by side), or None when the text holds anything else (a variable, \\sqrt, `!`, a mixed
    number `6\\frac{1}{6}`, `\\pi`): those are sympy's to read."""
    if len(latex) > _MAX_LATEX_CHARS:
        return None
    python = _python_arithmetic(latex.strip())
    if python is None:
        return None
    try:
        return exact_value(ast.parse(python, mode="eval").body, powers=True)
    except (SyntaxError, ValueError, ZeroDivisionError, RecursionError, OverflowError):
        return None


def _python_arithmetic(latex: str) -> str | None:
    """Plain LaTeX arithmetic as a Python expression, or None when it is not plain arithmetic."""
    out: list[str] = []
    i, n = 0, len(latex)
    while i < n:
        ch = latex[i]
        if ch == "\\":
            if latex.startswith(_LATEX_SPACING, i):
                i += 2
                continue
            word = re.match(r"\\[A-Za-z]+", latex[i:])
            name = word.group() if word else latex[i : i + 2]
            if name in _LATEX_OPERATORS:
                if _LATEX_OPERATORS[name]:  # \\left and \\right only announce the bracket that follows
                    out.append(_LATEX_OPERATORS[name])
            elif name in _LATEX_FRACTIONS:
                args, i = _arguments(latex, i + len(name), 2)
                if args is None or (out and (out[-1][-1:].isdigit())):
                    return None  # `6\frac{1}{6}` is a mixed number, not a product
                parts = [_python_arithmetic(a) for a in args]
                if None in parts:
                    return None
                out.append(f"(({parts[0]})/({parts[1]}))")
                continue
            else:
                return None
            i += len(name)
            continue
        elif ch == "^":
            if latex[i + 1 : i + 3].isdigit() and len(latex[i + 1 : i + 3]) == 2:
                return None  # `2^10` sets 2^1 then 0 in LaTeX, though it is often meant as 1024: not plain
            args, i = _arguments(latex, i + 1, 1)
            power = _python_arithmetic(args[0]) if args else None
            if power is None:
                return None
            out.append(f"**({power})")
            continue
        elif ch.isdigit() or ch == ".":
            number = re.match(r"\d{1,3}(?:,\\!\d{3})+(?!\d)|\d*\.?\d+", latex[i:])
            if not number:
                return None
            if out and out[-1][-1:].isdigit():
                return None  # two numbers side by side ("7\\ \\ 144"): not one expression
            if out and out[-1].endswith(")"):
                out.append("*")  # (2)3
            out.append(number.group().replace(",\\!", ""))
            i += len(number.group())
            continue
        elif ch in "([{":
            if out and (out[-1].endswith(")") or out[-1][-1:].isdigit()):
                out.append("*")  # (2)(-1), 3(4)
            out.append("(")
        elif ch in ")]}":
            out.append(")")
        elif ch in "+-*/":
            out.append(ch)
        elif not ch.isspace():
            return None
        i += 1
    return "".join(out) if out else None


def _arguments(latex: str, i: int, count: int) -> tuple[list[str] | None, int]:
    """`count` arguments of a command starting at `i` (a `{...}` group or one character each)."""
    args = []
    for _ in range(count):
        while i < len(latex) and latex[i] == " ":
            i += 1
        if i >= len(latex):
            return None, i
        if latex[i] == "{":
            end = group_end(latex, i)
            if end is None:
                return None, i
            args.append(latex[i + 1 : end - 1])
            i = end
        else:
            args.append(latex[i])
            i += 1
    return args, i
