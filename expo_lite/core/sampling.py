"""In-process batched sampling from the training model (no vLLM): many different rows, one decode.

Decoding is latency-bound: one forward per new token whatever the batch, so the cheapest way to sample
more is to put more rows in the same call. `decode` takes rows that differ in prompt, temperature (0 =
greedy) and new-token limit and samples them together: a per-row logits processor divides each row's
logits by its own temperature (greedy rows keep only their argmax, so they are token-identical to greedy
decoding) and ends a row with EOS once it has its own number of tokens, after which it is padding and
the loop stops when every row has ended. Everything else is transformers' `generate` (left padding,
KV cache, top-p), so the sampling distribution is the same as a separate call per setting.

Used for self-explanations, DPO pair building (rollouts and explanation tries in one call), evaluation
(n samples and the greedy answer in one call), and - through `joint_generate` - ExP-GRPO's explanation
tries ride inside TRL's own rollout call. On Unsloth the model is switched to its inference mode for the
call (its fast decode) and back to training mode afterwards.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from .. import interrupts

MAX_ROWS = 64  # rows decoded together (the planner counts their KV cache)


@dataclass
class Generation:
    prompt_ids: list[int]
    completion_ids: list[int]  # without padding; ends with EOS unless truncated
    text: str
    truncated: bool  # hit max_new_tokens before EOS


@dataclass(frozen=True)
class Row:
    """One sequence to sample: its prompt tokens, its temperature (0 = greedy), its new-token limit and its
    top-k (0 = off)."""

    prompt_ids: tuple[int, ...]
    temperature: float
    max_new_tokens: int
    top_k: int = 0


@contextlib.contextmanager
def inference_mode(model: Any) -> Iterator[None]:
    """eval() + KV cache on for generation; restores training mode and the cache flag after. Also clears a
    leaked UNSLOTH_RETURN_HIDDEN_STATES (generation must see logits; no Unsloth loss runs inside this), and keeps
    the padding side of the tokenizer an Unsloth model carries (its for_training() sets it to 'right',
    for_inference() to 'left': leaving a scoring call would otherwise leave the tokenizer right-padded)."""
    from ..models.loader import reset_unsloth_flags

    reset_unsloth_flags()
    was_training = model.training
    tokenizer = getattr(model, "_saved_temp_tokenizer", None)
    side = getattr(tokenizer, "padding_side", None)
    config = getattr(model, "config", None)
    old_cache = getattr(config, "use_cache", None)
    if hasattr(model, "for_inference"):  # Unsloth (GPU and CPU backends) attaches these
        model.for_inference()
    else:
        model.eval()
    if config is not None:
        config.use_cache = True
    try:
        yield
    finally:
        if config is not None and old_cache is not None:
            config.use_cache = old_cache
        if was_training:
            if hasattr(model, "for_training"):
                model.for_training()
            else:
                model.train()
        if side is not None:
            tokenizer.padding_side = side


class RowSampling:
    """A logits processor for heterogeneous rows: per-row temperature (0 = greedy: only the argmax survives),
    top-k and new-token limit (a row past its limit can only emit EOS, so it ends). It runs where
    transformers' own temperature and top-k warpers would (before top-p), and does what they do."""

    def __init__(self, rows: list[Row], prompt_width: int, eos_id: int):
        import torch

        self.prompt_width, self.eos_id = prompt_width, eos_id
        # greedy rows are not divided (their argmax is kept below); a tiny temperature would overflow fp16
        self.temperature = torch.tensor([r.temperature if r.temperature > 0 else 1.0 for r in rows], dtype=torch.float32)
        self.greedy = torch.tensor([r.temperature <= 0 for r in rows])
        self.limit = torch.tensor([r.max_new_tokens for r in rows])
        self.top_k = torch.tensor([r.top_k for r in rows])

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        import torch

        interrupts.honour()  # every token: a Ctrl-C a finalizer swallowed is acted on here (interrupts.py)
        step = input_ids.shape[1] - self.prompt_width  # tokens generated so far
        device = scores.device
        scores = scores / self.temperature.to(device, scores.dtype).unsqueeze(1)
        for k in set(self.top_k.tolist()) - {0}:  # as TopKLogitsWarper: below the k-th largest is removed
            rows = (self.top_k == k).to(device)
            kth = torch.topk(scores, min(k, scores.shape[-1]), dim=-1).values[:, -1:]
            scores = torch.where(rows.unsqueeze(1) & (scores < kth), torch.full_like(scores, float("-inf")), scores)
        greedy = self.greedy.to(device)
        if greedy.any():
            best = scores.argmax(dim=-1, keepdim=True)
            only_best = torch.full_like(scores, float("-inf")).scatter(1, best, 0.0)
            scores = torch.where(greedy.unsqueeze(1), only_best, scores)
        done = (self.limit.to(device) <= step).unsqueeze(1)
        if done.any():
            eos_only = torch.full_like(scores, float("-inf"))
            eos_only[:, self.eos_id] = 0.0
            scores = torch.where(done, eos_only, scores)
        return scores


def decode_rows(generate_fn: Callable[..., Any], device: Any, rows: list[Row], *, pad_id: int, eos_ids: list[int],
                top_p: float = 1.0, extra: dict[str, Any] | None = None) -> list[tuple[list[int], bool]]:
    """(completion ids cut after the first EOS, truncated?) for every row, decoded in one call of
    `generate_fn` (a model's `generate`, or the one TRL was about to call). The caller holds no_grad /
    inference mode. `extra`: more GenerationConfig settings (TRL's min_p, repetition penalty, cache)."""
    import torch
    from transformers import GenerationConfig, LogitsProcessorList

    if not rows:
        return []
    width = max(len(r.prompt_ids) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for i, r in enumerate(rows):
        ids[i, width - len(r.prompt_ids) :] = torch.tensor(r.prompt_ids)
        mask[i, width - len(r.prompt_ids) :] = 1
    sample = any(r.temperature > 0 for r in rows)
    config = GenerationConfig(
        max_new_tokens=max(r.max_new_tokens for r in rows), do_sample=sample, temperature=1.0,
        top_p=top_p if sample else 1.0, top_k=0 if sample else None, pad_token_id=pad_id, eos_token_id=eos_ids,
        use_cache=True, **(extra or {}),
    )
    processors = LogitsProcessorList([RowSampling(rows, width, eos_ids[0])])
    out = generate_fn(input_ids=ids.to(device), attention_mask=mask.to(device), generation_config=config,
                      logits_processor=processors)
    results = []
    for i, r in enumerate(rows):
        new = out[i, width : width + r.max_new_tokens].tolist()
        results.append(_cut_at_eos(new, eos_ids))
    return results


def decode(model: Any, tokenizer: Any, rows: list[Row], top_p: float = 1.0, max_rows: int = MAX_ROWS) -> list[Generation]:
    """`decode_rows` for a tokenizer's model, `max_rows` rows per call, as Generation objects in row order."""
    import torch

    stops = eos_ids(tokenizer, model)
    out: list[Generation] = []
    with inference_mode(model), torch.no_grad():
        for start in range(0, len(rows), max_rows):
            chunk = rows[start : start + max_rows]
            decoded = decode_rows(model.generate, next(model.parameters()).device, chunk,
                                  pad_id=tokenizer.pad_token_id, eos_ids=stops, top_p=top_p)
            for r, (ids, truncated) in zip(chunk, decoded, strict=True):
                out.append(Generation(list(r.prompt_ids), ids, tokenizer.decode(ids, skip_special_tokens=True),
                                      truncated))
    return out


def generate(
    model: Any,
    tokenizer: Any,
    prompts: list[str],
    *,
    max_new_tokens: int,
    temperature: float = 0.0,
    top_p: float = 1.0,
    num_return_sequences: int = 1,
    max_rows: int = MAX_ROWS,
) -> list[list[Generation]]:
    """`num_return_sequences` completions per already-templated prompt (temperature 0 = greedy), as one
    list of generations per prompt, in order."""
    rows = [Row(tuple(tokenizer(p, add_special_tokens=False)["input_ids"]), temperature, max_new_tokens)
            for p in prompts for _ in range(num_return_sequences)]
    flat = decode(model, tokenizer, rows, top_p=top_p, max_rows=max_rows)
    return [flat[i * num_return_sequences : (i + 1) * num_return_sequences] for i in range(len(prompts))]


def joint_generate(original: Callable[..., Any], extra_rows: list[Row], pad_id: int, eos_ids: list[int],
                   results: list[tuple[list[int], bool]]) -> Callable[..., Any]:
    """A stand-in for the `generate` TRL is about to call for its rollouts: the same call also decodes
    `extra_rows` (our explanation tries), whose results are appended to `results`; TRL gets back exactly
    the tensor it expects for its own rows (its prompt width, at most its max_new_tokens new columns)."""
    import torch

    def generate(input_ids: Any, attention_mask: Any, generation_config: Any = None, **kwargs: Any) -> Any:
        cfg = generation_config
        width = input_ids.shape[1]
        theirs = [Row(tuple(ids[m.bool()].tolist()), float(cfg.temperature), int(cfg.max_new_tokens))
                  for ids, m in zip(input_ids.cpu(), attention_mask.cpu(), strict=True)]
        shared = {k: getattr(cfg, k) for k in ("min_p", "repetition_penalty", "bos_token_id", "cache_implementation",
                                               "disable_compile") if getattr(cfg, k, None) is not None}
        theirs_eos = cfg.eos_token_id if isinstance(cfg.eos_token_id, list | tuple) else [cfg.eos_token_id]
        stops = eos_ids + [int(i) for i in theirs_eos if i is not None and int(i) not in eos_ids]  # TRL's rows end as TRL's would
        outs = decode_rows(original, input_ids.device, theirs + extra_rows, pad_id=pad_id, eos_ids=stops,
                           top_p=float(cfg.top_p if cfg.top_p is not None else 1.0), extra=shared)
        results.extend(outs[len(theirs) :])
        longest = max((len(ids) for ids, _ in outs[: len(theirs)]), default=0)
        rollouts = torch.full((len(theirs), width + longest), pad_id, dtype=input_ids.dtype, device=input_ids.device)
        rollouts[:, :width] = input_ids
        for i, (ids, _) in enumerate(outs[: len(theirs)]):
            rollouts[i, width : width + len(ids)] = torch.tensor(ids, dtype=input_ids.dtype)
        return rollouts

    return generate


def joint_compatible(generation_config: Any, top_p: float) -> bool:
    """TRL's rollout settings and the explanation settings differ only in what RowSampling handles per row
    (temperature, length); anything else (a different top-p, top-k) needs a separate call."""
    cfg = generation_config
    return (bool(cfg.do_sample) and float(cfg.top_p if cfg.top_p is not None else 1.0) == float(top_p)
            and not (cfg.top_k or 0) and (cfg.num_return_sequences or 1) == 1)


def eos_ids(tokenizer: Any, model: Any = None) -> list[int]:
    """Every token that ends a turn: the tokenizer's EOS first (the one a row past its limit is given), then the
    model's generation-config EOS ids. Llama-3.2-Instruct ends turns with <|eot_id|> or <|eom_id|> and its
    generation config lists three ids; TRL's rollouts stop on all of them, and so must every row we decode."""
    ids: list[int] = []
    config = getattr(model, "generation_config", None)
    for eos in (tokenizer.eos_token_id, getattr(config, "eos_token_id", None)):
        for i in (eos if isinstance(eos, list | tuple) else [eos]):
            if i is not None and int(i) not in ids:
                ids.append(int(i))
    return ids


def _cut_at_eos(ids: list[int], eos: int | list[int] | None) -> tuple[list[int], bool]:
    """Keep tokens up to and including the first EOS (what follows is padding); no EOS = truncated."""
    stops = set(eos if isinstance(eos, list) else [eos]) - {None}
    for k, tok in enumerate(ids):
        if tok in stops:
            return ids[: k + 1], False
    return ids, True
