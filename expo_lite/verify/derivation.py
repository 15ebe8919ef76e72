"""Does a piece of reasoning *reach* its answer, and does it write only true arithmetic on the way? The text test
behind the `unreached` and `false_equation` refusals of a self-explanation (algorithms/explain.py).

ExPO's positives must raise the likelihood of the right answer, and a try that computes something else and
then writes the hinted answer does the opposite: "How much Raj has now: 3 * 4 = 12 ... #### 7" teaches the
model to write a memorised answer after unrelated arithmetic. The reasoning is the text up to the final answer's
marker (the `\\boxed`, the `####`, "the answer is"), so the last computation of a MATH solution, which shares a
sentence with its answer, is part of it: "so $AX=\\frac{AC\\cdot BX}{BC}=\\frac{21\\cdot30}{45}=\\boxed{14}$."

How an answer is reached, tried in this order (`Reach.how`):

  chain      the answer ends an `=` chain and the member before it is worth it: exactly for plain arithmetic
             (computed.py), else by math-verify's parser and sympy in the sandbox (sympy_reach.py):
             `\\frac{21\\cdot30}{45}`, `\\binom{14}{6}`, `625-16`, `9+\\sqrt{101}-\\sqrt2`, `3\\sqrt{41}` as 19.2.
             When it is worth something else, the last step is false: refused as `false_chain` ("$60-52=\\boxed{9}$";
             one number where `(a,b,c)` names three; a word, `\\text{odd}`, after arithmetic)
  solved     the chain names a variable (`$k = \\boxed{\\frac{1}{4}}$`, `$BC = \\boxed{6}$`) and the answer, put
             into an equation of the reasoning in that variable, makes it true (`$1 - 4k = 0,$`). When equations
             in it can be checked and none holds: refused as `unsolved`. (An identity such as `FD^2 = (1+x)^2 -
             (1-x)^2 = 4x` holds for every value and checks nothing.)
  computed   the answer is a result computed anywhere in the reasoning (computed.py: GSM8K's "9 * 2 = $18",
             "5 plus 3 is 8", LaTeX results after `=`, `$(3)^3$` written out) and then stated ("#### 18")
  stated     nothing can be evaluated: the members before the answer are names or forms sympy cannot value
             (`\\tan Y = \\frac{XZ}{XY} = \\boxed{\\frac{7}{24}}`, a matrix named in bold); or the answer is
             stated in a sentence that does the last step in words ("Therefore, 15 inches represents $\\boxed{180}$ miles"); or it is no number
             (a choice `\\text{(E)}`, a matrix, an equation), which no step computes

and refused as `other_result` when the answer is a number stated apart from the reasoning (a `#### N` line, "The
answer is 6.", "Thus, our answer is $\\boxed{27}$.") that no step computed: "2 * 4 = 8 marbles. So she has 6
marbles. #### 6". GSM8K's human solutions compute their answer (all but a few slips); some MATH ones count in words before "The answer
is $\\boxed{1}$", and those are refused with the rationalisations. What a text test cannot tell apart - a last step
done in words or in the head, from a hinted answer written after unrelated work - is the likelihood test's to
judge (`explain.reach_check: answer_gain`, algorithms/answer_gain.py). Measured on human solutions and on the same
solutions ending in another problem's answer: benchmarks/positive_checks.py, docs/method.md.

`false_equation` (computed.py: read exactly, without sympy) is the other question: does the reasoning write plain
arithmetic that is false ("Raj has 74 - 14 = 48 cookies left")? A positive that does teaches false arithmetic,
whatever its answer.

Every sympy call goes through the verifier's sandbox (sympy_sandbox.py: a child process with a hard deadline);
a member too long to be a step of arithmetic (MAX_MEMBER_CHARS) is not read, so a hostile try costs at most a few
bounded requests.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction

from .answers import _canonical
from .computed import (
    is_computed,
    last_result,
    latex_arithmetic_value,
    number_value,
    written_latex_values,
)
from .equations import (
    Member,
    chain,
    clean_member,
    has_trigonometry,
    line_statement,
    math_segments,
    segment_at,
    statements,
)
from .extraction import answer_sentence, sentence_start
from .sympy_sandbox import SANDBOX

MAX_MEMBER_CHARS = 400  # a member of a chain longer than this is not a step we read (the sympy bound is per request too)
NEAREST_MEMBERS = 2  # members of the final chain valued, nearest the answer first
EQUATIONS_FOR_A_VARIABLE = 8  # the latest equations that name the variable a solved answer gives
# A variable sympy reads as one symbol: a letter (with a subscript) or a Greek letter.
_VARIABLE_RE = re.compile(r"^(?:[A-Za-z]|\\(?:alpha|beta|gamma|delta|theta|lambda|mu|omega|phi|psi|sigma|tau|rho))"
                          r"(?:_\{?[A-Za-z0-9]+\}?)?$")
_PLACEHOLDER = "v_{0}"  # what any other unknown (`BC`, which sympy reads as B*C; `\\cos \\theta`) is called in a request
# Commands that make a member a name or an elision, not a value: `\angle 4`, `\cancel{3}`, `2 + \cdots + 1`.
_NAMING_COMMANDS = {"angle", "measuredangle", "triangle", "overline", "overarc", "widehat", "arc", "cancel", "cancelto",
                    "cdots", "ldots", "dots", "dotsb", "dotsc", "dotsm", "vdots", "mathbf", "bf", "vec", "boldsymbol",
                    "operatorname", "text", "mbox", "hat", "bar", "tilde"}

# how -> reached?
HOW = {"chain": True, "solved": True, "computed": True, "stated": True,
       "false_chain": False, "unsolved": False, "other_result": False}


@dataclass(frozen=True)
class Reach:
    how: str  # a key of HOW
    detail: str = ""  # the member, variable or step that decided

    @property
    def reached(self) -> bool:
        return HOW[self.how]


def reach(text: str, at: int, answer: str, end: int | None = None) -> Reach:
    """Whether the reasoning `text[:at]` reaches `answer`, the value of the final answer statement that starts at
    `at` and states it up to `end` (see the module docstring)."""
    reasoning = text[:at]
    members = final_chain(text, at)
    if members:
        percent = end is not None and re.match(r"[\s$.}]*(?:\\?%|percent)", text[end:]) is not None
        decided = _value_chain(members, answer, text, at, percent)
        if decided is not None:
            return decided
    if is_computed(reasoning, answer) or any(v in answer_values(answer) for v in written_latex_values(text, at)):
        return Reach("computed")
    if members:
        return Reach("stated", "the chain before the answer cannot be valued")
    if not bare_statement(text, at, end) and not _announced_before(reasoning, answer):
        return Reach("stated", "the answer's sentence states it as a result")
    if not answer_values(answer):
        return Reach("stated", "an answer that is no number is not computed (a choice, a matrix, an equation)")
    last = last_result(reasoning)
    return Reach("other_result", last[1] if last else "no step gives a number")


def reaches(reasoning: str, answer: str) -> bool:
    """`reach` for reasoning followed by its answer on a line of its own (GSM8K's "#### N")."""
    line = f"{reasoning}\n#### {answer}"
    return reach(line, len(reasoning) + 1, answer, len(line)).reached


# ------------------------------------------------------------------------------------ the final statement


_BARE_RE = re.compile(r"\W*(?:\d+[.)]\s*)?(?:(?:so|thus|therefore|hence|then|finally|in conclusion|overall|and|in total)"
                      r"\b\W*)*(?:(?:the|our|my|this)\s+)?(?:(?:correct|final)\s+)*(?:answer|result)?\s*(?:is|:|=)?\W*",
                      re.IGNORECASE)  # "4. The correct answer is"


def bare_statement(text: str, at: int, end: int | None = None) -> bool:
    """True when the answer statement at `at` (ending at `end`) stands apart from the reasoning: a `#### N` line,
    "The answer is 6.", "Thus, our final answer is $\\boxed{27}$ integers." - not a sentence that does a last step
    in words ("Therefore, 15 inches represents $\\boxed{180}$ miles", "Thus $\\boxed{36}$ is the least perfect
    square that is divisible by 3")."""
    after = re.split(r"[.!?](?:\s|$)|\n", text[end:], maxsplit=1)[0] if end is not None else ""
    return announces_only(text, at) and len(re.findall(r"[A-Za-z]+", after)) <= 2


def _announced_before(reasoning: str, answer: str) -> bool:
    """The reasoning already announced the answer on its own ("The answer is 121.") before the final statement, which
    only repeats it ('So, the last line is "#### 121"'): the announcement is the statement that counts."""
    found = answer_sentence(reasoning)
    if found is None or not announces_only(reasoning, found[0]):
        return False
    values = answer_values(found[1])
    return (values and values[0] in answer_values(answer)) or _canonical(found[1]) == _canonical(answer)


def announces_only(text: str, at: int) -> bool:
    """True when the sentence of the answer statement at `at` holds nothing before it but an announcement ("So, the
    final answer is", "4. The answer is", a `####` line's empty start): no step of the reasoning."""
    sentence = text[sentence_start(text, at) : at].replace("**", "").replace("\\[", "").replace("\\(", "")
    return _BARE_RE.fullmatch(sentence) is not None


def final_chain(text: str, at: int) -> list[Member]:
    """The members joined by `=` to the answer statement at `at`, nearest first; [] when the statement does not end
    an `=` chain ("... is $\\boxed{2}$", "#### 18")."""
    seg = segment_at(text, at)
    before = text[seg.start : at] if seg is not None else line_statement(text, at)
    pieces = statements(before)
    if not pieces or before.rstrip().endswith((",", ";")):
        return []
    members = chain(pieces[-1])
    if len(members) < 2 or members[-1].text or members[-1].relation != "=":
        return []
    out = []
    for k in range(len(members) - 2, -1, -1):
        out.append(members[k])
        if members[k].relation != "=":
            break
    return out


def _value_chain(members: list[Member], answer: str, text: str, at: int, percent: bool = False) -> Reach | None:
    """The verdict of the final chain: its nearest member that can be valued decides (with the values the reasoning
    gave its other variables); else what it names, solved; None when nothing in it can be evaluated."""
    readable = [m for m in members[:NEAREST_MEMBERS] if m.text and len(m.raw) <= MAX_MEMBER_CHARS]
    given = assignments(text, at)
    for member, word in zip(readable, _relate(answer, readable, percent, given), strict=True):
        if word == "equal":
            return Reach("chain", member.raw)
        if word == "differ":
            return Reach("false_chain", member.raw)
    for member in members[:NEAREST_MEMBERS]:
        word = _solve(sympy_text(member), answer, text, at, given)
        if word == "holds":
            return Reach("solved", member.raw)
        if word == "fails":
            return Reach("unsolved", member.raw)
    return None


def _solve(member: str, answer: str, text: str, at: int, given: dict[str, str]) -> str:
    """"holds" | "fails" | "unknown": does the answer solve the reasoning's equations in what `member` names?"""
    names = unknowns(member)
    if not names:
        return "unknown"
    equations = equations_naming(text, at, names)
    if not equations:
        return "unknown"
    if not all(_VARIABLE_RE.match(n) for n in names):  # BC, \cos \theta, t^2: one unknown, not B times C
        token = re.compile(_name_pattern(names[0]))
        equations = [[token.sub(_PLACEHOLDER, side) for side in pair] for pair in equations]
        names = [_PLACEHOLDER]
    degrees = re.search(r"\^\s*\{?\\circ", answer) is not None
    (word,) = SANDBOX.answers([{"op": "solves", "answer": clean_member(answer), "equations": equations,
                                "variables": names, "degrees": degrees,
                                "given": {k: v for k, v in given.items() if k not in names}}])
    return word if word in ("holds", "fails") else "unknown"


def unknowns(text: str) -> list[str]:
    """What a chain member names, when it can be the unknown of the reasoning's equations: a variable (`k`, `x_1`,
    `\\theta`), variables in a tuple (`(a, b)`), a segment (`BC`, `\\overline{BC}` as BC), or a short term of variables
    (`t^2`, `\\cos \\theta`); [] for anything else."""
    segment = re.fullmatch(r"\\overline\{([A-Z]{2,3})\}", text)
    if segment:
        return [segment.group(1)]
    listed = re.fullmatch(r"\((.*)\)", text)
    if listed and "," in listed.group(1):
        parts = [p.strip() for p in listed.group(1).split(",")]
        return parts if all(_VARIABLE_RE.match(p) for p in parts) else []
    if _VARIABLE_RE.match(text) or (len(text) <= 16 and re.search(r"[A-Za-z]", text) and "=" not in text
                                      and latex_arithmetic_value(text) is None):
        return [text]
    return []


def _name_pattern(name: str) -> str:
    """A regular expression for `name` written as a term of its own (`BC` not inside `ABC`, `k` not inside `\\frac`)."""
    inner = r"\s*".join(re.escape(part) for part in name.split())
    overline = rf"\\overline\{{{inner}\}}|" if re.fullmatch(r"[A-Z]{2,3}", name) else ""
    return rf"{overline}(?<![A-Za-z\\]){inner}(?![A-Za-z_])"


def _names(text: str, name: str) -> bool:
    """True when the member text names `name`: a variable anywhere in a product of letters (`\\frac12sh` names h, as
    sympy reads it; `x` is not in `x_1`), any other name as a term of its own."""
    if not _VARIABLE_RE.match(name) or name.startswith("\\"):
        return re.search(_name_pattern(name), text) is not None
    letters = re.sub(r"\\(?:text|mbox|mathrm|operatorname)\s*\{[^{}]*\}|\\[A-Za-z]+", " ", text)
    base, _, subscript = name.partition("_")
    if subscript:
        return re.search(rf"{re.escape(base)}_\{{?{re.escape(subscript.strip('{}'))}\}}?", letters) is not None
    return re.search(rf"{re.escape(base)}(?!\s*_)", letters) is not None


def assignments(text: str, at: int) -> dict[str, str]:
    """The latest value the reasoning before `at` gives each variable ("we take $k = 3.$", "$k = \\sqrt{200} =
    10\\sqrt{2}$"): the last member of a chain that starts with the variable, in the variable's own `=` run. Values
    that are not closed forms are dropped by sympy (sympy_reach._given)."""
    out: dict[str, str] = {}
    for run in _equal_runs_before(text, at):
        name = sympy_text(run[0])
        if _VARIABLE_RE.match(name) and len(run[-1].raw) <= MAX_MEMBER_CHARS:
            out[name] = sympy_text(run[-1])
    return out


def _relate(answer: str, members: list[Member], percent: bool = False, given: dict[str, str] | None = None) -> list[str]:
    """"equal" | "differ" | "unknown" for each member against the answer: exactly when both are plain numbers or
    arithmetic (computed.py), else by sympy in the sandbox (sympy_reach.py). A percentage is its number or its
    fraction (`\\frac{1}{10} = \\boxed{10\\%}`, "$\\frac{15}{25}=\\boxed{60}$ percent"). An answer in words or a
    choice (`\\text{odd}`, `\\text{(D)}`) is a value no arithmetic gives: sympy sees it as a fresh symbol. A member
    that names a figure or elides terms (`\\angle 4`, `\\cancel{3}`, `2 + \\cdots + 1`) is never valued."""
    targets = answer_values(answer, percent)
    words: list[str | None] = []
    for member in members:
        if (_NAMING_COMMANDS & set(re.findall(r"\\([A-Za-z]+)", clean_member(member.raw))) or "\\|" in member.raw  # a norm
                or _BOLD_NAME_RE.search(member.raw)):  # `\\mathbf{A} \\mathbf{B}`: matrices, which sympy would multiply as numbers
            words.append("unknown")
            continue
        value = latex_arithmetic_value(member.text) if targets else None
        words.append(None if value is None else "equal" if value in targets else "differ")
    asked = [i for i, w in enumerate(words) if w is None]
    requests = []
    for i in asked:
        trig = has_trigonometry(members[i].raw)
        plain = clean_member(answer, radians=trig and "circ" in answer) or (_WORD if _WORD_ANSWER_RE.match(answer) else "")
        spellings = [plain] + ([f"({plain.replace(chr(92) + '%', '').rstrip('%')})/100"] if percent or _is_percent(answer) else [])
        written = sympy_text(members[i])
        computes = not _VARIABLE_RE.match(written) and not re.fullmatch(r"\(.*\)", written)  # `x`, `(a, b)` are named
        named = {k: v for k, v in (given or {}).items() if computes and _names(written, k)}
        requests.append([{"op": "relate", "answer": a, "member": written, "given": named} for a in spellings])
    said = iter(SANDBOX.answers([r for group in requests for r in group]))
    for i, group in zip(asked, requests, strict=True):
        got = [next(said) for _ in group]
        words[i] = "equal" if "equal" in got else "differ" if "differ" in got else "unknown"
    return [w or "unknown" for w in words]


_BOLD_NAME_RE = re.compile(r"\\(?:mathbf|boldsymbol|vec)\s*\{?\s*[A-Za-z]")  # a vector or matrix named in bold
_WORD_ANSWER_RE = re.compile(r"^\s*\\(?:text|textbf|mbox|mathrm)\s*\{\s*\(?[A-Za-z][A-Za-z ,.'-]*\)?\s*\}\s*$")  # `\\text{(D)}`
_WORD = "w_{0}"  # what an answer in words is called in a request: a symbol no constant equals


def _is_percent(answer: str) -> bool:
    return answer.rstrip().rstrip("$").rstrip().endswith("%")


_MIXED_RE = re.compile(r"(-?)(\d+)\s*\\[dt]?frac\s*\{(\d+)\}\s*\{(\d+)\}")


def answer_values(answer: str, percent: bool = False) -> list[Fraction]:
    """The numbers an answer may be written as in a chain: its value, units dropped (`840\\text{ square inches}`), a
    mixed number as MATH means it (`-15\\frac{3}{5}` is -78/5), and for a percentage its fraction too (`25\\%` is 25
    or 1/4); [] for an answer that is no plain number."""
    plain = clean_member(answer)
    mixed = _MIXED_RE.fullmatch(plain)
    if mixed and int(mixed.group(4)):
        sign = -1 if mixed.group(1) else 1
        value: Fraction | None = sign * (int(mixed.group(2)) + Fraction(int(mixed.group(3)), int(mixed.group(4))))
    else:
        value = number_value(plain)
    if value is None:
        return []
    return [value, value / 100] if percent or _is_percent(answer) else [value]


def sympy_text(member: Member) -> str:
    """A member as math-verify's parser should read it (`clean_member`, then `_for_sympy`)."""
    return _for_sympy(clean_member(member.raw))


def _for_sympy(latex: str) -> str:
    """LaTeX as math-verify should read it: a number, bracket or \\pi before a bracket multiplies it (`3(2003)` is
    6009 and `(1/2)(40)(42)` is 840; the parser reads the first as 3 + 2003, like a mixed number); a figure's
    segment or area is one unknown (`BC`, `\\overline{BC}` is `s_{BC}` and `[ABC]` is `A_{ABC}`, where the parser
    would read B times C)."""
    latex = _AREA_RE.sub(r"A_{\1}", _OVERLINE_RE.sub(r"s_{\1}", latex))
    latex = _SEGMENT_RE.sub(r"s_{\1}", latex)
    return _MULTIPLIED_BRACKET_RE.sub(r"\1\\cdot ", latex)


# A number (not an exponent or subscript: `\\sin^2 (x)`), a closing bracket or \\pi, right before an opening bracket.
_MULTIPLIED_BRACKET_RE = re.compile(r"((?<![\^_\w\\.])\d+(?:\.\d+)?|\)|\\pi)\s*(?=\(|\\left\s*\()")
_OVERLINE_RE = re.compile(r"\\overline\s*\{([A-Z]{2,3})\}")
_AREA_RE = re.compile(r"\[([A-Z]{3,})\]")
_SEGMENT_RE = re.compile(r"(?<!_\{)(?<![\\A-Za-z_])([A-Z]{2,3})(?![A-Za-z])")


def equations_naming(text: str, at: int, names: list[str]) -> list[list[str]]:
    """The latest equations [lhs, rhs] of the math before `at` that name one of `names`: each member that names one
    against every member joined to it by `=` alone, so `2S = (\\cos^2 0^\\circ + \\dots) = 91` gives `2S = 91`. The
    math the answer sits in counts up to the answer ("$4a = 8 \\Rightarrow a = \\boxed{2}$"). A `\\pm` gives both
    equations (`\\sin 2x = 22 \\pm 8 \\sqrt{7}`)."""
    pairs = []
    for run in _equal_runs_before(text, at):
        for k, member in enumerate(run):
            if any(_names(sympy_text(member), name) for name in names):
                for j, other in enumerate(run):
                    if j != k and len(member.raw) + len(other.raw) <= MAX_MEMBER_CHARS:
                        left, right = sympy_text(member), sympy_text(other)
                        pairs += [[left.replace("\\pm", sign).replace("\\mp", sign), right.replace("\\pm", sign).replace("\\mp", sign)]
                                  for sign in (("+", "-") if "\\pm" in left + right or "\\mp" in left + right else ("+",))]
    return pairs[-EQUATIONS_FOR_A_VARIABLE:]


def _equal_runs_before(text: str, at: int) -> Iterator[list[Member]]:
    """Every `=` run of the math before `at`, in order; the math the answer sits in counts up to the answer."""
    for seg in math_segments(text):
        if seg.start >= at:
            break
        for statement in statements(text[seg.start : min(seg.end, at)]):
            yield from _equal_runs(chain(statement))


def _equal_runs(members: list[Member]) -> list[list[Member]]:
    """The chain cut where a relation other than `=` stands: `a = b < c = d` is [a, b] and [c, d]."""
    runs: list[list[Member]] = []
    for m in members:
        if m.relation != "=" or not runs:
            runs.append([])
        if m.text:
            runs[-1].append(m)
    return [r for r in runs if len(r) > 1]
