"""ExP-GRPO's positives as values (algorithms/positives.py): which groups get one, the targets each source gives,
how they spread over the micro-batches of a generation batch."""

from __future__ import annotations

from expo_lite.algorithms.explain import Explanation, completion_ids_for, training_target
from expo_lite.algorithms.positives import (
    Positives,
    expert_targets,
    groups_to_explain,
    split_for_accumulation,
    valid_targets,
)
from expo_lite.config import PromptConfig
from expo_lite.data.prompts import standard_prompt
from expo_lite.data.tasks import Problem
from expo_lite.testing import build_tokenizer


def test_groups_to_explain_follows_explain_on():
    solved = [True, False, False, True]  # every group of the batch, all processes
    assert groups_to_explain(solved, [1, 3], "all") == [True, True]
    assert groups_to_explain(solved, [1, 3], "unsolved") == [True, False]
    assert groups_to_explain(solved, [0, 2], "unsolved") == [False, True]


def test_targets_are_conditioned_on_the_plain_prompt_and_end_with_eos():
    tok = build_tokenizer()
    problems = [Problem("a", "What is 2 + 3?", "5", "2 + 3 = 5.\n#### 5"), Problem("b", "What is 1 + 1?", "2", None)]
    targets = expert_targets(tok, problems, "hash", PromptConfig())
    prompt = tok(standard_prompt(tok, "What is 2 + 3?", "hash", PromptConfig()), add_special_tokens=False)["input_ids"]
    assert targets == [(prompt, completion_ids_for(tok, training_target("2 + 3 = 5.\n#### 5", "5", "hash")))]
    assert targets[0][1][-1] == tok.eos_token_id  # a problem without a written solution gives none
    records = [Explanation("a", "q", "5", 1, True, "ok", "t", prompt_ids=[1, 2], completion_ids=[3, 4]),
               Explanation("b", "q", "2", 1, False, "leaks the hint", None, prompt_ids=[5], completion_ids=[6])]
    assert valid_targets(records) == [([1, 2], [3, 4])]


def test_positives_spread_round_robin_over_the_micro_batches():
    examples = [([i], [i, i]) for i in range(5)]
    chunks = split_for_accumulation(examples, 2)
    assert chunks == [[examples[0], examples[2], examples[4]], [examples[1], examples[3]]]
    positives = Positives(chunks, tokens=10)
    assert positives.chunk(0) == chunks[0] and positives.chunk(3) == chunks[1]  # step k trains on chunk k mod steps
    assert Positives().chunk(0) == [] and Positives().tokens == 0
