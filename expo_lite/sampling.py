"""In-process batched sampling from the training model (no vLLM).

Prompts are left-padded so every row's last prompt token sits at the same position and new tokens
line up; generation stops at EOS per row. On Unsloth the model is switched to its inference mode for
the call and back to training mode afterwards.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any


@dataclass
class Generation:
    prompt_ids: list[int]
    completion_ids: list[int]  # without padding; ends with EOS unless truncated
    text: str
    truncated: bool  # hit max_new_tokens before EOS


def chat_prompt(tokenizer: Any, user_text: str, system: str | None = None) -> str:
    messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": user_text}]
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


@contextlib.contextmanager
def inference_mode(model: Any) -> Iterator[None]:
    """eval() + KV cache on for generation; restores training mode and the cache flag after. Also clears a
    leaked UNSLOTH_RETURN_HIDDEN_STATES (generation must see logits; no Unsloth loss runs inside this)."""
    from .model import reset_unsloth_flags

    reset_unsloth_flags()
    was_training = model.training
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


def generate(
    model: Any,
    tokenizer: Any,
    prompts: list[str],
    *,
    max_new_tokens: int,
    temperature: float = 0.0,
    top_p: float = 1.0,
    num_return_sequences: int = 1,
    batch_size: int = 8,
) -> list[list[Generation]]:
    """Sample `num_return_sequences` completions per already-templated prompt.

    temperature 0 means greedy. Returns one list of generations per prompt, in order.
    """
    import torch

    sampling = (
        dict(do_sample=True, temperature=temperature, top_p=top_p)
        if temperature > 0
        else dict(do_sample=False, temperature=None, top_p=None, top_k=None)
    )
    results: list[list[Generation]] = []
    # Unsloth's for_training() flips the tokenizer to right padding; whatever the caller had is restored.
    saved_side, tokenizer.padding_side = tokenizer.padding_side, "left"
    try:
        with inference_mode(model), torch.no_grad():
            for start in range(0, len(prompts), batch_size):
                chunk = prompts[start : start + batch_size]
                results.extend(_generate_batch(model, tokenizer, chunk, max_new_tokens, num_return_sequences, sampling))
    finally:
        tokenizer.padding_side = saved_side
    return results


def _generate_batch(model, tokenizer, chunk, max_new_tokens, num_return_sequences, sampling) -> list[list[Generation]]:
    device = next(model.parameters()).device
    enc = tokenizer(chunk, return_tensors="pt", padding=True, add_special_tokens=False).to(device)
    out = model.generate(
        **enc,
        max_new_tokens=max_new_tokens,
        num_return_sequences=num_return_sequences,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        use_cache=True,
        **sampling,
    )
    width = enc["input_ids"].shape[1]
    rows = []
    for i in range(len(chunk)):
        prompt_ids = enc["input_ids"][i][enc["attention_mask"][i].bool()].tolist()
        row = []
        for j in range(num_return_sequences):
            ids, truncated = _cut_at_eos(out[i * num_return_sequences + j, width:].tolist(), tokenizer.eos_token_id)
            row.append(Generation(prompt_ids, ids, tokenizer.decode(ids, skip_special_tokens=True), truncated))
        rows.append(row)
    return rows


def _cut_at_eos(ids: list[int], eos: int | list[int] | None) -> tuple[list[int], bool]:
    """Keep tokens up to and including the first EOS (what follows is padding); no EOS = truncated."""
    stops = set(eos if isinstance(eos, list) else [eos]) - {None}
    for k, tok in enumerate(ids):
        if tok in stops:
            return ids[: k + 1], False
    return ids, True
