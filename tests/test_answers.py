"""Final-answer extraction, math-verify equivalence (gold first), the TRL reward, adversarial inputs."""

from __future__ import annotations

import time

import pytest

from expo_lite.answers import (
    answers_match,
    correctness_reward,
    extract_final_answer,
    gold_is_parseable,
    is_correct,
    last_boxed,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("3 + 4 = 7.\n#### 7", "7"),
        ("Natalia sold 48/2 = 24 clips in May.\n#### 72", "72"),
        ("#### 1,000", "1,000"),
        ("3 + 5 = 8\n#### 8\n#### 3\n#### 2", "8"),  # the first #### line is the answer
        ("so \\boxed{\\frac{1}{2}} then finally \\boxed{3}", "3"),
        ("The final answer is $\\boxed{\\dfrac{3}{4}}$.", "\\dfrac{3}{4}"),
        ("nested \\boxed{\\frac{\\sqrt{2}}{2}}", "\\frac{\\sqrt{2}}{2}"),
        ("The answer is 12.", "12"),
        ("so the answer is: $-5$", "-5"),
        ("I think it is 12 but I'm not sure", None),  # a bare number is not a final answer
        ("\\boxed{unclosed", None),
        ("", None),
    ],
)
def test_extract_final_answer(text, expected):
    assert extract_final_answer(text) == expected


MATCHES = [
    ("72", "72"), ("1000", "1,000"), ("1000", "1000.0"), ("-3", "-3"), ("-3", "−3".replace("−", "-")),
    ("\\frac{1}{2}", "0.5"), ("\\frac{1}{2}", "\\dfrac{1}{2}"), ("\\frac{1}{2}", "1/2"), ("\\frac{3}{4}", "\\tfrac34"),
    ("5", "5\\text{ cm}"), ("5", "5 cm"), ("10", "\\$10"), ("(2, 5]", "(2,5]"), ("[-1, 3)", "[-1,3)"),
    ("\\sqrt{2}", "\\frac{2}{\\sqrt{2}}"), ("x^2+2x", "2x+x^2"), ("\\frac{\\pi}{2}", "\\pi/2"),
]
MISMATCHES = [
    ("-3", "3"), ("\\frac{2}{3}", "\\frac{3}{2}"), ("(2,5]", "[2,5]"), ("(2, 5]", "(2, 5)"), ("18", "17.99"),
    ("\\pi", "3.14"), ("3", "three"), ("12", "1 2"), ("1000", "100"), ("5", "50 cm"), ("42", ""), ("\\frac{1}{2}", "2"),
]


@pytest.mark.parametrize(("gold", "pred"), MATCHES)
def test_equivalent_answers_match(gold, pred):
    assert answers_match(gold, pred)


@pytest.mark.parametrize(("gold", "pred"), MISMATCHES)
def test_different_answers_do_not_match(gold, pred):
    assert not answers_match(gold, pred)


def test_none_prediction_is_wrong():
    assert not answers_match("3", None)


ADVERSARIAL = [
    "9^9^9^9^9",
    "10^{10^{10^{10}}}",
    "2**2**2**2**2**2",
    "2^{99999999}",
    "(" * 500 + "1" + ")" * 500,
    "1" * 100_000,
    "\\frac{" * 300,
    "{}" * 10_000,
    "\\sqrt{" * 50 + "2" + "}" * 50,
    "\\begin{matrix}" * 100,
    "1e999999999",
    "x" * 5000,
    "\\left(" * 200,
    "99999!!!!",
    "\\int_0^\\infty e^{-x^{x^{x}}} dx",
]


def test_adversarial_inputs_finish_quickly_and_never_raise():
    start = time.perf_counter()
    for text in ADVERSARIAL:
        assert answers_match("2", text) is False
        assert is_correct(f"Work.\nThe answer is \\boxed{{{text}}}", "2") is False
        assert is_correct(f"#### {text}", "2") is False
    assert time.perf_counter() - start < 10.0


def test_reward_function_is_trl_compatible():
    completions = ["2 + 2 = 4\n#### 4", "#### 5", "no idea", [{"role": "assistant", "content": "so \\boxed{4}"}]]
    rewards = correctness_reward(completions=completions, answer=["4", "4", "4", "4"], prompts=["p"] * 4, extra=1)
    assert rewards == [1.0, 0.0, 0.0, 1.0]
    assert correctness_reward.__name__ == "correctness"


def test_gold_parseability():
    assert gold_is_parseable("72") and gold_is_parseable("\\frac{1}{2}") and gold_is_parseable("(2, 5]")
    assert not gold_is_parseable("") and not gold_is_parseable("   ")
    assert not gold_is_parseable("9^9^9^9")
    assert gold_is_parseable("Monday") and gold_is_parseable("\\text{(C)}")
    for garbage in ("}}{{", "\\frac{", "?!", "$$"):
        assert not gold_is_parseable(garbage), garbage


def test_last_boxed_handles_fbox_and_nesting():
    assert last_boxed("\\fbox{7}") == "7"
    assert last_boxed("\\boxed{\\{1,2\\}}") == "\\{1,2\\}"
