"""`exact`: short text answers, normalised as SQuAD / TriviaQA do, with per-row aliases."""

from __future__ import annotations

import pytest

from expo_lite.verify.formats import Item, answer_format
from expo_lite.verify.formats.exact import normalise

EXACT = answer_format("exact")
BEATLES = {"aliases": ["Beatles", "The Fab Four"]}

CASES = [  # (completion, gold, context, right?)
    ("Liverpool's most famous band... The answer is The Beatles.", "The Beatles", {}, True),
    ("**Answer:** the beatles", "The Beatles", {}, True),
    ("Final answer: The Fab Four", "The Beatles", BEATLES, True),  # an alias
    ("The answer is Beatles, because they formed in Liverpool in 1960.", "The Beatles", BEATLES, True),
    ("The answer is Romeo and Juliet.", "Romeo and Juliet", {}, True),  # "and" does not end the answer
    ("The answer is The Lord of the Rings.", "Lord of the Rings", {}, True),  # articles dropped
    ("Answer: Washington, D.C. since it is the capital", "Washington D.C.", {}, True),
    ("Is the sky blue on a clear day? The answer is Yes.", "yes", {}, True),
    ("\\boxed{Paris}", "Paris", {}, True),
    ("#### Paris", "paris", {}, True),
    ("The answer is Lyon.", "Paris", {}, False),
    ("The answer is no.", "yes", {}, False),
    ("Paris is a big city, but I am not sure.", "Paris", {}, False),  # mentioned, never stated as the answer
    ("The answer is The Rolling Stones.", "The Beatles", BEATLES, False),
    ("The answer is Romeo.", "Romeo and Juliet", {}, False),
]


@pytest.mark.parametrize(("completion", "gold", "context", "right"), CASES)
def test_verdicts_both_ways(completion, gold, context, right):
    assert EXACT.are_correct([completion], [gold], [context]) == [right]


def test_squad_normalisation():
    assert normalise("  The  Beatles! ") == "beatles" == normalise("beatles")
    assert normalise("A Tale of Two Cities") == "tale of two cities"
    assert EXACT.gold_answer("  ", {}) is None and EXACT.gold_answer(" Paris ", {}) == "Paris"


def test_an_empty_alias_never_matches_an_empty_answer():
    assert EXACT.judge_many([Item("the", "Paris", {"aliases": ["", "a"]})]) == [False]
