"""`choice`: multiple-choice answers in the styles ARC, MMLU and AQuA rows and chat models write them."""

from __future__ import annotations

import pytest

from expo_lite.verify.formats import Item, answer_format

CHOICE = answer_format("choice")
ARC = {"options": ["Mercury", "Venus", "Earth", "Mars"], "labels": ["A", "B", "C", "D"]}
MMLU = {"options": ["0", "4", "2", "6"]}  # MMLU's hub schema: choices, answer = 0-based index
AQUA = {"options": ["21", "21.5", "22", "22.5", "23"]}  # AQuA-RAT: A)21 B)21.5 ... in the question
ARC_DIGITS = {"options": ["sunlight", "soil", "water", "air"], "labels": ["1", "2", "3", "4"]}

READS = [  # (completion, context, the label read, or None)
    ("Venus has the densest atmosphere, so it is the hottest.\nThe answer is (B).", ARC, "B"),
    ("Let's think step by step. ... Therefore, the answer is (C)", MMLU, "C"),
    ("The closest planet is Mercury.\n\nAnswer: A", ARC, "A"),
    ("**Answer: B) Venus**", ARC, "B"),
    ("The correct answer is **D. Mars**.", ARC, "D"),
    ("Among the choices, the correct option is C because water is needed.", ARC_DIGITS, None),  # C is no label here
    ("Plants need water.\nThe answer is 3.", ARC_DIGITS, "3"),
    ("So the speed is 22 km/h.\n#### C", AQUA, "C"),
    ("Solving gives 22.5.\n\\boxed{D}", AQUA, "D"),
    ("Solving gives 22.5.\n$\\boxed{\\text{(D)}}$", AQUA, "D"),
    ("The average works out to 21.5.\nThe answer is 21.5.", AQUA, "B"),  # an option's text names its label
    ("We compare the densities.\n**C**", ARC, "C"),
    ("We compare the densities.\n(C)", ARC, "C"),
    ("We compare the densities.\nC) Earth", ARC, "C"),
    ("The final answer is B", ARC, "B"),
    # a letter inside the reasoning is not an answer
    ("A is too small and B is too large, so it must be between them.", ARC, None),
    ("In case (B), the orbit would be unstable; option C is ruled out too.", ARC, None),
    ("We pick B.", ARC, None),
    ("The answer is a planet with an atmosphere.", ARC, None),  # the article "a", not a label
    ("We compare the densities.\nC) Mars", ARC, None),  # C's text is Earth: no single option named
    ("The answer is not (A).", ARC, None),
]


@pytest.mark.parametrize(("completion", "context", "label"), READS)
def test_reads_the_stated_option_and_nothing_else(completion, context, label):
    assert CHOICE.found_answer(completion, context) == label


@pytest.mark.parametrize(("raw", "context", "gold"), [
    ("B", ARC, "B"), ("(B)", ARC, "B"), ("2", MMLU, "C"), (" D ", AQUA, "D"), ("3", ARC_DIGITS, "3"),
    ("E", ARC, None), ("7", MMLU, None), ("Venus", ARC, None),
])
def test_gold_is_a_label_or_an_mmlu_index(raw, context, gold):
    assert CHOICE.gold_answer(raw, context) == gold


def test_verdicts_both_ways():
    items = [Item("B", "B", ARC), Item("C", "B", ARC), Item(None, "B", ARC), Item("3", "3", ARC_DIGITS)]
    assert CHOICE.judge_many(items) == [True, False, False, True]
    assert CHOICE.are_correct(["Thus the answer is (B).", "Thus the answer is (A)."], ["B", "B"], [ARC, ARC]) == [True, False]


def test_the_leak_check_does_not_fire_on_a_single_letter_answer():
    phrases = ["the given answer", "the hint"]
    honest = "Option C cannot be right: Earth is cooler than Venus. (B) fits, so the answer is (B)."
    assert not CHOICE.leaks(honest, phrases)
    assert CHOICE.leaks("Since the given answer is B, Venus must be hottest. The answer is (B).", phrases)


def test_final_line_is_read_back():
    line = CHOICE.final_line("D")
    assert CHOICE.found_answer(f"Mars is red.\n{line}", ARC) == "D"
