"""What Unsloth's generated trainers change and what we do about it (algorithms/unsloth_trainers.py, grpo.py's
checks), on stand-in classes; the real ones run in tests/gpu_stack."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch
from trl import GRPOConfig

from expo_lite.algorithms.grpo import check_trainer_matches_model

from helpers import load_tiny


def test_trainer_checks_it_sits_on_unsloths_trainer(monkeypatch):
    class GRPOTrainer:  # noqa: D401 - stands for TRL's plain trainer
        pass

    class UnslothGRPOTrainer(GRPOTrainer):
        pass

    class Ours(UnslothGRPOTrainer):
        pass

    class Model:
        expo_backend = "unsloth"

    check_trainer_matches_model(GRPOTrainer, Model(), 1)  # CPU: Unsloth patches nothing, nothing to check
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    with pytest.raises(RuntimeError, match="imported before unsloth"):
        check_trainer_matches_model(GRPOTrainer, Model(), 1)
    check_trainer_matches_model(Ours, Model(), 1)
    with pytest.raises(RuntimeError, match="single-GPU"):
        check_trainer_matches_model(Ours, Model(), 2)


@dataclass
class GeneratedGRPOConfig(GRPOConfig):
    """The shape of Unsloth's generated config: TRL's module and name (so checkpoints pickle), the flag Unsloth
    tests for, and an __init__ whose defaults differ from TRL's (these three are Unsloth 2026.10.9's)."""

    def __init__(self, *args, gradient_accumulation_steps=2, optim="adamw_8bit", seed=3407, **kwargs):
        super().__init__(*args, gradient_accumulation_steps=gradient_accumulation_steps, optim=optim, seed=seed, **kwargs)


GeneratedGRPOConfig._unsloth_patched_rl_config = True


def test_unsloths_config_defaults_are_replaced_by_trls_unless_given():
    from expo_lite.algorithms.unsloth_trainers import is_unsloth_class, trl_defaults_for

    assert is_unsloth_class(GeneratedGRPOConfig) and not is_unsloth_class(GRPOConfig)
    assert trl_defaults_for(GRPOConfig, set()) == {}
    theirs = trl_defaults_for(GeneratedGRPOConfig, {"seed"})
    assert theirs == {"gradient_accumulation_steps": 1, "optim": GRPOConfig.optim}  # seed was given


def test_unsloth_trainer_hooks_touch_only_what_unsloths_trainers_need(tiny_llama):
    """for_training/for_inference only for Unsloth's trainer classes and only where the model lacks them; the
    float32 marker only for a float32 model trained without a precision flag; arguments found by name through
    Unsloth's (*args, **kwargs) __init__ wrapper."""
    from expo_lite.algorithms.unsloth_trainers import ensure_mode_methods, init_arguments, keep_float32

    class UnslothLikeTrainer:
        def __init__(self, model, reward_funcs=None, args=None, train_dataset=None):
            pass

    class Wrapped(UnslothLikeTrainer):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)

    class Ours(Wrapped):
        pass

    Wrapped.__name__ = "UnslothWrapped"
    assert init_arguments(Ours, ("m", "r"), {"train_dataset": "d"}) == {
        "self": None, "model": "m", "reward_funcs": "r", "train_dataset": "d"}

    model, _ = load_tiny(tiny_llama, load_in_4bit=False)
    assert not ensure_mode_methods(model, GRPOConfig) and not hasattr(model, "for_training")
    assert ensure_mode_methods(model, Wrapped) and not ensure_mode_methods(model, Wrapped)
    model.for_inference()
    assert not model.training
    model.for_training(use_gradient_checkpointing=True)
    assert model.training
    flags = type("Args", (), {"bf16": False, "fp16": False})()
    keep_float32(model, flags, GRPOConfig)
    assert not getattr(model, "_unsloth_user_float32", False)
    keep_float32(model, flags, Wrapped)
    assert model._unsloth_user_float32 is True
