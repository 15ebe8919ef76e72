"""Which dtype to load in and which mixed precision to train with - decided once, the same way everywhere.

Why not `torch.cuda.is_bf16_supported()`: by default it counts *emulated* bf16, so on a T4 (sm75, no
native bf16) it says yes and the model would load in slow emulated bf16. Worse, importing Unsloth
replaces that function with one that ignores emulation, so its answer changes mid-run: a model loaded in
bf16 before the import gets fp16 training arguments after it, and Unsloth's trainer raises a TypeError.
We ask for native support only (`including_emulation=False`), and derive the trainer's precision flags
from the dtype the model actually has, which is what Unsloth's trainer checks them against.
"""

from __future__ import annotations

from typing import Any

import torch


def gpu_has_native_bf16() -> bool:
    return torch.cuda.is_available() and torch.cuda.is_bf16_supported(including_emulation=False)


def load_dtype(requested: str, on_gpu: bool, native_bf16: bool) -> torch.dtype:
    """The dtype to load weights in: `auto` is bf16 on a GPU with native bf16, fp16 on older GPUs (T4,
    V100), fp32 on CPU (bf16 matmuls are emulated on most CPUs); anything else is taken as asked."""
    if requested == "auto":
        if on_gpu:
            return torch.bfloat16 if native_bf16 else torch.float16
        return torch.float32
    return getattr(torch, requested)


def model_dtype(model: Any) -> torch.dtype:
    """The dtype the model computes in (its config's dtype; for 4-bit models the compute dtype)."""
    dtype = getattr(getattr(model, "config", None), "dtype", None) or getattr(model, "dtype", None)
    if isinstance(dtype, str):
        dtype = getattr(torch, dtype.removeprefix("torch."), None)
    return dtype if isinstance(dtype, torch.dtype) else torch.float32


def mixed_precision(dtype: torch.dtype, on_gpu: bool) -> dict[str, bool]:
    """TrainingArguments' bf16/fp16 flags for a model in `dtype`: matching flags on a GPU (fp16 gets a
    loss scaler), none on CPU or for an fp32 model."""
    return {"bf16": on_gpu and dtype == torch.bfloat16, "fp16": on_gpu and dtype == torch.float16}
