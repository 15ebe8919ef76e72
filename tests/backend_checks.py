"""The checks every model backend must pass, as one function returning plain facts.

The unsloth backend runs it in a fresh interpreter (`python backend_checks.py unsloth DIR...`): importing
unsloth patches transformers and TRL process-wide, and the rest of the suite must see stock TRL.
"""

from __future__ import annotations

import json
import sys

QUESTIONS = [
    "What is 17 + 25?",
    "Tom has 3 apples and buys 5 more. How many apples does he have now? Explain each step.",
    "Hi",
]


def check_backend(backend: str, model_dir: str) -> dict:
    import torch

    from expo_lite.config import ExpoConfig
    from expo_lite.model import count_4bit_layers, load_model, trainable_parameter_names
    from expo_lite.sampling import chat_prompt, generate

    cfg = ExpoConfig.model_validate({"model": {"name": model_dir, "backend": backend, "load_in_4bit": True}, "lora": {"r": 4, "alpha": 8}})
    model, tokenizer = load_model(cfg)
    prompts = [chat_prompt(tokenizer, q) for q in QUESTIONS]

    model.train()
    enc = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
    labels = enc["input_ids"].masked_fill(enc["attention_mask"] == 0, -100)
    loss = model(**enc, labels=labels).loss
    loss.backward()
    with_grad = [n for n, p in model.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0]

    batched = generate(model, tokenizer, prompts, max_new_tokens=10)
    single = [generate(model, tokenizer, [p], max_new_tokens=10)[0] for p in prompts]
    return {
        "backend": model.expo_backend,
        "peft_class": type(model).__name__,
        "linear4bit_layers": count_4bit_layers(model),
        "trainable": trainable_parameter_names(model),
        "with_grad": with_grad,
        "loss": float(loss.detach()),
        "loss_finite": bool(torch.isfinite(loss)),
        "padding_side": tokenizer.padding_side,
        "pad_is_set": tokenizer.pad_token_id is not None,
        "batched_tokens": [g[0].completion_ids for g in batched],
        "single_tokens": [g[0].completion_ids for g in single],
        "still_training": model.training,
        "left_padded": bool((enc["attention_mask"][:, 0] == 0).any() and (enc["attention_mask"][:, -1] == 1).all()),
    }


if __name__ == "__main__":
    backend, *dirs = sys.argv[1:]
    if backend == "unsloth":
        import unsloth  # noqa: F401  (first, as users must)
    print("RESULT " + json.dumps([check_backend(backend, d) for d in dirs]))
