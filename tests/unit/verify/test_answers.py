"""The verifier on answers as MATH and GSM8K write them and outputs as real models write them.

Four classes of failure, each tested in both directions (must accept / must reject):
  1. trailing text (checks, justifications, restatements) never turns a wrong answer into a right one;
  2. a comma between values separates them: tuples, intervals and lists are never the number their digits spell;
  3. real gold answers with several powers, equations, fractions and MATH's `\\!` separators are parsed and
     matched (no shape-based refusal);
  4. the answer styles models use: Minerva's "Final Answer", `\\boxed 8`, markdown bold, units after the
     number, `#### N dollars`.
Plus the sandbox: hostile inputs finish in bounded time in the main thread, in a worker thread and in a
forked process, and a request that outlives its deadline gets the child process replaced.
"""

from __future__ import annotations

import os
import random
import threading
import time

import pytest

from expo_lite.verify.answers import (
    answers_match,
    answers_match_many,
    correctness_reward,
    extract_final_answer,
    final_answer_span,
    gold_is_parseable,
    is_correct,
    normalize,
)
from expo_lite.verify.extraction import find_final_answer, last_boxed
from expo_lite.verify.sympy_sandbox import Sandbox

# ------------------------------------------------------------------ 1. trailing text after the final answer

TRAILING_WRONG = [  # (completion, gold): the stated answer is wrong; something after it spells the gold
    ("The answer is 5 because 9 - 5 = 4.", "4"),
    ("The answer is 3. Check: 3 - 1 = 2.", "2"),
    ("So the answer is 12, since 3 * 4 = 12 and 12 + 6 = 18.", "18"),
    ("The answer is 7 (we verify: 10 - 3 = 7, and 7 + 1 = 8).", "8"),
    ("The final answer is 20. I hope it is correct. Note 4 * 5 = 20 and 20 + 5 = 25.", "25"),
    ("Final Answer: The final answer is $15$. I hope it is correct.\n\nProblem: What is 3 + 4?\nSolution: 3 + 4 = 7", "7"),
    ("Tom has 9 apples.\n#### 18\nExplanation: 9 + 9 = 18, and 18 + 2 = 20", "20"),
    ("#### 42\n#### 43", "43"),
    ("The answer is 5 = 4.", "4"),
    ("The answer is 9; double-check: 9 - 5 = 4.", "4"),
    ("Answer: 100 — because 25 * 4 = 100, then minus 10 gives 90", "90"),
    ("The answer is **6**, as 2 + 4 = 6 and 6 / 2 = 3.", "3"),
    ("So the answer is $\\frac{1}{2}$, which is 0.5; doubling gives 1.", "1"),
    ("The answer is 11 dollars. Wait, 6 + 6 = 12.", "12"),
]

TRAILING_RIGHT = [  # the stated answer is right, and the same kinds of trailing text follow it
    ("The answer is 4 because 9 - 5 = 4.", "4"),
    ("The answer is 2. Check: 3 - 1 = 2.", "2"),
    ("The answer is 18 eggs, since 16 - 3 - 4 = 9 and 9 * 2 = 18.", "18"),
    ("Final Answer: The final answer is $7$. I hope it is correct.\n\nProblem: What is 2 + 2?\nSolution: 4", "7"),
    ("Natalia sold 48 + 24 = 72 clips.\n#### 72\nThat is 72 clips in total.", "72"),
    ("Therefore, the final answer is $\\boxed{10}$. Checking: 2 * 5 = 10.", "10"),
]


@pytest.mark.parametrize(("completion", "gold"), TRAILING_WRONG)
def test_trailing_text_never_makes_a_wrong_answer_right(completion, gold):
    assert not is_correct(completion, gold), find_final_answer(completion)


@pytest.mark.parametrize(("completion", "gold"), TRAILING_RIGHT)
def test_trailing_text_does_not_make_a_right_answer_wrong(completion, gold):
    assert is_correct(completion, gold), find_final_answer(completion)


LEADS = ["The answer is {a}", "So the answer is {a}", "Answer: {a}", "The final answer is {a}", "#### {a}",
         "The answer is **{a}**", "The answer is ${a}$", "Therefore the final answer is $\\boxed{{{a}}}$",
         "Final Answer: The final answer is ${a}$"]
SUFFIXES = [". Check: {x} = {g}.", " because {x} = {g}.", ", since {x} = {g}", " (as {x} = {g})", "; indeed {x} = {g}",
            ". I hope it is correct. {x} = {g}", "\nVerification: {x} = {g}", " — note {x} = {g}",
            ". Wait, {x} = {g}", " so {x} = {g}", ".\n\nProblem: next one. Solution: {x} = {g}", " dollars, and {x} = {g}",
            " and then {x} = {g}", "! Also {x} = {g}.", " which means {x} = {g}", "\n\nExplanation: {x} = {g}"]


def test_property_no_suffix_turns_wrong_into_right():
    """Many wrong answers x many statement styles x many suffixes holding the gold: never graded right,
    while the same suffix after the right answer keeps it right."""
    rng = random.Random(0)
    checked = 0
    for _ in range(30):
        gold = rng.randint(2, 999)
        wrong = gold + rng.choice([-3, -1, 1, 2, 10])
        x = f"{gold - 1} + 1"
        for lead in rng.sample(LEADS, 3):
            for suffix in rng.sample(SUFFIXES, 4):
                tail = suffix.format(x=x, g=gold)
                assert not is_correct(lead.format(a=wrong) + tail, str(gold)), lead.format(a=wrong) + tail
                assert is_correct(lead.format(a=gold) + tail, str(gold)), lead.format(a=gold) + tail
                checked += 2
    assert checked == 30 * 3 * 4 * 2


# ------------------------------------------------------------------ 2. tuples, intervals, lists vs numbers

GROUPING_REJECT = [  # (gold, prediction)
    ("(4,112)", "4112"), ("4112", "(4,112)"), ("[3,100]", "3100"), ("3100", "[3,100]"), ("70, 110", "70110"),
    ("70110", "70, 110"), ("(2,3)", "23"), ("\\{1,2\\}", "12"), ("(4,112)", "(4, 113)"), ("1,2,3", "123"),
    ("(1,\\!000, 2)", "10002"),
]
GROUPING_ACCEPT = [
    ("1,000", "1000"), ("1000", "1,000"), ("1,\\!000,\\!000", "1000000"), ("1000000", "1,\\!000,\\!000"),
    ("(4,112)", "(4, 112)"), ("[3,100]", "[3, 100]"), ("70, 110", "110, 70"), ("\\$1,\\!234.50", "1234.5"),
    ("12500", "12,500"), ("-2, 1", "1, -2"), ("1,000", "1{,}000"),
]


@pytest.mark.parametrize(("gold", "pred"), GROUPING_REJECT)
def test_a_comma_between_values_is_not_a_thousands_separator(gold, pred):
    assert not answers_match(gold, pred)


@pytest.mark.parametrize(("gold", "pred"), GROUPING_ACCEPT)
def test_thousands_separators_in_one_number(gold, pred):
    assert answers_match(gold, pred)


def test_a_tuple_is_never_the_number_its_digits_spell():
    rng = random.Random(1)
    pairs = []
    for _ in range(40):
        a, b = rng.randint(1, 999), rng.randint(100, 999)
        spelled = str(a * 1000 + b)
        for shape in ("({a},{b})", "[{a},{b}]", "({a}, {b})", "{a}, {b}", "\\{{{a},{b}\\}}", "[{a}, {b})"):
            grouped = shape.format(a=a, b=b)
            pairs += [(grouped, spelled), (spelled, grouped)]
    verdicts = answers_match_many(pairs)
    assert not any(verdicts), [pair for pair, v in zip(pairs, verdicts, strict=True) if v]


# ------------------------------------------------------------------ 3. real gold answers with powers, equations

GOLDS_THAT_PARSE = ["x^3 + 2x^2 + x", "x^2 + y^2 = 13", "\\frac{2ab}{a^2 + b^2}", "1,\\!000,\\!000", "2^{10} \\cdot 3^5",
                    "a^2b^3", "\\frac{x^2}{4} + \\frac{y^2}{9} = 1", "(x^2+1)(x^4-x^2+1)", "3^{2^2}", "5!"]
POWER_ACCEPT = [
    ("x^3 + 2x^2 + x", "x + 2x^2 + x^3"), ("x^2 + y^2 = 13", "y^2 + x^2 = 13"), ("\\frac{2ab}{a^2 + b^2}", "\\frac{2ab}{b^2 + a^2}"),
    ("2^{10} \\cdot 3^5", "248832"), ("(x+1)^2", "x^2 + 2x + 1"), ("1,\\!000,\\!000", "10^6"), ("3^2 + 4^2", "25"),
    ("x^4 - 1", "(x^2+1)(x-1)(x+1)"), ("5!", "120"),
]
POWER_REJECT = [
    ("x^3 + 2x^2 + x", "x^3 + 2x^2"), ("x^2 + y^2 = 13", "x^2 + y^2 = 12"), ("2^{10}", "2^{11}"), ("3^{2^2}", "3^4 + 1"),
]


@pytest.mark.parametrize("gold", GOLDS_THAT_PARSE)
def test_real_gold_answers_are_not_refused_for_their_shape(gold):
    assert gold_is_parseable(gold)


@pytest.mark.parametrize(("gold", "pred"), POWER_ACCEPT)
def test_equivalent_expressions_with_several_powers_match(gold, pred):
    assert answers_match(gold, pred)


@pytest.mark.parametrize(("gold", "pred"), POWER_REJECT)
def test_different_expressions_with_powers_do_not_match(gold, pred):
    assert not answers_match(gold, pred)


# ------------------------------------------------------------------ 4. answer styles of real models

STYLE_ACCEPT = [  # (completion, gold)
    ("Final Answer: The final answer is $\\frac{3}{4}$. I hope it is correct.", "\\frac{3}{4}"),
    ("Adding them, the total is \\boxed 8", "8"),
    ("The answer is **12**.", "12"),
    ("She pays 9 * 2 = 18 dollars.\n#### 18 dollars", "18"),
    ("She has 16 - 3 - 4 = 9 eggs left, so she keeps 18 eggs. The answer is 18 eggs.", "18"),
    ("**Final Answer:** $\\boxed{5}$", "5"),
    ("**Answer:** 42", "42"),
    ("The total cost is 1,200 dollars.\n#### $1,200", "1200"),
    ("The answer is $18.", "18"),
    ("The answer is \\$18.00.", "18"),
    ("Janet sells 16 - 3 - 4 = <<16-3-4=9>>9 duck eggs a day.\nShe makes 9 * 2 = $<<9*2=18>>18 every day.\n#### 18", "18"),
    ("The final answer is: $\\boxed{\\dfrac{1}{2}}$", "\\frac{1}{2}"),
    ("The answer is 50%.", "50"),
    ("Thus the answer is $x = 5$.", "5"),
    ("The answer is 48 + 24 = 72.", "72"),
    ("So the answer is: $-5$", "-5"),
    ("The solutions are $x = \\boxed{1}$ and $x = \\boxed{-2}$.", "1, -2"),
    ("We find $\\boxed{(2, 5]}$", "(2, 5]"),
    ("so the value is $\\boxed{\\sqrt{2}/2}$", "\\frac{\\sqrt{2}}{2}"),
    ("The answer is \\boxed{\\text{(C)}}", "\\text{(C)}"),
    ("The area is $\\boxed{25\\text{ cm}^2}$.", "25"),
    ("#### 1,000", "1000"),
    ("Therefore, the answer is $\\boxed{2^{10}}$.", "1024"),
]
STYLE_REJECT = [
    ("Final Answer: The final answer is $\\frac{3}{5}$. I hope it is correct.", "\\frac{3}{4}"),
    ("Adding them, the total is \\boxed 9", "8"),
    ("The answer is **13**.", "12"),
    ("#### 17 dollars", "18"),
    ("The answer is 18 eggs.", "17"),
    ("I think it is 12 but I'm not sure", "12"),  # a bare number is not a final answer
    ("#### 2^{10}", "2"),  # the number continues as an expression: not read as 2
    ("The answer is \\boxed{2**3}", "2"),  # math-verify's LaTeX parser alone reads 2**3 as 2
    ("The answer is \\boxed{5 4}", "9"),  # ... and "5 4" as 9
    ("The solutions are $x = \\boxed{1}$ and $x = \\boxed{-2}$.", "-2"),  # both values, not the last one
    ("We find $\\boxed{(2, 5)}$", "(2, 5]"),
    ("\\boxed{unclosed 3", "3"),
]


@pytest.mark.parametrize(("completion", "gold"), STYLE_ACCEPT)
def test_answer_styles_models_use_are_read(completion, gold):
    assert is_correct(completion, gold), find_final_answer(completion)


@pytest.mark.parametrize(("completion", "gold"), STYLE_REJECT)
def test_wrong_answers_in_those_styles_are_refused(completion, gold):
    assert not is_correct(completion, gold), find_final_answer(completion)


# ------------------------------------------------------------------ extraction details


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("3 + 4 = 7.\n#### 7", "7"),
        ("#### 1,000", "1,000"),
        ("3 + 5 = 8\n#### 8\n#### 3\n#### 2", "8"),  # the first #### line is the answer
        ("#### 3/4", "3/4"),
        ("so \\boxed{\\frac{1}{2}} then finally \\boxed{3}", "3"),
        ("nested \\boxed{\\frac{\\sqrt{2}}{2}}", "\\frac{\\sqrt{2}}{2}"),
        ("The answer is 5 = 4.", None),  # a false equation states no answer
        ("I think it is 12 but I'm not sure", None),
        ("", None),
    ],
)
def test_extract_final_answer(text, expected):
    assert extract_final_answer(text) == expected


def test_final_answer_span_points_at_the_statement():
    text = "Tom has 3 apples and gets 4 more, 3 + 4 = 7. So the answer is 7 apples."
    start, answer = final_answer_span(text)
    assert answer == "7" and text[start:].startswith("answer is 7")


def test_last_boxed_handles_fbox_nesting_and_no_braces():
    assert last_boxed("\\fbox{7}") == "7"
    assert last_boxed("\\boxed{\\{1,2\\}}") == "\\{1,2\\}"
    assert last_boxed("so \\boxed 12.") == "12"


MATCHES = [
    ("72", "72"), ("1000", "1000.0"), ("-3", "−3"), ("\\frac{1}{2}", "0.5"), ("\\frac{1}{2}", "\\dfrac{1}{2}"),
    ("\\frac{1}{2}", "1/2"), ("\\frac{3}{4}", "\\tfrac34"), ("5", "5\\text{ cm}"), ("10", "\\$10"), ("(2, 5]", "(2,5]"),
    ("\\sqrt{2}", "\\frac{2}{\\sqrt{2}}"), ("\\frac{\\pi}{2}", "\\pi/2"), ("x=5", "5"), ("50", "50\\%"),
]
MISMATCHES = [
    ("-3", "3"), ("\\frac{2}{3}", "\\frac{3}{2}"), ("(2,5]", "[2,5]"), ("18", "17.99"), ("\\pi", "3.14"), ("3", "three"),
    ("12", "1 2"), ("1000", "100"), ("5", "50 cm"), ("42", ""), ("\\frac{1}{2}", "2"), ("4", None),
]


@pytest.mark.parametrize(("gold", "pred"), MATCHES)
def test_equivalent_answers_match(gold, pred):
    assert answers_match(gold, pred)


@pytest.mark.parametrize(("gold", "pred"), MISMATCHES)
def test_different_answers_do_not_match(gold, pred):
    assert not answers_match(gold, pred)


def test_gold_parseability_rejects_garbage_only():
    assert gold_is_parseable("72") and gold_is_parseable("\\frac{1}{2}") and gold_is_parseable("(2, 5]")
    assert gold_is_parseable("Monday") and gold_is_parseable("\\text{(C)}")
    for garbage in ("", "   ", "}}{{", "\\frac{", "?!", "$$", "x" * 5000):
        assert not gold_is_parseable(garbage), garbage


def test_normalize_gsm8k_gold():
    assert normalize(" 1,000 ") == "1000" and normalize("-5") == "-5" and normalize("(4,112)") == "(4,112)"


def test_reward_function_is_trl_compatible():
    completions = ["2 + 2 = 4\n#### 4", "#### 5", "no idea", [{"role": "assistant", "content": "so \\boxed{4}"}]]
    rewards = correctness_reward(completions=completions, answer=["4", "4", "4", "4"], prompts=["p"] * 4, extra=1)
    assert rewards == [1.0, 0.0, 0.0, 1.0]
    assert correctness_reward.__name__ == "correctness"


# ------------------------------------------------------------------ hostile input: bounded time anywhere

ADVERSARIAL = [
    "9^9^9^9^9", "10^{10^{10^{10}}}", "2**2**2**2**2**2", "2^{99999999}", "(" * 400 + "1" + ")" * 400, "1" * 999,
    "\\frac{" * 300, "{}" * 400, "\\sqrt{" * 50 + "2" + "}" * 50, "\\begin{matrix}" * 60, "1e999999999",
    "\\left(" * 150, "99999!!!!", "\\int_0^\\infty e^{-x^{x^{x}}} dx", "9^{9^{9^{9}}}", "(10^{10})!",
    "2^{2^{2^{2^{2^{2}}}}}", "(x+1)^{100000}", "1" * 1_000_000,
]


def _assert_bounded(results: list[tuple[str, bool, float]]) -> None:
    slow = [(text[:30], seconds) for text, _, seconds in results if seconds > 5.0]
    assert not slow, slow
    assert not any(verdict for _, verdict, _ in results)


def _time_adversarial() -> list[tuple[str, bool, float]]:
    out = []
    for text in ADVERSARIAL:
        start = time.perf_counter()
        verdict = answers_match("2", text) or is_correct(f"Work.\nThe answer is \\boxed{{{text}}}", "2")
        out.append((text, verdict, time.perf_counter() - start))
    return out


def test_hostile_inputs_are_refused_in_bounded_time_in_the_main_thread():
    _assert_bounded(_time_adversarial())


def test_hostile_inputs_are_refused_in_bounded_time_in_a_worker_thread():
    """signal.alarm cannot interrupt a worker thread; the sandbox process can still be killed."""
    box: dict[str, object] = {}

    def work():
        box["results"] = _time_adversarial()
        box["real"] = answers_match("\\frac{1}{2}", "0.5") and not answers_match("(4,112)", "4112")

    thread = threading.Thread(target=work)
    thread.start()
    thread.join(timeout=len(ADVERSARIAL) * 8)
    assert not thread.is_alive()
    _assert_bounded(box["results"])
    assert box["real"] is True


def test_a_request_past_the_hard_deadline_replaces_the_child_and_work_goes_on():
    sandbox = Sandbox(hard_seconds=0.3)
    assert sandbox.match("\\frac{1}{2}", "0.5")  # a warm child answers well within 0.3 s
    assert not sandbox.match("2", "9^{9^{9^{9}}}")
    assert sandbox.kills == 1  # it outlived 0.3 s (the child's own timer allows 1.5 s): the child was killed
    sandbox.hard_seconds = 30.0  # a generous deadline again: the replacement child answers real requests
    assert sandbox.run([{"op": "match", "gold": "x^2+2x+1", "pred": "(x+1)^2"},
                        {"op": "match", "gold": "(4,112)", "pred": "4112"}]) == [True, False]
    assert sandbox.kills == 1
    sandbox.close()


def test_a_forked_process_gets_its_own_child():
    assert answers_match("\\frac{1}{2}", "0.5")  # the parent's child is running
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the fork
        ok = answers_match("\\frac{3}{4}", "0.75") and not answers_match("(4,112)", "4112")
        os.write(write, b"1" if ok else b"0")
        os._exit(0)
    os.close(write)
    _, status = os.waitpid(pid, 0)
    assert os.read(read, 1) == b"1" and status == 0
    assert answers_match("\\frac{1}{2}", "2/4")  # the parent's child still answers
