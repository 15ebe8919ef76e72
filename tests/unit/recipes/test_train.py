"""The ExP-GRPO recipe's guards (recipes/train.py): Unsloth's leaked hidden-states flag cleared, a CUDA OOM
answered; our forwards under the accelerator's autocast."""

from __future__ import annotations

import os

import pytest
import torch

from expo_lite.algorithms.grpo import ExPGRPOConfig
from expo_lite.config import ExpoConfig, load_config
from expo_lite.models.loader import reset_unsloth_flags

from helpers import load_tiny


def test_leaked_hidden_states_flag_is_cleared_by_sampling_and_after_an_oom(tiny_llama, monkeypatch):
    from expo_lite.core.sampling import generate
    from expo_lite.recipes.train import answer_oom
    from expo_lite.run.errors import GPUOutOfMemoryError

    model, tok = load_tiny(tiny_llama)
    monkeypatch.setenv("UNSLOTH_RETURN_HIDDEN_STATES", "1")
    generate(model, tok, ["hello"], max_new_tokens=2)
    assert "UNSLOTH_RETURN_HIDDEN_STATES" not in os.environ

    monkeypatch.setenv("UNSLOTH_RETURN_HIDDEN_STATES", "1")
    with pytest.raises(GPUOutOfMemoryError), answer_oom(load_config(None), "while training"):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory")
    assert "UNSLOTH_RETURN_HIDDEN_STATES" not in os.environ
    monkeypatch.setenv("UNSLOTH_RETURN_HIDDEN_STATES", "1")
    reset_unsloth_flags()
    assert "UNSLOTH_RETURN_HIDDEN_STATES" not in os.environ


@pytest.mark.slow
@pytest.mark.parametrize(("source", "ours", "sampling"), [
    ("self_explanation", "judge", "with_rollouts"),  # tries decoded in TRL's call; our scoring of them
    ("self_explanation", "explain", "separate"),  # tries decoded and scored by our own call
    ("expert_cot", "nll_sum", "auto"),  # the SFT term
])
def test_our_forwards_run_under_the_accelerators_autocast_even_when_the_wrapper_is_stripped(
        tiny_llama, tmp_path, monkeypatch, source, ours, sampling):
    """Unsloth strips accelerate's autocast wrapper off model.forward. With the wrapper removed the same way
    (unwrap_model(keep_fp32_wrapper=False)), our own forwards - explanation sampling (in a call of its own)
    and scoring, the SFT term - must still run under autocast (CPU bf16 autocast here stands in for CUDA's).
    TRL's own rollout forwards, and explanation tries decoded inside TRL's rollout call, are TRL's and are
    not checked."""
    import expo_lite.algorithms.grpo as grpo_module
    from expo_lite.algorithms.grpo import ExPGRPOTrainer
    from expo_lite.config import ExplainConfig
    from expo_lite.data.tasks import load_task
    from expo_lite.recipes.train import build_prompt_dataset
    from expo_lite.verify.answers import correctness_reward

    model, tok = load_tiny(tiny_llama, load_in_4bit=False, gradient_checkpointing=False)
    cfg = ExpoConfig.model_validate({"task": {"levels": [1], "num_problems": 4}})
    data, _ = build_prompt_dataset(load_task(cfg.task).problems, "hash", cfg.prompt, cfg.train.max_prompt_length, tok)
    inside = {"ours": False}
    original = getattr(grpo_module, ours)

    def marked(*args, **kwargs):
        inside["ours"] = True
        try:
            return original(*args, **kwargs)
        finally:
            inside["ours"] = False

    monkeypatch.setattr(grpo_module, ours, marked)
    if ours == "judge":  # a random tiny model never writes a valid try; let them through so they are scored
        import expo_lite.algorithms.explain as explain_module
        monkeypatch.setattr(explain_module, "check_explanation", lambda text, *a, **k: (explain_module.VALID, text))
    args = ExPGRPOConfig(output_dir=str(tmp_path), max_steps=1, per_device_train_batch_size=4, num_generations=2,
                         max_completion_length=4, use_cpu=True, bf16=True, report_to="none", save_strategy="no",
                         positive_source=source, gradient_checkpointing=False)
    trainer = ExPGRPOTrainer(model=model, reward_funcs=[correctness_reward], args=args, train_dataset=data,
                             processing_class=tok, explain_config=ExplainConfig(num_tries=1, max_new_tokens=4,
                                                                               sampling=sampling))
    trainer.model = trainer.accelerator.unwrap_model(trainer.model, keep_fp32_wrapper=False)  # as Unsloth does
    trainer.model_wrapped = trainer.model
    seen: list[tuple[bool, bool]] = []
    hook = model.get_base_model().model.embed_tokens.register_forward_hook(
        lambda mod, inp, out: seen.append((inside["ours"], torch.is_autocast_enabled("cpu"))))
    try:
        trainer.train()
    finally:
        hook.remove()
    mine = [enabled for is_ours, enabled in seen if is_ours]
    assert mine and all(mine), seen
    assert not all(enabled for is_ours, enabled in seen if not is_ours)  # TRL's stripped rollout forward: not
