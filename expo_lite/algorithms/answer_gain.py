"""The likelihood test of a positive: does its reasoning raise the policy's probability of the answer?

ExPO argues that a good positive (1) is likely under the policy and (2) raises the likelihood of the correct
answer. Property (2), measured on one self-explanation c~ with final answer a, under the plain prompt:

    answer gain = log pi(a | P(q), c~, marker) - log pi(a | P(q), marker)

the log-probability of the answer where the training target states it (in its last step, "$625-16=\\boxed{a}$.",
or in its final line, "#### a"), after the reasoning, against the answer written as the whole reply with no
reasoning: the format's final line up to the answer, then the target's own text from the answer on
(explain.answer_alone), so both terms count the same tokens. Reasoning that reaches a makes it far likelier than a bare guess ("Sara has
1 + 4 = 5 marbles." then "#### 5"); reasoning that computed something else leaves the model expecting that
other value, and the hinted answer written after it gains little or loses ("3 * 4 = 12 ... #### 7").

What is counted: the answer's tokens and the rest of its line, end-of-turn included (so `5` is not read as
the start of `56`); not the marker before it, which is likely after any reasoning and unlikely as a reply's
first words, and would add the same large amount to every try. Both terms come out of the scoring pass that
already ranks the tries under P(q): the first is the tail of each try's own row, the second one short row per
question (P(q) + the final line alone). The test costs no decode.
"""

from __future__ import annotations

from typing import Any


def answer_tail_tokens(tokenizer: Any, text: str, answer: str) -> int | None:
    """How many tokens of the assistant turn `text` (as `completion_ids_for` tokenizes it, end-of-turn included)
    hold the last occurrence of `answer` and what follows it; None when `answer` is not in `text`."""
    start = text.rfind(answer) if answer else -1
    if start < 0:
        return None
    try:
        offsets = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
        covering = sum(1 for _, end in offsets if end > start)
    except (NotImplementedError, KeyError, TypeError):  # a slow tokenizer has no offsets: count by prefix
        whole = len(tokenizer(text, add_special_tokens=False)["input_ids"])
        covering = whole - len(tokenizer(text[:start], add_special_tokens=False)["input_ids"])
    return covering + 1  # + end-of-turn


def answer_gain(with_reasoning: float | None, without: float | None) -> float | None:
    """The gain in nats (see the module docstring), or None when either side could not be measured."""
    if with_reasoning is None or without is None:
        return None
    return with_reasoning - without
