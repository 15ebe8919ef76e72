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

from ..core.logprobs import masked_logprobs


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
    width = max(len(p) + len(c) for p, c in examples)
    ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    attention = torch.zeros((len(examples), width), dtype=torch.long)
    loss_mask = torch.zeros((len(examples), width), dtype=torch.long)
    for i, (prompt, completion) in enumerate(examples):
        n = len(prompt) + len(completion)
        ids[i, :n] = torch.tensor(prompt + completion)
        attention[i, :n] = 1
        loss_mask[i, len(prompt) : n] = 1
    batch = SFTBatch(ids, attention, loss_mask)
    if device is not None:
        batch = SFTBatch(ids.to(device), attention.to(device), loss_mask.to(device))
    return batch


def nll_sum(model: Any, batch: SFTBatch) -> torch.Tensor:
    """Sum over completion tokens of -log pi(token | prefix), with gradients."""
    return -masked_logprobs(model, batch.input_ids, batch.attention_mask, batch.loss_mask).sum()
