"""The SFT term of ExP-GRPO: token-level NLL of the positive samples, -log pi_theta(c~ | P(q)).

The log-probs come from `logprobs.masked_logprobs`: final hidden states, then the LM head in checkpointed
blocks over the completion tokens only, so the term never holds full-vocab logits (see logprobs.py for
why, and why hidden states rather than `.logits`, which Unsloth's GRPO may turn into hidden states).
The forward goes through the model as the trainer holds it (a DDP wrapper must see it to reduce the
gradients); the LM head is looked up on the model inside.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from ..core.logprobs import masked_logprobs, right_padded


@dataclass
class SFTBatch:
    """Right-padded prompt+completion rows; `loss_mask` marks the completion tokens to learn."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    loss_mask: torch.Tensor

    @property
    def num_tokens(self) -> int:
        return int(self.loss_mask.sum())


def collate(examples: list[tuple[list[int], list[int]]], pad_id: int, device: Any = None) -> SFTBatch | None:
    """(prompt ids, completion ids) pairs -> one padded batch; None when there is nothing to learn."""
    if not examples:
        return None
    return SFTBatch(*(t.to(device) if device is not None else t for t in right_padded(examples, pad_id)))


def nll_sum(model: Any, batch: SFTBatch) -> torch.Tensor:
    """Sum over completion tokens of -log pi(token | prefix), with gradients."""
    return -masked_logprobs(model, batch.input_ids, batch.attention_mask, batch.loss_mask).sum()
