"""The SFT term of ExP-GRPO: token-level NLL of the positive samples, log pi_theta(c~ | P(q)).

Why its own forward instead of reusing the GRPO log-prob function: on a GPU, Unsloth's GRPO sets
UNSLOTH_RETURN_HIDDEN_STATES, and then the model's `.logits` holds the last hidden states (Unsloth
computes the GRPO loss from them in chunks). A plain `log_softmax(outputs.logits)` would then be
wrong without any error. `as_logits` recognises hidden states by their width and projects them
through the LM head, so the term is right in both modes. TRL 1.16's fused LM head is only engaged
with `fused_lm_head=True`, which we never pass. Log-probs are at temperature 1: this is the model's
own likelihood, not the sampling distribution GRPO's ratio uses.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from .logprobs import token_logprobs


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


def as_logits(output: torch.Tensor, lm_head: torch.nn.Module) -> torch.Tensor:
    """`output.logits`, or the LM head applied to it when the model returned hidden states instead."""
    vocab = getattr(lm_head, "out_features", None) or lm_head.weight.shape[0]
    if output.shape[-1] == vocab:
        return output
    hidden = getattr(lm_head, "in_features", None) or lm_head.weight.shape[1]
    if output.shape[-1] != hidden:
        raise ValueError(f"model output has width {output.shape[-1]}: neither vocab ({vocab}) nor hidden ({hidden})")
    return lm_head(output.to(lm_head.weight.dtype))


def nll_sum(model: Any, batch: SFTBatch) -> torch.Tensor:
    """Sum over completion tokens of -log pi(token | prefix), with gradients.

    `model` may be wrapped for DDP / DeepSpeed: the forward goes through the wrapper (its gradient hooks
    must see it), the LM head is looked up on the model inside."""
    output = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask, use_cache=False)
    inner = model
    while hasattr(inner, "module") and not hasattr(inner, "get_output_embeddings"):
        inner = inner.module
    logits = as_logits(output.logits[:, :-1], inner.get_output_embeddings())
    logps = token_logprobs(logits, batch.input_ids[:, 1:])
    return -(logps * batch.loss_mask[:, 1:]).sum()
