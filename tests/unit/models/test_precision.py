"""Which dtype to load in and which mixed precision to train with (models/precision.py,
recipes/trainer_args.py): never emulated bf16."""

from __future__ import annotations

import torch

from expo_lite.config import load_config
from expo_lite.models.precision import gpu_has_native_bf16, load_dtype, mixed_precision


def test_a_t4_loads_fp16_and_trains_with_fp16_flags(monkeypatch):
    """A T4 reports bf16 only with emulation; torch's default counts it, Unsloth's patch does not."""
    asked = []

    def t4_is_bf16_supported(including_emulation: bool = True) -> bool:
        asked.append(including_emulation)
        return including_emulation  # sm75: emulated only

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", t4_is_bf16_supported)
    assert gpu_has_native_bf16() is False and asked == [False]
    dtype = load_dtype("auto", on_gpu=True, native_bf16=gpu_has_native_bf16())
    assert dtype == torch.float16
    assert mixed_precision(dtype, on_gpu=True) == {"bf16": False, "fp16": True}  # fp16 gets a loss scaler


def test_dtype_and_precision_table():
    assert load_dtype("auto", on_gpu=True, native_bf16=True) == torch.bfloat16
    assert load_dtype("auto", on_gpu=False, native_bf16=True) == torch.float32
    assert load_dtype("float16", on_gpu=True, native_bf16=True) == torch.float16
    assert mixed_precision(torch.bfloat16, on_gpu=True) == {"bf16": True, "fp16": False}
    assert mixed_precision(torch.float32, on_gpu=True) == {"bf16": False, "fp16": False}
    assert mixed_precision(torch.bfloat16, on_gpu=False) == {"bf16": False, "fp16": False}


def test_training_arguments_follow_the_model_dtype_and_keep_nan_losses_visible(tmp_path):
    from expo_lite.recipes.trainer_args import common_training_kwargs

    cfg = load_config(None)
    kwargs = common_training_kwargs(cfg.train, tmp_path, torch.float32, gradient_checkpointing=True)
    assert kwargs["bf16"] is False and kwargs["fp16"] is False
    assert kwargs["logging_nan_inf_filter"] is False  # else a NaN step loss is logged as the running mean
