"""ExPGRPOConfig (algorithms/grpo.py): its __init__ chain over TRL's or Unsloth's parent, pickling, and one
config meaning one run on either stack."""

from __future__ import annotations

import pickle
from dataclasses import dataclass

import pytest
import torch
from trl import GRPOConfig

from expo_lite.algorithms.grpo import ExPGRPOConfig, build_config_class

from helpers import CPU_ARGS


@dataclass
class StandInUnslothGRPOConfig(GRPOConfig):
    """What Unsloth generates (unsloth/models/rl.py): a dataclass with its own __init__ that sets its defaults
    (router_aux_loss_coef=0.0 among them) and checks, then calls TRL's __init__."""

    unsloth_num_chunks: int = -1

    def __init__(self, *args, unsloth_num_chunks=-1, router_aux_loss_coef=0.0, temperature=1.0, **kwargs):
        if not 0 < temperature < 10:
            raise ValueError("Unsloth: temperature must be in (0, 10)")
        super().__init__(*args, router_aux_loss_coef=router_aux_loss_coef, temperature=temperature, **kwargs)
        self.unsloth_num_chunks = unsloth_num_chunks
        self.parent_init_ran = True


def test_config_forwards_to_the_parents_init(tmp_path):
    config_class = build_config_class(StandInUnslothGRPOConfig)
    args = config_class(output_dir=str(tmp_path), sft_beta=0.5, explain_on="unsolved", unsloth_num_chunks=4, **CPU_ARGS)
    assert args.parent_init_ran and args.router_aux_loss_coef == 0.0 and args.unsloth_num_chunks == 4
    assert args.sft_beta == 0.5 and args.explain_on == "unsolved" and args.positive_source == "self_explanation"
    assert "sft_beta" in args.to_dict()  # a dataclass field like TRL's own
    with pytest.raises(ValueError, match="temperature must be in"):  # the parent's checks run
        config_class(output_dir=str(tmp_path), temperature=0.0, **CPU_ARGS)
    with pytest.raises(ValueError, match="positive_source must be one of"):  # and so do ours
        config_class(output_dir=str(tmp_path), positive_source="gold", **CPU_ARGS)

    @dataclass
    class GeneratedInit(StandInUnslothGRPOConfig):  # what a plain @dataclass subclass would be
        sft_beta: float = 0.04

    plain = GeneratedInit(output_dir=str(tmp_path), **CPU_ARGS)
    assert not hasattr(plain, "parent_init_ran") and plain.router_aux_loss_coef is None  # the bug being fixed


def test_config_pickles_like_the_trainer_saves_it(tmp_path):
    args = ExPGRPOConfig(output_dir=str(tmp_path), sft_beta=0.1, **CPU_ARGS)
    again = pickle.loads(pickle.dumps(args))
    assert type(again) is ExPGRPOConfig and again.sft_beta == 0.1


def test_a_hand_built_config_trains_in_the_precision_the_hardware_trains_best(tmp_path, monkeypatch):
    """TRL's GRPOConfig defaults to bf16=True everywhere; on a CPU that emulates bf16 matmuls (a step ~9x slower).
    Unless the caller says, ExPGRPOConfig picks what `expo-lite train` picks for dtype auto."""
    from expo_lite.algorithms.grpo import same_run_kwargs

    args = ExPGRPOConfig(output_dir=str(tmp_path))
    assert (args.bf16, args.fp16) == (False, False)
    assert ExPGRPOConfig(output_dir=str(tmp_path), bf16=True, use_cpu=True).bf16 is True  # what the caller says wins
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr("expo_lite.models.precision.gpu_has_native_bf16", lambda: True)
    assert {k: same_run_kwargs(GRPOConfig, {})[k] for k in ("bf16", "fp16")} == {"bf16": True, "fp16": False}
    monkeypatch.setattr("expo_lite.models.precision.gpu_has_native_bf16", lambda: False)  # a T4
    assert {k: same_run_kwargs(GRPOConfig, {})[k] for k in ("bf16", "fp16")} == {"bf16": False, "fp16": True}
    assert {k: same_run_kwargs(GRPOConfig, {"use_cpu": True})[k] for k in ("bf16", "fp16")} == {"bf16": False, "fp16": False}


def test_epsilon_high_is_always_stated(tmp_path):
    assert ExPGRPOConfig(output_dir=str(tmp_path), **CPU_ARGS).epsilon_high == 0.2
    assert ExPGRPOConfig(output_dir=str(tmp_path), epsilon=0.3, **CPU_ARGS).epsilon_high == 0.3
    assert ExPGRPOConfig(output_dir=str(tmp_path), epsilon_high=0.28, **CPU_ARGS).epsilon_high == 0.28


def test_a_generation_batch_of_partial_groups_is_refused_before_any_stack_resizes_it(tmp_path):
    with pytest.raises(ValueError, match=r"= 6 rollouts per generation batch is not a multiple of num_generations \(4\)"):
        ExPGRPOConfig(output_dir=str(tmp_path), per_device_train_batch_size=6, num_generations=4, **CPU_ARGS)
