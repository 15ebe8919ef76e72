"""Time of `answers_match` on a large mixed set of real-shaped answers and on hostile inputs, in the main
thread and in a worker thread (where `signal.alarm` cannot help): median, p99 and max per call.

The mixed set: GSM8K-style integers and thousands, MATH-style LaTeX (fractions, radicals, polynomials,
equations, intervals, tuples, multi-valued answers, text answers), each against an equal and a different
prediction, all distinct so the verdict cache never answers. The hostile set: power towers, deep nesting,
a 10^6-digit number, huge factorials and integrals. The promise checked here: nothing takes over 5 s.

    .venv/bin/python benchmarks/verifier.py            # ~1-2 minutes
    .venv/bin/python benchmarks/verifier.py --json     # last line: one JSON object
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import threading
import time

from expo_lite.verify.answers import answers_match
from expo_lite.verify.sympy_sandbox import SANDBOX

LATEX_PAIRS = [  # (gold, equal prediction, different prediction), in MATH's own spelling
    ("\\frac{{{a}}}{{{b}}}", "{a}/{b}", "\\frac{{{b}}}{{{a}}}"),
    ("{a}\\sqrt{{{b}}}", "\\sqrt{{{a2b}}}", "{a}\\sqrt{{{b1}}}"),
    ("x^2 + {a}x + {b}", "{b} + {a}x + x^2", "x^2 + {a}x + {b1}"),
    ("x^2 + y^2 = {b}", "y^2 + x^2 = {b}", "x^2 + y^2 = {b1}"),
    ("({a}, {b})", "({a},{b})", "({a}, {b1})"),
    ("[{a}, {b}]", "[{a},{b}]", "({a}, {b}]"),
    ("{a}, {b}", "{b}, {a}", "{a}{b}"),
    ("\\frac{{{a}\\pi}}{{{b}}}", "{a}\\pi/{b}", "\\frac{{{a}\\pi}}{{{b1}}}"),
    ("{a}^{{{b}}}", "{a}^{{{b}}}", "{a}^{{{b1}}}"),
    ("\\text{{({c})}}", "\\text{{({c})}}", "\\text{{({d})}}"),
]


def gsm8k_set(n: int, seed: int = 0) -> list[tuple[str, str]]:
    """GSM8K golds against a model's spellings (thousands separators, decimals, a wrong number)."""
    rng = random.Random(seed)
    pairs: list[tuple[str, str]] = []
    while len(pairs) < n:
        big = rng.randint(1000, 9_999_999)
        pairs += [(str(big), f"{big:,}"), (str(big), f"{big}.00"), (str(big), str(big + rng.choice([-1, 1, 10])))]
    return pairs[:n]


def math_set(n: int, seed: int = 0) -> list[tuple[str, str]]:
    """MATH-style LaTeX golds, each against an equal and a different prediction (these go to sympy)."""
    rng = random.Random(seed)
    pairs: list[tuple[str, str]] = []
    while len(pairs) < n:
        a, b = rng.randint(2, 97), rng.randint(3, 9999)
        gold, same, other = rng.choice(LATEX_PAIRS)
        fill = dict(a=a, b=b, b1=b + 1, a2b=a * a * b, c=rng.choice("ABCDE"), d=rng.choice("FGH"))
        pairs.append((gold.format(**fill), same.format(**fill)))
        pairs.append((gold.format(**fill), other.format(**fill)))
    return pairs[:n]


HOSTILE = [
    "9^9^9^9^9", "10^{10^{10^{10}}}", "2**2**2**2**2**2", "2^{99999999}", "9^{9^{9^{9}}}", "2^{2^{2^{2^{2^{2}}}}}",
    "(10^{10})!", "99999!!!!", "(x+1)^{100000}", "\\int_0^\\infty e^{-x^{x^{x}}} dx", "\\sum_{n=1}^{10^{9}} n^n",
    "(" * 400 + "1" + ")" * 400, "\\frac{" * 300, "\\sqrt{" * 50 + "2" + "}" * 50, "\\left(" * 150,
    "\\begin{matrix}" * 60, "{}" * 400, "1" * 999, "1" * 1_000_000, "1e999999999", "x" * 900,
]


def timed(pairs: list[tuple[str, str]]) -> list[float]:
    out = []
    for gold, pred in pairs:
        start = time.perf_counter()
        answers_match(gold, pred)
        out.append(time.perf_counter() - start)
    return out


def in_thread(pairs: list[tuple[str, str]]) -> list[float]:
    box: dict[str, list[float]] = {}
    thread = threading.Thread(target=lambda: box.setdefault("t", timed(pairs)))
    thread.start()
    thread.join()
    return box["t"]


def stats(times: list[float]) -> dict[str, float]:
    ordered = sorted(times)
    return {"n": len(times), "median_ms": statistics.median(ordered) * 1e3,
            "p99_ms": ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] * 1e3, "max_s": ordered[-1]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pairs", type=int, default=2000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    answers_match("\\frac{1}{2}", "0.5")  # start the sandbox child (its start-up is not a per-call cost)
    gsm8k, math = gsm8k_set(args.pairs // 2), math_set(args.pairs // 2, seed=1)
    hostile = [("2", text) for text in HOSTILE]
    rows = {}
    for name, pairs in (("GSM8K-style", gsm8k), ("MATH-style LaTeX", math), ("hostile", hostile)):
        half = len(pairs) // 2 if name != "hostile" else len(pairs)
        rows[f"{name}, main thread"] = stats(timed(pairs[:half]))
        SANDBOX.forget()  # the worker-thread run must do the work again, not read remembered verdicts
        rows[f"{name}, worker thread"] = stats(in_thread(pairs[len(pairs) - half :]))
    print("| set | calls | median ms | p99 ms | max s |\n|---|---|---|---|---|")
    for name, s in rows.items():
        print(f"| {name} | {s['n']} | {s['median_ms']:.2f} | {s['p99_ms']:.1f} | {s['max_s']:.2f} |")
    worst = max(s["max_s"] for s in rows.values())
    print(f"\nslowest call {worst:.2f} s ({'within' if worst <= 5 else 'OVER'} the 5 s bound); "
          f"sandbox children killed for a missed deadline: {SANDBOX.kills}")
    if args.json:
        print(json.dumps({"rows": rows, "max_s": worst, "kills": SANDBOX.kills}))


if __name__ == "__main__":
    main()
