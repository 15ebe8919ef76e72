"""Where reasoning writes its equations: the math of a text split into statements and their relation chains.

MATH-style reasoning computes in LaTeX, and its last computation usually shares a sentence with the answer:
"so $AX=\\frac{AC\\cdot BX}{BC}=\\frac{21\\cdot30}{45}=\\boxed{14}$." To ask whether an answer is reached
(derivation.py) we need the structure, not the values: which math a position sits in, where one statement ends
and the next begins, and which members an `=` joins. This module reads only that structure; what a member is
worth is sympy's business (math-verify's parser, in the sandbox) or, for plain arithmetic, exact rationals
(computed.py).

  math          `$...$`, `$$...$$`, `\\[...\\]`, `\\(...\\)` and the display environments (`align*`, `equation`,
                `eqnarray*`, `gather` ...). `\\$` is a dollar sign, and so is a `$` that opens no inline math as
                pandoc reads it (GSM8K's "$18 and $5"); an Asymptote figure (`[asy] ... [/asy]`, whose labels
                are full of `$`) is not reasoning and is skipped. A display segment left open (a text cut
                inside `\\[`) runs to the end of the text.
  statements    one piece of math may hold several: `\\frac{x}{15} = \\frac{20}{25}, \\quad \\text{so} \\quad
                x = \\frac{300}{25}` is two. They are cut at a comma or semicolon followed by a space, at
                `\\quad`, at `\\text{...}` holding a connective ("so", "and", "which gives"), at arrows
                (`\\Rightarrow`, `\\implies`), and at a row break `\\\\` unless the next row continues the chain
                (`&= ...` in `align*`, or `&- 5` with an operator; a row that holds its own `&`, `-12 &= 6
                \\cdot (-2)`, is an equation of its own). Only at bracket depth 0: `(4, 112)` is one member.
  chains        a statement's members joined by relations (`=`, `<`, `\\le`, `\\approx`, `\\equiv` ...), each
                member with the relation that precedes it. `a = b = c` is one chain of three members.

Plain text (GSM8K's "48/2 = 24 clips") has no math delimiters; where the final statement is plain text, its line
is read as one statement (`line_statement`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from .extraction import group_end

# Display environments that are math of their own (not the ones nested inside math: aligned, array, pmatrix ...).
_MATH_ENVIRONMENTS = ("align", "align*", "equation", "equation*", "eqnarray", "eqnarray*", "gather", "gather*",
                      "multline", "multline*", "flalign", "flalign*", "alignat", "alignat*", "displaymath", "math")
_BEGIN_RE = re.compile(r"\\begin\{([a-zA-Z]+\*?)\}")
_ASY_RE = re.compile(r"\[asy\].*?(?:\[/asy\]|\Z)", re.DOTALL)
# Relations between members, longest spellings first (\leq before \le; \neq before \ne).
RELATIONS = ("\\approx", "\\equiv", "\\cong", "\\sim", "\\simeq", "\\propto", "\\leqslant", "\\geqslant", "\\leq",
             "\\geq", "\\le", "\\ge", "\\neq", "\\ne", "\\lt", "\\gt", "\\in", "\\subseteq", "\\subset", "\\to",
             "\\rightarrow", "\\mapsto", "=", "<", ">", "≤", "≥", "≠", "≈")
# Between statements: arrows and spacing that reasoning uses as "so".
_STATEMENT_BREAKS = ("\\Longrightarrow", "\\Rightarrow", "\\implies", "\\iff", "\\Leftrightarrow", "\\therefore",
                     "\\because", "\\qquad", "\\quad")
_CONNECTIVE_RE = re.compile(r"\b(?:so|and|or|thus|hence|then|which|since|because|where|when|we|get|gives?|giving|"
                            r"implies|therefore|if|for|is|are|means|yields?|i\.e\.)\b", re.IGNORECASE)
_TEXT_COMMAND_RE = re.compile(r"\\(?:text|textrm|textnormal|mbox|mathrm|textit|textbf)\s*\{")
_OPENING, _CLOSING = "([{", ")]}"
_ENVIRONMENT_RE = re.compile(r"\\(begin|end)\s*\{[A-Za-z*]*\}")
_ROW_LEAD_RE = re.compile(r"^(?:\s|&|\\q?quad\b|\\[,;:! ]|\\hline\b)*")


@dataclass(frozen=True)
class Segment:
    """A piece of math: its content is text[start:end], its closing delimiter ends at `after`; `closed` is False when
    the text ends inside it."""

    start: int
    end: int
    closed: bool = True
    after: int = -1
    inline: bool = False  # `$...$` or `\\(...\\)`: a sentence goes on after it


@dataclass(frozen=True)
class Member:
    """One side of a relation: its LaTeX text as a parser should see it (`clean_member`), the relation written before
    it ("" for a chain's first member), and the text as written."""

    text: str
    relation: str
    raw: str = ""


def math_segments(text: str) -> list[Segment]:
    """Every math segment of `text`, in order (see the module docstring)."""
    out: list[Segment] = []
    masked = _ASY_RE.sub(lambda m: " " * len(m.group()), text)
    i, n = 0, len(masked)
    while i < n:
        ch = masked[i]
        if ch == "\\":
            nxt = masked[i + 1 : i + 2]
            if nxt in ("$", "\\", "{", "}"):
                i += 2
                continue
            if nxt in ("[", "("):
                i = _close(masked, i + 2, "\\]" if nxt == "[" else "\\)", out, inline=nxt == "(")
                continue
            begin = _BEGIN_RE.match(masked, i)
            if begin and begin.group(1) in _MATH_ENVIRONMENTS:
                i = _close(masked, begin.end(), f"\\end{{{begin.group(1)}}}", out)
                continue
            i += 1
        elif ch == "$":
            if masked.startswith("$$", i):
                i = _close(masked, i + 2, "$$", out)
            else:
                i = _close_dollar(masked, i, out)
        else:
            i += 1
    return out


_PROSE_RE = re.compile(r"(?<![\\A-Za-z])[a-z]{3,}(?![A-Za-z]).* ")  # "$0.10 each and $": words, not math
_TEXT_GROUP_RE = re.compile(r"\\(?:text\w*|mbox|mathrm|operatorname|begin|end)\s*\{[^{}]*\}")  # `\\begin{pmatrix}` too


def _close_dollar(text: str, i: int, out: list[Segment]) -> int:
    """Inline math opened by the `$` at `i`, closed as pandoc closes it: the closer (the next `$`) follows a
    non-space and is not followed by a digit. Otherwise the `$` is a dollar sign ("$18 and $5"), and scanning goes
    on after it; so it is when what lies between is prose ("$0.10 each and $0.80"), a lowercase word outside any
    command. (Pandoc also wants a non-space after the opener; MATH writes "$ x= \\boxed{-10}$".)"""
    j = i + 1
    while True:
        j = text.find("$", j)
        if j < 0 or text[j - 1] != "\\":
            break
        j += 1
    if j < 0 or text[j - 1].isspace() or text[j + 1 : j + 2].isdigit() or j == i + 1 or \
            _PROSE_RE.search(_TEXT_GROUP_RE.sub(" ", text[i + 1 : j])):
        return i + 1
    out.append(Segment(i + 1, j, after=j + 1, inline=True))
    return j + 1


def _close(text: str, start: int, closer: str, out: list[Segment], inline: bool = False) -> int:
    """Record the segment opened just before `start` and return where scanning resumes."""
    j = start
    while True:
        j = text.find(closer, j)
        if j < 0:
            out.append(Segment(start, len(text), closed=False, after=len(text)))
            return len(text)
        if closer == "$" and j > 0 and text[j - 1] == "\\" and (j < 2 or text[j - 2] != "\\"):
            j += 1  # `\$` inside math is a dollar sign
            continue
        out.append(Segment(start, j, after=j + len(closer), inline=inline))
        return j + len(closer)


def segment_at(text: str, index: int) -> Segment | None:
    """The math segment whose content holds position `index`, or None when `index` is in plain text."""
    for seg in math_segments(text):
        if seg.start <= index <= seg.end:
            return seg
    return None


def statements(math: str) -> list[str]:
    """The statements of one math segment's content (see the module docstring), in order."""
    out, start = [], 0
    for i in _top_level(math):
        cut = _break_at(math, i) if i >= start else 0
        if cut:
            out.append(math[start:i])
            start = i + cut
    out.append(math[start:])
    return [s for s in out if s.strip()]


def _top_level(text: str) -> Iterator[int]:
    """The positions of `text` at bracket depth 0 where a relation or a statement break may start. Brackets and
    `\\begin{...} ... \\end{...}` (a matrix's rows are not statements) nest; a control symbol (`\\{`, `\\,`, `\\\\`) is one
    position; a control word's letters are plain text."""
    depth, i, n = 0, 0, len(text)
    while i < n:
        ch = text[i]
        environment = _ENVIRONMENT_RE.match(text, i) if ch == "\\" else None
        if environment:
            depth = depth + 1 if environment.group(1) == "begin" else max(depth - 1, 0)
            i = environment.end()
            continue
        if ch in _OPENING:
            depth += 1
        elif ch in _CLOSING:
            depth = max(depth - 1, 0)
        elif depth == 0:
            yield i
        i += 2 if ch == "\\" and i + 1 < n and not text[i + 1].isalpha() else 1


def _break_at(math: str, i: int) -> int:
    """The length of a statement break starting at `i`, or 0."""
    ch = math[i]
    if ch == ";" or (ch == "," and (i + 1 == len(math) or math[i + 1] in " \t\n~" or math.startswith("\\q", i + 1))
                     and not re.match(r",\s*\\!", math[i:])):
        return 1
    if math.startswith("\\\\", i):  # a row break; `&= ...` or `&\qquad + ...` on the next row continues the statement
        row = _ROW_LEAD_RE.sub("", math[i + 2 :])
        aligned = "&" in row.split("\\\\", 1)[0]  # `-12 &= 6 \\cdot (-2)`: a row with its own `&=` is an equation of its own
        return 0 if _continues(row) and (_relation_at(row, 0) or not aligned) else 2
    for word in _STATEMENT_BREAKS:
        if math.startswith(word, i) and not math[i + len(word) : i + len(word) + 1].isalpha():
            if word.endswith("quad") and _continues(_ROW_LEAD_RE.sub("", math[i + len(word) :])):
                return 0  # `&\\qquad + (80+7)`: spacing inside an expression that goes on
            return len(word)
    command = _TEXT_COMMAND_RE.match(math, i)
    if command:
        end = group_end(math, command.end() - 1) or len(math)
        if _CONNECTIVE_RE.search(math[command.end() : end - 1]):
            return end - i
    return 0


def _continues(rest: str) -> bool:
    """What follows a row break or a space starts with a relation or an operator: the statement goes on."""
    return bool(_relation_at(rest, 0)) or rest.startswith(("+", "-", "/", "\\cdot", "\\times", "\\div"))


def chain(statement: str) -> list[Member]:
    """The statement's members, split at relations written at bracket depth 0."""
    members, start, relation = [], 0, ""
    for i in _top_level(statement):
        found = _relation_at(statement, i) if i >= start else ""
        if found:
            members.append(Member(clean_member(statement[start:i]), relation, statement[start:i].strip()))
            relation, start = found, i + len(found)
    members.append(Member(clean_member(statement[start:]), relation, statement[start:].strip()))
    return members


def _relation_at(text: str, i: int) -> str:
    for rel in RELATIONS:
        if text.startswith(rel, i):
            if rel[0] == "\\" and text[i + len(rel) : i + len(rel) + 1].isalpha():
                continue  # \in is not \infty, \le is not \left
            if rel in ("<", ">") and text.startswith(("<<", ">>"), i):
                continue
            return rel
    return ""


_SPACING_RE = re.compile(r"\\\\|\\[,;:!> ]|\\q?quad\b|~|&|\\nonumber\b|\\notag\b|\\(?:label|tag)\{[^{}]*\}|\\displaystyle\b")


_THOUSANDS_RE = re.compile(r"(?<=\d)(?:,\\!|\{,\}|\\,)(?=\d{3})")  # 1,\!000 / 1{,}000 / 1\,000
# Units and words, with the power a unit may carry: `2000\text{ cents}`, `32\text{ cm}^2`, `35^\circ`.
_UNIT_RE = re.compile(r"\\(?:text|mbox|mathrm|textrm|textnormal)\s*\{[A-Za-z .'\n-]*\}(?:\^(?:\{[23]\}|[23]))?"
                      r"|\^(?:\{\\circ\}|\\circ)")
_BOLD_RE = re.compile(r"\\(?:mathbf|textbf|boldsymbol)\s*\{([^{}]*)\}")  # \mathbf{2340} is 2340


_TRIG_RE = re.compile(r"\\(?:arc)?(?:sin|cos|tan|cot|sec|csc)(?![A-Za-z])")  # `\\sin300^\\circ` too
_DEGREES_RE = re.compile(r"(\d+(?:\.\d+)?|\{[^{}]*\}|\([^()]*\))\s*\^\s*(?:\{\\circ\}|\\circ)")


def clean_member(text: str, radians: bool | None = None) -> str:
    """A member as a parser should see it: thousands groups joined, units and words, alignment marks, spacing and
    trailing punctuation removed. Degrees are dropped (`35^\\circ` is 35), except around trigonometry, where they
    become radians (`\\sin 30^\\circ` is `\\sin (30\\cdot\\frac{\\pi}{180})`, one half), since sympy reads radians;
    `radians=True` converts them wherever they are (an answer in degrees next to `\\arcsin`)."""
    text = _BOLD_RE.sub(r"\1", _THOUSANDS_RE.sub("", text))
    if radians or (radians is None and has_trigonometry(text)):
        text = _DEGREES_RE.sub(r"(\1\\cdot\\frac{\\pi}{180})", text)
    text = _UNIT_RE.sub(" ", text)
    # alignment marks and row breaks go, except inside a matrix, whose `&` and `\\\\` are its columns and rows
    pieces = re.split(r"(\\begin\s*\{[A-Za-z*]*\}.*?\\end\s*\{[A-Za-z*]*\})", text, flags=re.DOTALL)
    text = "".join(p if k % 2 else _SPACING_RE.sub(" ", p) for k, p in enumerate(pieces)).strip()
    return text.rstrip(".,;:").strip()


def has_trigonometry(text: str) -> bool:
    return _TRIG_RE.search(text) is not None


def line_statement(text: str, end: int) -> str:
    """The plain-text statement that ends at `end`: from the start of its line or sentence."""
    start = max(text.rfind("\n", 0, end), *(text.rfind(sep, 0, end) + 1 for sep in (". ", "! ", "? ")))
    return text[start + 1 if start >= 0 and text[start] == "\n" else max(start, 0) : end]
