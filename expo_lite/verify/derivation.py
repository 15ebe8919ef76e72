"""Does a piece of reasoning *reach* its answer? The text test behind the `unreached` refusal of a
self-explanation (algorithms/explain.py).

ExPO's positives must raise the likelihood of the right answer, and a try that computes something else and
then writes the hinted answer does the opposite: "How much Raj has now: 3 * 4 = 12 ... #### 7" teaches the
model to write a memorised answer after unrelated arithmetic. In reasoning that computes (math, GSM8K,
countdown), an answer is reached when it is **the result of a computation** in the reasoning:

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

A number that the reasoning only mentions is not reached: in "4 * 6 = 24. So, Emma now has 6 cookies" the
6 is an operand, and "That means he lifted a total of 352 kg" after "176 kg per hand" states a result that
was never computed. From the text alone the second cannot be told from a rationalisation ("2 * 4 = 8
marbles. So she has 6 marbles"), so it is refused too; the likelihood test (`explain.reach_check:
answer_gain`, algorithms/answer_gain.py) is the one that can judge such prose. Measured on GSM8K's 7,473
human training solutions (tests/data/positives/, benchmarks/positive_checks.py), the rule keeps the rest.

Answers that are not numbers (`\\sqrt{2}`, an interval) are reached when their canonical text appears in the
reasoning after an `=` or a result word; the embedded model never writes them, and MATH's are mostly numbers.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction

from .answers import _canonical
from .extraction import arithmetic_value

# A number as reasoning writes one: 1,000 / 1 000 000 (grouped), 18.50, .5, -3, 3/4, \frac{3}{4}, 25%.
_NUMBER = (r"-?(?:\d{1,3}(?:,\d{3})+(?!\d)|\d{1,3}(?: \d{3})+(?!\d|\.\d)|\d+(?:\.\d+)?|\.\d+)")
_FRACTION = r"\\[dt]?frac\s*\{\s*(-?\d+)\s*\}\s*\{\s*(\d+)\s*\}"
# What may stand between `=` and the value it gives: spaces, a currency sign ($ € £), LaTeX spacing, a calculator
# annotation `<<48/2=24>>`, an opening `$` of inline math.
_LEAD = r"[\s$€£]*(?:\\\$|\\[,;!]|<<[^<>\n]*>>|\*\*)*[\s$€£]*(?:\\\$)?\s*"
# After a value: not the continuation of an expression on the same line (`24 + 8`, `24 x 3`, `2^3`).
_NOT_CONTINUED = r"(?![ \t]*(?:[-+*/×÷^x]|\\times|\\cdot|\\div)[ \t]*[\d(\\.])"
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
_PERCENT_OR_UNIT_RE = re.compile(r"^(?:\\?\$\s*)?(.*?)(?:\s*\\?%)?$")


def number_value(text: str) -> Fraction | None:
    """The exact value of a number as an answer or a result writes it (`1,000`, `$18.50`, `3/4`,
    `\\frac{3}{4}`, `25\\%`), or None when the text is not one number."""
    text = _PERCENT_OR_UNIT_RE.match(text.strip().strip("$").strip()).group(1).strip()  # type: ignore[union-attr]
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
    values = []
    for m in _VALUE_AFTER_EQUALS_RE.finditer(reasoning):
        value = _match_value(m, 3)
        if value is None:
            continue
        written = _left_side_value(reasoning[_segment_start(reasoning, m.start()) : m.start()])
        percent = re.match(r"\s*\\?%", reasoning[m.end() :]) is not None  # "8 / 25 = 32%", "15 / 60 * 100 = 25%"
        if written is None or any(_agrees(written * scale, value, m.group(3)) for scale in ((1, 100) if percent else (1,))):
            values.append(value)
    values += [v for m in _VALUE_BEFORE_VARIABLE_RE.finditer(reasoning) if (v := _value(m.group(1), None)) is not None]
    for m in _EXPRESSION_RE.finditer(reasoning):
        if not reasoning[m.end() :].lstrip().startswith("="):  # an equated expression's result is its own
            value = _balanced_value(m.group())
            if value is not None:
                values.append(value)
    for clause in _CLAUSE_RE.split(reasoning):
        values += _results_in_words(clause)
    return values


def _segment_start(text: str, equals: int) -> int:
    """Where the left side of the `=` at `equals` begins: after the previous `=`, line or sentence."""
    cuts = [text.rfind("=", 0, equals), text.rfind("\n", 0, equals)]
    cuts += [m.end() - 1 for m in _SENTENCE_END_RE.finditer(text, 0, equals)][-1:]
    return max(cuts) + 1


def _left_side_value(left: str) -> Fraction | None:
    """The value of plain arithmetic ending a left side, read past units, currency and asides ("1000 pounds -
    500 pounds", "$2060/$15 per hour", "28 (the jobs) + 7"), or None when the left side does not end in one (a
    variable, words, a lone number)."""
    text = _ASIDE_RE.sub(" ", left).replace("\\$", "").replace("$", "").replace("€", "").replace("£", "")
    text = re.sub(r"(?<=\d) (?=\d{3}\b)", "", text)  # 17 000 -> 17000
    text = re.sub(r"(?<=[\d.)])\s*[x×]\s*(?=[\d.(])", " * ", text)
    text = re.sub(r"(?<![\d.,/])(\d+) (\d+)/(\d+)(?![\d./])", r"(\1+\2/\3)", text)  # a mixed number: 1 1/2
    text = re.sub(r"(?<![\d.,/])(\d+/\d+)(?![\d./])", r"(\1)", text)  # "2000 / 2/3": 2/3 is one number
    text = re.sub(r"(\d+(?:\.\d+)?|\.\d+)\s*\\?%", r"(\1/100)", text)  # 10% -> (10/100)
    text = _UNIT_RE.sub("", text).rstrip()
    tail = [m for m in _EXPRESSION_RE.finditer(text) if m.end() >= len(text.rstrip(" \t)"))]
    return _balanced_value(tail[-1].group()) if tail else None


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


def reaches(reasoning: str, answer: str) -> bool:
    """True when `answer` is the result of a computation in `reasoning` (see the module docstring)."""
    target = number_value(answer)
    if target is not None:
        return target in computed_values(reasoning)
    wanted = _canonical(answer)
    return bool(wanted) and wanted in _symbolic_results(reasoning)
