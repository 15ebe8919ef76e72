"""Per-token log-probabilities of completions given prompts, log pi(c | P(q)), without full-vocab logits.

Used to pick the most in-distribution self-explanation, for the NLL diagnostic, for DPO's choice of
rejected CoT, and (with gradients) by ExP-GRPO's SFT term.

Why not `log_softmax(model(...).logits)`: that materialises rows x length x vocab logits plus an fp32
copy; with Qwen's 151,936-token vocabulary, 8 rows of 1,500 tokens are ~7 GB - an OOM on a 16 GB GPU in
the middle of a training step. Instead we take the model's final (normed) hidden states, keep only the
positions that predict completion tokens, and push them through the LM head `LOGIT_BLOCK_TOKENS` at a
time: logits of one block, logsumexp, gather, next block. With gradients each block is checkpointed
(its logits are recomputed in backward), so the peak is one block x vocab whatever the rows and lengths.

Why hidden states and not `.logits`: on a GPU, Unsloth's GRPO sets UNSLOTH_RETURN_HIDDEN_STATES, under
which `.logits` holds hidden states; if that flag leaks (an exception inside Unsloth's code), anything
reading `.logits` silently gets garbage. `output_hidden_states` is honoured in both modes, and
`logits_to_keep=1` stops the model from computing the full logits we do not use. Log-probs are at
temperature 1: the model's own likelihood.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

LOGIT_BLOCK_TOKENS = 512  # LM-head rows per block; peak ~ block x vocab x 4 bytes (Qwen2.5: ~0.3 GB)
SCORING_TOKENS_PER_FORWARD = 4096  # prompt + completion tokens per no-grad scoring forward


@dataclass
class SequenceScore:
    sum_logprob: float
    num_tokens: int
    tail_logprob: float | None = None  # summed over the last `tail_tokens` completion tokens, when asked for

    @property
    def mean_logprob(self) -> float:
        return self.sum_logprob / max(self.num_tokens, 1)

    @property
    def nll(self) -> float:
        return -self.mean_logprob


def unwrap(model: Any) -> Any:
    """The model inside DDP / DeepSpeed wrappers (the one that has the LM head)."""
    while hasattr(model, "module") and not hasattr(model, "get_output_embeddings"):
        model = model.module
    return model


def final_hidden_states(model: Any, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Last-layer (normed) hidden states. The forward goes through `model` as given, so a DDP wrapper sees
    it; it computes logits for the last position only."""
    kwargs = dict(input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=True, use_cache=False)
    try:
        out = model(**kwargs, logits_to_keep=1)
    except TypeError:  # an architecture whose forward has no logits_to_keep
        out = model(**kwargs)
    return out.hidden_states[-1]


def _logit_transform(config: Any):
    """What the model's own forward does to lm_head's output (Gemma-2 soft-capping, Cohere / Granite
    scaling); identity for Llama, Qwen2 and SmolLM2."""
    cap = getattr(config, "final_logit_softcapping", None)
    scale = getattr(config, "logit_scale", None)
    divide = getattr(config, "logits_scaling", None)

    def transform(logits: torch.Tensor) -> torch.Tensor:
        if scale is not None:
            logits = logits * scale
        if divide is not None:
            logits = logits / divide
        if cap is not None:
            logits = torch.tanh(logits / cap) * cap
        return logits

    return transform


def _block_logprobs(hidden: torch.Tensor, targets: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                    transform: Any) -> torch.Tensor:
    logits = torch.nn.functional.linear(hidden.to(weight.dtype), weight, bias)
    logits = transform(logits.to(torch.promote_types(logits.dtype, torch.float32)))  # bf16/fp16 -> fp32
    return logits.gather(-1, targets.unsqueeze(-1)).squeeze(-1) - torch.logsumexp(logits, dim=-1)


def token_logprobs(hidden: torch.Tensor, targets: torch.Tensor, lm_head: torch.nn.Module, config: Any = None,
                   block: int = LOGIT_BLOCK_TOKENS) -> torch.Tensor:
    """log softmax(lm_head(hidden))[target] for N positions: hidden (N, H), targets (N,) -> (N,), at least fp32.
    Blockwise; with gradients each block is recomputed in backward instead of keeping its logits."""
    weight, bias = lm_head.weight, getattr(lm_head, "bias", None)
    transform = _logit_transform(config)
    pieces = []
    for start in range(0, hidden.shape[0], block):
        h, t = hidden[start : start + block], targets[start : start + block]
        if torch.is_grad_enabled() and h.requires_grad:
            pieces.append(torch.utils.checkpoint.checkpoint(
                _block_logprobs, h, t, weight, bias, transform, use_reentrant=False))
        else:
            pieces.append(_block_logprobs(h, t, weight, bias, transform))
    return torch.cat(pieces) if pieces else hidden.new_zeros(0, dtype=torch.float32)


def masked_logprobs(model: Any, input_ids: torch.Tensor, attention_mask: torch.Tensor, loss_mask: torch.Tensor,
                    block: int = LOGIT_BLOCK_TOKENS) -> torch.Tensor:
    """Log-probs of the tokens where `loss_mask` is 1 (each predicted from its prefix), flattened row by row.
    input_ids / attention_mask / loss_mask: (rows, T), prompts and completions right-padded."""
    inner = unwrap(model)
    hidden = final_hidden_states(model, input_ids, attention_mask)[:, :-1]
    positions = loss_mask[:, 1:].bool()
    return token_logprobs(hidden[positions], input_ids[:, 1:][positions], inner.get_output_embeddings(),
                          getattr(inner, "config", None), block)


def right_padded(examples: list[tuple[list[int], list[int]]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(prompt ids, completion ids) rows -> input_ids, attention_mask and a mask of the completion tokens, each
    (rows, longest row), right-padded: the layout masked_logprobs reads (scoring and the SFT term both use it)."""
    width = max(len(p) + len(c) for p, c in examples)
    ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    attention = torch.zeros((len(examples), width), dtype=torch.long)
    completion = torch.zeros((len(examples), width), dtype=torch.long)
    for i, (prompt, target) in enumerate(examples):
        n = len(prompt) + len(target)
        ids[i, :n] = torch.tensor(prompt + target)
        attention[i, :n] = 1
        completion[i, len(prompt) : n] = 1
    return ids, attention, completion


def score_completions(
    model: Any,
    prompt_ids: list[list[int]],
    completion_ids: list[list[int]],
    pad_id: int,
    tokens_per_forward: int = SCORING_TOKENS_PER_FORWARD,
    block: int = LOGIT_BLOCK_TOKENS,
    tail_tokens: list[int] | None = None,
) -> list[SequenceScore]:
    """Sum and count of log-probs of each completion's tokens under its prompt (no gradients), and with
    `tail_tokens` the sum over each completion's last that-many tokens too (the answer-gain test reads the
    answer's share of the same pass). Rows are scored longest first in forwards of at most
    `tokens_per_forward` padded tokens (at least one row)."""
    from .sampling import inference_mode

    device = next(model.parameters()).device
    order = sorted(range(len(prompt_ids)), key=lambda i: -(len(prompt_ids[i]) + len(completion_ids[i])))
    scores: dict[int, SequenceScore] = {}
    with inference_mode(model), torch.no_grad():
        start = 0
        while start < len(order):
            width = len(prompt_ids[order[start]]) + len(completion_ids[order[start]])
            rows = max(1, tokens_per_forward // max(width, 1))
            chunk = order[start : start + rows]
            start += len(chunk)
            ids, mask, loss_mask = right_padded([(prompt_ids[i], completion_ids[i]) for i in chunk], pad_id)
            lp = masked_logprobs(model, ids.to(device), mask.to(device), loss_mask.to(device), block).cpu()
            offset = 0
            for i in chunk:  # masked_logprobs flattens row by row, in row order
                n = len(completion_ids[i])
                row = lp[offset : offset + n]
                tail = float(row[n - min(tail_tokens[i], n) :].sum()) if tail_tokens is not None else None
                scores[i] = SequenceScore(float(row.sum()), n, tail)
                offset += n
    return [scores[i] for i in range(len(prompt_ids))]
