"""The two things of the GPU user's stack this CPU cannot run, and what the lane uses instead. Nothing else of
Unsloth's generated trainers, their loss or their config is replaced.

1. `FastLanguageModel.from_pretrained` + `get_peft_model` (what `load_model` calls for `backend: unsloth`) need
   CUDA even with UNSLOTH_ALLOW_CPU=1: arming Unsloth's gradient checkpointing pins host memory ("Found no
   NVIDIA driver"), and its fast forwards are triton kernels. Instead `load_like_fast_language_model` loads the
   model as `backend: hf` does (transformers + peft, bitsandbytes 4-bit when asked) and then attaches to it
   what FastLanguageModel attaches to every model it returns (unsloth/models/llama.py, get_peft_model):
   Unsloth's own `for_training` / `for_inference` (FastLlamaModel's, FastBaseModel's on the inner models),
   the tokenizer as `_saved_temp_tokenizer` (so those two flip its padding side, as on a GPU) and the
   checkpointing mode as `_unsloth_gradient_checkpointing` - transformers' checkpointing (True) where a GPU
   run has Unsloth's offloading "unsloth" mode. On a GPU: the real FastLanguageModel model, Unsloth's
   attention/MLP kernels and its checkpointing.

2. TRL 1.15's fused LM-head kernel, `trl.kernels.chunked_logprob.ChunkedLogProbFunction`, is triton only ("0
   active drivers" on CPU). On Unsloth's stack TRL's slot holds Unsloth's `_UnslothFusedLinearHead`, which
   serves the call with unsloth_zoo's kernel (that runs here) and falls back to TRL's kernel for shapes it
   does not take; stock TRL 1.15 (backend hf under torchrun with the [unsloth] extra installed) calls TRL's
   kernel directly. `TorchChunkedLogProb` computes the same five per-token quantities in plain torch, with
   autograd for the backward; `tests/gpu_stack/test_stack_kernel.py` holds it to TRL's own non-fused path
   (log_softmax + gather, entropy_from_logits) within 1e-5, values and gradients. On a GPU: TRL's kernel.
"""

from __future__ import annotations

import functools
from typing import Any

import torch

# ------------------------------------------------------------------------------------ 1. the model


def dress_as_fast_language_model(model: Any, tokenizer: Any, gradient_checkpointing: bool) -> Any:
    """Attach to a transformers + peft model what FastLanguageModel.get_peft_model attaches (see above)."""
    from unsloth.models.llama import FastLlamaModel
    from unsloth.models.vision import FastBaseModel

    # The same statements in the same order as FastLlamaModel.from_pretrained (the tokenizer on every level) and
    # get_peft_model (the two methods: FastLlamaModel's on the top, then FastBaseModel's on every level that has
    # a .model, the top included, which is what stays there).
    inner = model
    while hasattr(inner, "model"):
        inner._saved_temp_tokenizer = tokenizer
        inner = inner.model
    inner._saved_temp_tokenizer = tokenizer
    model.for_training = functools.partial(FastLlamaModel.for_training, model)
    model.for_inference = functools.partial(FastLlamaModel.for_inference, model)
    inner = model
    while hasattr(inner, "model"):
        inner.for_training = functools.partial(FastBaseModel.for_training, inner)
        inner.for_inference = functools.partial(FastBaseModel.for_inference, inner)
        inner = inner.model
    model._unsloth_gradient_checkpointing = bool(gradient_checkpointing)
    return model


def load_like_fast_language_model(path: str, mcfg: Any, lora: Any):
    """Stands in for expo_lite.models.loader._load_unsloth (FastLanguageModel, which needs CUDA): hf loading, dressed."""
    from expo_lite.models.loader import _load_hf, prepare_tokenizer

    model, tokenizer = _load_hf(path, mcfg, lora)
    tokenizer = prepare_tokenizer(tokenizer, mcfg.chat_template)
    return dress_as_fast_language_model(model, tokenizer, mcfg.gradient_checkpointing), tokenizer


# ------------------------------------------------------------------------------------ 2. the LM-head kernel


OPTIONAL_OUTPUTS = ("entropy", "log_sum_sq_probs", "mean_logits", "is_top1")


class TorchChunkedLogProb:
    """`ChunkedLogProbFunction.apply(...)` of TRL 1.15 in plain torch: per token, with z = the LM head's logits
    times logit_scale, soft-capped, divided by the temperature: log_probs = z[target] - logsumexp(z); entropy =
    logsumexp(z) - sum softmax(z) z; log_sum_sq_probs = log sum softmax(z)^2; mean_logits = mean z; is_top1 =
    the target is the first argmax. Computed in float32 from the autocast (or hidden) dtype's matmul, as TRL's
    kernel does; gradients flow to hidden, weight and bias through log_probs and entropy only."""

    calls = 0  # how often the lane needed it (0 on Unsloth's stack means unsloth_zoo's kernel served every call)

    @classmethod
    def apply(cls, hidden: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, targets: torch.Tensor,
              temperature: float, chunk_size: int, final_logit_softcapping: float | None = None,
              logit_scale: float = 1.0, outputs: tuple[str, ...] = OPTIONAL_OUTPUTS):
        cls.calls += 1
        device = hidden.device.type
        dtype = torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device) else hidden.dtype
        with torch.autocast(device, enabled=False):
            z = torch.nn.functional.linear(hidden.to(dtype), weight.to(dtype), None if bias is None else bias.to(dtype))
            z = z.float() * logit_scale
            if final_logit_softcapping is not None:
                z = final_logit_softcapping * torch.tanh(z / final_logit_softcapping)
            z = z / temperature
            log_z = torch.logsumexp(z, dim=-1)
            target = z.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
            log_probs = target - log_z
            probs = torch.softmax(z, dim=-1)
            entropy = log_z - (probs * z).sum(-1) if "entropy" in outputs else None
            with torch.no_grad():
                sq = torch.log((probs * probs).sum(-1)) if "log_sum_sq_probs" in outputs else None
                mean = z.mean(-1) if "mean_logits" in outputs else None
                top1 = (z.argmax(-1) == targets) if "is_top1" in outputs else None
        return log_probs, entropy, sq, mean, top1


def install_kernel_stand_in() -> str:
    """Put TorchChunkedLogProb where TRL's triton kernel would be called; returns where it went."""
    import trl.trainer.utils as trl_utils

    slot = trl_utils._ChunkedLogProbFunction
    if slot is None:
        raise RuntimeError("trl.trainer.utils._ChunkedLogProbFunction is None: this TRL has no fused LM head")
    if hasattr(slot, "function") and getattr(slot, "_unsloth_fused_linear", False):  # Unsloth's wrapper: its fallback
        slot.function = TorchChunkedLogProb
        return "fallback of Unsloth's _UnslothFusedLinearHead"
    trl_utils._ChunkedLogProbFunction = TorchChunkedLogProb
    return "trl.trainer.utils._ChunkedLogProbFunction"


def install_all() -> None:
    """Both stand-ins, for the whole lane process."""
    import expo_lite.models.loader

    expo_lite.models.loader._load_unsloth = load_like_fast_language_model
    install_kernel_stand_in()
