"""The sympy half of the derivation test, run only inside the verifier's child process (sympy_sandbox.py), where
every request has a hard deadline: LaTeX is read by math-verify's parser (latex2sympy), and sympy can hang on
hostile input.

Two questions, each answered with a word, "unknown" whenever sympy cannot tell:

  relate   is the member of an `=` chain written right before the answer worth the answer?
           "equal" (math-verify's equality, the verifier's own, or the same value: `\\frac{21\\cdot30}{45}` is 14,
           `(-3 - 8i)(1 + i)` is `5 - 11i` with `i` the imaginary unit, `3\\sqrt{41}` is 19.2 to the one decimal
           the answer is written with, `x \\sqrt{1 - \\frac{1}{x^2}}` is `\\sqrt{x^2 - 1}` at every point tried),
           "differ" (it is worth something else at every point tried, and uses no variable the answer does not
           use), "unknown" (a variable the answer has not, such as `\\frac{XZ}{XY}`, an undefined function
           `f(1)`, a result that depends on the point, or no parse)
  solves   does the answer satisfy the reasoning's equations in the variables it names ("$1 - 4k = 0,$ or
           $k = \\boxed{\\frac{1}{4}}$"; `(a, b) = \\boxed{(3, -1)}`)? "holds" (each value of the answer makes
           some equation true: `-1, 8` may solve two different ones), "fails" (a value makes no checkable equation
           true), "unknown". An identity (true at two unrelated values) checks nothing and is skipped.

Parsing keeps letters as variables: math-verify's default reads `d`, `h`, `s` or `l` after a number as a unit
and drops them (`900-\\frac{33}{17}d` would be a number), which is right for a final answer and wrong for a step.
Units written as `\\text{...}` are removed by the caller (equations.clean_member). An answer in degrees
(`"degrees": true`) is tried as degrees and as radians, since trigonometry in sympy takes radians.
"""

from __future__ import annotations

import re
from typing import Any

SAMPLE_POINTS = ((1.37, 2.71, 0.53, 3.14, 1.9), (2.23, 0.61, 1.73, 2.9, 0.37), (0.83, 1.41, 2.47, 0.29, 3.61))


def _config() -> list[Any]:
    from math_verify import LatexExtractionConfig, LatexNormalizationConfig

    return [LatexExtractionConfig(normalization_config=LatexNormalizationConfig(
        basic_latex=True, units=False, malformed_operators=True, nits=True, boxed="all", equations=False))]


def _parse(latex: str, timeout: int | None) -> Any:
    from math_verify import parse

    found = parse(f"${latex}$", extraction_config=_config(), parsing_timeout=timeout)
    if not found or not _is_expression(found[0]):
        return found or None
    from sympy import EulerGamma, Symbol

    return [found[0].subs(EulerGamma, Symbol("gamma")), *found[1:]]  # MATH's \\gamma is an angle, not Euler's constant


def _is_expression(value: Any) -> bool:
    from sympy import Basic
    from sympy.matrices import MatrixBase

    return isinstance(value, Basic | MatrixBase)


def _variables(value: Any) -> set[str] | None:
    """Names of the free symbols of a parsed value, or None when it is not an expression we can reason about
    (a string fallback, an undefined function such as `f(1)`)."""
    from sympy.core.function import AppliedUndef

    if not _is_expression(value) or value.atoms(AppliedUndef):
        return None
    return {s.name for s in value.free_symbols}


def _imaginary(value: Any) -> Any:
    """`i` read as the imaginary unit, as MATH writes it."""
    from sympy import I

    unit = next((s for s in getattr(value, "free_symbols", ()) if s.name == "i"), None)
    return value.subs(unit, I) if unit is not None else value


def _decimals(answer: str) -> int | None:
    """How many decimals the answer is written with (`19.2`: 1), None when it is not a decimal."""
    numbers = re.findall(r"\d*\.(\d+)", answer)
    return len(numbers[-1]) if len(numbers) == 1 else None


def _number(value: Any) -> complex | None:
    from sympy import N

    try:
        return complex(N(value, 30))
    except (TypeError, ValueError, AttributeError):
        return None


def _values_at(expr: Any, names: list[str], points: tuple[tuple[float, ...], ...]) -> list[complex] | None:
    """The expression's value at each point (the i-th name takes the point's i-th value, cycling), None when some
    value is no number."""
    out = []
    for point in points:
        value = _number(expr.subs({s: point[names.index(s.name) % len(point)] for s in expr.free_symbols}))
        if value is None:
            return None
        out.append(value)
    return out


def _close(a: complex, b: complex, decimals: int | None = None) -> bool:
    """Equal to 9 significant digits, or within the last decimal written (`3\\sqrt{41}` is 19.2)."""
    tolerance = 10.0**-decimals if decimals is not None else 1e-9 * max(1.0, abs(a), abs(b))
    return abs(a - b) <= tolerance


def _same_value(answer: Any, member: Any, decimals: int | None) -> bool | None:
    """True/False when the two are (not) the same value at every point tried over their variables (one point for
    closed forms); None when it cannot be told or the points disagree. A member whose own variables cancel
    (`\\dfrac{\\frac{4}{5}r^2}{2r^2}`) is the constant it is at every point."""
    names = sorted({s.name for s in answer.free_symbols | member.free_symbols})
    points = SAMPLE_POINTS if names else ((),)
    a, m = _values_at(answer, names, points), _values_at(member, names, points)
    if a is None or m is None:
        return None
    verdicts = {_close(x, y, None if names else decimals) for x, y in zip(a, m, strict=True)}
    return verdicts.pop() if len(verdicts) == 1 else None


def _constant(expr: Any) -> bool:
    """The expression takes one value at every point tried (it has no variables, or they cancel)."""
    names = sorted(s.name for s in expr.free_symbols)
    values = _values_at(expr, names, SAMPLE_POINTS if names else ((),))
    return values is not None and all(_close(v, values[0]) for v in values)


def relate(request: dict[str, Any], timeout: int | None) -> str:
    from math_verify import verify
    from sympy import FiniteSet

    answer, member = _parse(request["answer"], timeout), _parse(request["member"], timeout)
    if answer is None or member is None:
        return "unknown"
    if verify(answer, member, timeout_seconds=timeout):
        return "equal"
    known, used = _variables(answer[0]), _variables(member[0])
    if known is None or used is None or not _is_expression(answer[0]) or not _is_expression(member[0]):
        return "unknown"
    a = _matrices(_imaginary(answer[0]))
    m = _matrices(_given(_imaginary(member[0]), request.get("given", {}), known, timeout))
    kinds = {_kind(a), _kind(m)}
    if len(kinds) == 2 and None not in kinds:  # a number is never a pair, a matrix or an interval
        if not m.free_symbols or (_kind(m) == "scalar" and _kind(a) in ("matrix", "set") and not m.is_Symbol
                                  and not isinstance(a, FiniteSet)):
            return "differ"  # `2pq` is no interval; but `x` may name the values `1, -2`
        if _names_several(m) and _values_named(m) != _values_named(a):
            return "differ"  # `(a, b, c)` names three values, and `\\frac{63}{128}` is one
        return "unknown"  # `(a,b)`, which parses as an interval, names a pair
    if not {s.name for s in m.free_symbols} <= known and not (_constant(m) and _constant(a)):
        return "unknown"  # the member has variables of its own, and depends on them
    if _kind(a) == _kind(m) == "matrix" and getattr(a, "shape", None) and getattr(m, "shape", None):
        if a.shape != m.shape:
            return "differ"
        entries = [_same_value(x, y, None) for x, y in zip(a, m, strict=True)]
        return "differ" if False in entries else "unknown" if None in entries else "equal"
    same = _same_value(a, m, _decimals(request["answer"]))
    return "unknown" if same is None else "equal" if same else "differ"


def _names_several(member: Any) -> bool:
    """A tuple of variables (`(a, b, c)`, or `(m, b)`, which the parser reads as an interval)."""
    from sympy import Interval, Tuple

    parts = member.args if isinstance(member, Tuple) else (member.left, member.right) if isinstance(member, Interval) else ()
    return len(parts) > 1 and all(getattr(p, "is_Symbol", False) for p in parts)


def _values_named(value: Any) -> int | None:
    """How many values a tuple, a list or a two-ended interval holds; 1 for a number or an answer in words (the request
    names it `w_0`); None for a variable, which may name any number of values."""
    from sympy import FiniteSet, Interval, Tuple

    if isinstance(value, Tuple | FiniteSet):
        return len(value)
    if isinstance(value, Interval):
        return 2
    if getattr(value, "is_Symbol", False):
        return 1 if value.name == "w_0" else None
    return 1 if _kind(value) == "scalar" else None


def _matrices(expr: Any) -> Any:
    """Arithmetic on matrices carried out: the parser leaves `\\begin{pmatrix}...\\end{pmatrix}^2` a power of a
    matrix, which sympy would treat as a number."""
    import functools
    import operator

    from sympy import Add, Mul, Pow

    def has_matrix(e: Any) -> bool:
        return bool(getattr(e, "is_Matrix", False)) or any(has_matrix(a) for a in getattr(e, "args", ()))

    if getattr(expr, "is_Matrix", False) or not has_matrix(expr):
        return expr
    args = [_matrices(a) for a in expr.args]
    if isinstance(expr, Pow):
        return args[0] ** args[1]
    if isinstance(expr, Mul | Add):
        return functools.reduce(operator.mul if isinstance(expr, Mul) else operator.add, args)
    return expr


def _kind(value: Any) -> str | None:
    """"matrix" (a matrix or a matrix expression such as `A^2`), "tuple", "set" (an interval, a union, a list of
    values), "scalar", or None."""
    from sympy import Expr, FiniteSet, Interval, Tuple, Union

    if getattr(value, "is_Matrix", False) or getattr(value, "is_MatrixExpr", False):
        return "matrix"
    for kind, types in (("tuple", Tuple), ("set", FiniteSet | Interval | Union), ("scalar", Expr)):
        if isinstance(value, types):
            return kind
    return None


def _given(member: Any, given: dict[str, str], own: set[str], timeout: int | None) -> Any:
    """The member with the values the reasoning gave its other variables put in (`20(k + 1)` after "we take
    $k = 3$"); the answer's own variables stay free."""
    for name, latex in given.items():
        symbol, value = _parse(name, timeout), _parse(latex, timeout)
        if symbol is None or value is None or not _is_expression(value[0]) or value[0].free_symbols:
            continue
        target = next((s for s in member.free_symbols if s.name == getattr(symbol[0], "name", None)), None)
        if target is not None and target.name not in own:
            member = member.subs(target, value[0])
    return member


def _values(answer: Any) -> list[Any]:
    """The values an answer names: `1, -2` (a set or a tuple of roots) is two, anything else one."""
    from sympy import FiniteSet, Tuple

    return list(answer) if isinstance(answer, FiniteSet | Tuple) else [answer]


def solves(request: dict[str, Any], timeout: int | None) -> str:
    from sympy import Symbol, pi

    answer = _parse(request["answer"], timeout)
    named = [_parse(v, timeout) for v in request["variables"]]
    if answer is None or not _is_expression(answer[0]) or any(n is None or not isinstance(n[0], Symbol) for n in named):
        return "unknown"
    names = [n[0].name for n in named]
    if len(names) == 1:  # `x = -1, 8`: each value solves some equation
        assignments = [[value] for value in _values(answer[0])]
    elif len(_values(answer[0])) == len(names):  # `(a, b) = (3, -1)`: one value each
        assignments = [_values(answer[0])]
    else:
        return "unknown"
    equations = []
    for lhs, rhs in request["equations"]:
        left, right = _parse(lhs, timeout), _parse(rhs, timeout)
        if left is not None and right is not None and _is_expression(left[0]) and _is_expression(right[0]):
            given = request.get("given", {})
            equations.append((_given(_imaginary(left[0]), given, set(names), timeout),
                              _given(_imaginary(right[0]), given, set(names), timeout)))
    outcomes = []
    for values in assignments:
        tries = [values, [v * pi / 180 for v in values]] if request.get("degrees") else [values]
        checked = holds = False
        for left, right in equations:
            symbols = {s.name: s for s in left.free_symbols | right.free_symbols if s.name in names}
            if not symbols or all(_identity(left, right, sym) for sym in symbols.values()):
                continue  # `FD^2 = (1+x)^2 - (1-x)^2 = 4x` holds whatever x is: it constrains nothing
            for attempt in tries:
                put = {symbols[n]: v for n, v in zip(names, attempt, strict=True) if n in symbols}
                lhs, rhs = left.subs(put), right.subs(put)
                same = None if lhs.free_symbols or rhs.free_symbols else _same_value(lhs, rhs, None)
                checked, holds = checked or same is not None, holds or same is True
        outcomes.append("holds" if holds else "fails" if checked else "unknown")
    return "holds" if all(o == "holds" for o in outcomes) else "fails" if "fails" in outcomes else "unknown"


def _identity(left: Any, right: Any, symbol: Any) -> bool:
    """The equation holds at two unrelated values of `symbol` (the others held fixed)."""
    verdicts = []
    for value in (1.37, 2.23):
        lhs, rhs = left.subs(symbol, value), right.subs(symbol, value)
        names = sorted(s.name for s in lhs.free_symbols | rhs.free_symbols)
        a, b = _values_at(lhs, names, SAMPLE_POINTS[:1]), _values_at(rhs, names, SAMPLE_POINTS[:1])
        verdicts.append(a is not None and b is not None and _close(a[0], b[0]))
    return all(verdicts)


OPS = {"relate": relate, "solves": solves}
