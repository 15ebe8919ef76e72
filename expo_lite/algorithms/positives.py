"""ExP-GRPO's positive samples for one generation batch, as values: which groups get one, the training targets
each source gives, and how they are split over the batch's micro-batches. The trainer (grpo.py) samples and
judges; everything here is a pure function of what it hands over, and the result is the one value the SFT term
reads (`Positives`).

A training target is always (P(q) token ids, target token ids): the target is conditioned on the plain prompt,
never on the hinted one, and ends with EOS.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..config import PromptConfig
from ..data.prompts import standard_prompt
from ..data.tasks import Problem
from .explain import Explanation, completion_ids_for, training_target

Example = tuple[list[int], list[int]]  # (P(q) ids, target ids)


@dataclass
class Positives:
    """What the SFT term trains on for one generation batch: `chunks[k]` in its k-th micro-batch, each term
    divided by `tokens`, the target tokens of every positive of the batch on every process (so an optimizer
    step's gradient is beta * grad of the mean token NLL, however the batch is cut)."""

    chunks: list[list[Example]] = field(default_factory=list)
    tokens: int = 0

    def chunk(self, step: int) -> list[Example]:
        return self.chunks[step % len(self.chunks)] if self.chunks else []


def groups_to_explain(solved: list[bool], groups: list[int], explain_on: str) -> list[bool]:
    """For each of this process's groups (global indices into `solved`): does it get a positive? `all` (the
    paper: always) or `unsolved` (only groups where no rollout earned a reward)."""
    return [explain_on == "all" or not solved[g] for g in groups]


def valid_targets(records: list[Explanation]) -> list[Example]:
    """The self-explanations that passed every check, as training targets under P(q)."""
    return [(r.prompt_ids, r.completion_ids) for r in records if r.valid]


def expert_targets(tokenizer: Any, problems: list[Problem], fmt: str, prompts: PromptConfig) -> list[Example]:
    """The dataset's written solutions (final line normalised to the gold answer) under P(q): the paper's
    GRPO + SFT-GT-CoT baseline. Problems without a solution give none."""
    out = []
    for p in problems:
        if p.solution:
            prompt = tokenizer(standard_prompt(tokenizer, p.question, fmt, prompts, p.context), add_special_tokens=False)["input_ids"]
            out.append((prompt, completion_ids_for(tokenizer, training_target(p.solution, p.answer, fmt, p.verify_context()))))
    return out


def split_for_accumulation(examples: list[Example], steps: int) -> list[list[Example]]:
    """Round-robin over the `steps` micro-batches of a generation batch (TRL's steps_per_generation)."""
    return [examples[k::steps] for k in range(steps)]
