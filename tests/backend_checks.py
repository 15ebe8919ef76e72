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
    from expo_lite.core.sampling import generate
    from expo_lite.data.prompts import chat_prompt
    from expo_lite.models.loader import count_4bit_layers, load_model, trainable_parameter_names

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


def grpo_step(backend: str, model_dir: str, out_dir: str) -> dict:
    """One ExP-GRPO step (expert_cot positives, so the SFT term is always present) on a 4-bit LoRA model."""
    import tempfile

    import torch

    from expo_lite.config import ExpoConfig
    from expo_lite.data.tasks import load_task
    from expo_lite.models.loader import count_4bit_layers, load_model
    from expo_lite.recipes.train import build_prompt_dataset
    from expo_lite.verify.answers import correctness_reward

    cfg = ExpoConfig.model_validate({"model": {"name": model_dir, "backend": backend, "load_in_4bit": True},
                                     "lora": {"r": 4, "alpha": 8}, "task": {"levels": [1], "num_problems": 2}})
    model, tokenizer = load_model(cfg)
    from expo_lite.algorithms.grpo import ExPGRPOConfig, ExPGRPOTrainer  # after load_model: unsloth first

    from helpers import CPU_ARGS

    data, _ = build_prompt_dataset(load_task(cfg.task).problems, "hash", cfg.prompt, cfg.train.max_prompt_length, tokenizer)
    before = {n: p.detach().float().clone() for n, p in model.named_parameters() if "lora_" in n}
    args = ExPGRPOConfig(output_dir=tempfile.mkdtemp(dir=out_dir), max_steps=1, per_device_train_batch_size=4,
                         num_generations=2, max_completion_length=4, learning_rate=1e-2, logging_steps=1,
                         disable_tqdm=True, positive_source="expert_cot", sft_beta=0.5, **CPU_ARGS)
    trainer = ExPGRPOTrainer(model=model, reward_funcs=[correctness_reward], args=args, train_dataset=data,
                             processing_class=tokenizer)
    trainer.train()
    log = trainer.state.log_history[0]
    moved = [n for n, p in model.named_parameters() if "lora_" in n and not torch.equal(before[n], p.detach().float())]
    return {"linear4bit_layers": count_4bit_layers(model), "positives": log.get("expo/positives"),
            "sft_loss": log.get("expo/sft_loss"), "moved_B": sum("lora_B" in n for n in moved),
            "lora_B_params": sum("lora_B" in n for n in before),
            "backend": model.expo_backend}


def dpo_round(backend: str, model_dir: str, out_dir: str) -> dict:
    """One offline ExP-DPO round (expert-CoT chosen) on a 4-bit LoRA model."""
    import json as _json

    from expo_lite.config import ExpoConfig
    from expo_lite.data.tasks import load_task
    from expo_lite.models.loader import count_4bit_layers, load_model
    from expo_lite.recipes.dpo import train_exp_dpo
    from expo_lite.run.rundir import create_run_dir

    cfg = ExpoConfig.model_validate({
        "model": {"name": model_dir, "backend": backend, "load_in_4bit": True}, "lora": {"r": 4, "alpha": 8},
        "task": {"levels": [1], "num_problems": 3},
        "algo": {"name": "exp_dpo", "positive_source": "expert_cot", "num_generations": 2},
        "train": {"output_dir": out_dir, "max_completion_length": 8, "per_device_train_batch_size": 2}})
    model, tokenizer = load_model(cfg)
    run = create_run_dir(cfg)
    train_exp_dpo(cfg, run, model, tokenizer, load_task(cfg.task).problems, "hash")
    rounds = [_json.loads(x) for x in run.metrics_path.read_text().splitlines() if "round_end" in x]
    return {"backend": model.expo_backend, "linear4bit_layers": count_4bit_layers(model), "rounds": rounds,
            "adapter": (run.adapter_path / "adapter_model.safetensors").is_file()}


if __name__ == "__main__":
    command, backend, *dirs = sys.argv[1:]
    if backend == "unsloth":
        import unsloth  # noqa: F401  (first, as users must)
    if command == "grpo":
        print("RESULT " + json.dumps([grpo_step(backend, dirs[0], dirs[1])]))
    elif command == "dpo":
        print("RESULT " + json.dumps([dpo_round(backend, dirs[0], dirs[1])]))
    else:
        print("RESULT " + json.dumps([check_backend(backend, d) for d in dirs]))
