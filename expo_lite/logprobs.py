"""Per-token log-probabilities of completions given prompts: log pi(c | P(q)).

Used to pick the most in-distribution self-explanation, for the NLL diagnostic (self-explanation vs
expert solution), and by the trainers' SFT term. Sequences are right-padded here, so positions are the
natural 0..n-1 for every row and no position-id bookkeeping is needed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class SequenceScore:
    sum_logprob: float
    num_tokens: int

    @property
    def mean_logprob(self) -> float:
        return self.sum_logprob / max(self.num_tokens, 1)

    @property
    def nll(self) -> float:
        return -self.mean_logprob


def token_logprobs(logits: Any, targets: Any) -> Any:
    """log softmax(logits)[target] per position, computed in float32 for stability.

    logits: (batch, seq, vocab) predicting targets: (batch, seq).
    """
    import torch

    logits = logits.float()
    return torch.gather(logits.log_softmax(-1), -1, targets.unsqueeze(-1)).squeeze(-1)


def score_completions(
    model: Any,
    prompt_ids: list[list[int]],
    completion_ids: list[list[int]],
    pad_id: int,
    batch_size: int = 8,
) -> list[SequenceScore]:
    """Sum and count of log-probs of each completion's tokens under its prompt (no gradients)."""
    import torch

    from .sampling import inference_mode

    device = next(model.parameters()).device
    scores: list[SequenceScore] = []
    with inference_mode(model), torch.no_grad():
        for start in range(0, len(prompt_ids), batch_size):
            prompts = prompt_ids[start : start + batch_size]
            completions = completion_ids[start : start + batch_size]
            rows = [p + c for p, c in zip(prompts, completions, strict=True)]
            width = max(len(r) for r in rows)
            ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
            mask = torch.zeros((len(rows), width), dtype=torch.long)
            for i, r in enumerate(rows):
                ids[i, : len(r)] = torch.tensor(r)
                mask[i, : len(r)] = 1
            ids, mask = ids.to(device), mask.to(device)
            logits = model(input_ids=ids, attention_mask=mask, use_cache=False).logits[:, :-1]
            lp = token_logprobs(logits, ids[:, 1:])
            for i, (p, c) in enumerate(zip(prompts, completions, strict=True)):
                # token t is predicted at position t-1
                span = lp[i, len(p) - 1 : len(p) - 1 + len(c)]
                scores.append(SequenceScore(float(span.sum()), len(c)))
    return scores
