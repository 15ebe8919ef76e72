"""What Unsloth's generated trainers change, and what our recipes do about each change, in one place.

On a GPU, `import unsloth` replaces `trl.GRPOTrainer` / `GRPOConfig` / `DPOTrainer` with classes it generates
from the installed TRL's source (unsloth/models/rl.py writes them to `unsloth_compiled_cache/`). Users of
`pip install -e ".[unsloth]"` (from a clone) train on those (unsloth 2026.10.9 over trl 1.15.0); CI's main lane trains on
stock TRL 1.16. Read from the generated source and checked on this CPU by `make test-gpu-stack`
(tests/gpu_stack), which makes Unsloth generate the same classes:

- Its config `__init__` has defaults of its own (gradient_accumulation_steps 2, optim adamw_8bit, seed 3407,
  warmup 0.1, lr scheduler linear, torch_empty_cache_steps 250, ...); `loss_type`/`beta`/
  `mask_truncated_completions` default to None so that it can tell "not given": a `loss_type='dapo'` given
  without `mask_truncated_completions` and `epsilon_high` switches DAPO's extras on (True, 0.28).
  -> `trl_defaults_for` gives back TRL's default for every argument the caller left out, so one
     `ExPGRPOConfig(...)` means the same run on both stacks (ExPGRPOConfig also always states epsilon_high).
- With no precision flag and a float32 model it turns mixed precision on (bf16 where the GPU has it, else
  fp16). -> `keep_float32` marks the model as a float32 request (Unsloth's own marker): it stays float32 on a
  CPU or a GPU without bf16; on a bf16 GPU Unsloth still autocasts, and we say so.
- It calls `model.for_training()` / `model.for_inference()` unguarded; only FastLanguageModel models have them,
  so a transformers model (backend hf in a process where unsloth was imported: a notebook kernel) crashes it.
  -> `ensure_mode_methods` gives such a model the two as train() / eval().
- It sets the tokenizer's padding side to 'right' while it builds (and Unsloth models flip it at every
  for_training / for_inference). Batched generation needs left padding, which `load_model` promises.
  -> `kept_padding_side` around building and training.
- It forces `gradient_checkpointing_kwargs['use_reentrant'] = True` (we ask for False). Unsloth models use
  Unsloth's own checkpointing whatever the flag says. On CPU (tests/gpu_stack/test_stack_checkpointing.py)
  the GRPO trainer leaves the model's checkpointing as load_model set it up (non-reentrant), while
  UnslothDPOTrainer re-enables it reentrant; both give exactly the gradients of the same step without
  checkpointing, every LoRA matrix included. Left as Unsloth sets it.
- `UnslothDPOTrainer` clamps `max_length` to the model's `max_seq_length`, cutting the end of longer pairs
  (the chosen answer line). -> dpo.py sizes `max_length` from the pairs and skips (and counts) pairs that do
  not fit, so nothing is ever cut.
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import logging
import types
from collections.abc import Iterator
from typing import Any

logger = logging.getLogger(__name__)


def _generated(cls: type) -> bool:
    """Unsloth's own test: its generated configs take the TRL class's module and name (so that checkpoints
    pickle) and carry the `_unsloth_patched_rl_config` flag; its trainers are named Unsloth<X>Trainer."""
    return "_unsloth_patched_rl_config" in vars(cls) or cls.__name__.startswith("Unsloth")


def is_unsloth_class(cls: type) -> bool:
    """Whether `cls` is, or derives from, a class Unsloth generated (UnslothGRPOTrainer, its GRPOConfig, ...)."""
    return any(_generated(c) for c in cls.__mro__)


def trl_class(cls: type) -> type | None:
    """The TRL class an Unsloth-generated class was built from (the first TRL class in its MRO)."""
    return next((c for c in cls.__mro__ if c.__module__.startswith("trl.") and not _generated(c)), None)


def init_arguments(trainer_class: type, args: tuple, kwargs: dict[str, Any]) -> dict[str, Any]:
    """The arguments a trainer's `__init__(*args, **kwargs)` was given, by name. Bound to the first `__init__`
    above `trainer_class` that names its parameters: Unsloth wraps its generated trainer's `__init__` as
    (*args, **kwargs), and the generated class under it (`_UnslothGRPOTrainer`) has TRL's signature."""
    for cls in trainer_class.__mro__[1:]:
        init = vars(cls).get("__init__")
        if init is None:
            continue
        signature = inspect.signature(init)
        if "model" in signature.parameters:
            return dict(signature.bind_partial(None, *args, **kwargs).arguments)
    return dict(kwargs)


def trl_defaults_for(config_class: type, given: set[str]) -> dict[str, Any]:
    """For a config class Unsloth generated: TRL's default for every `__init__` argument whose Unsloth default
    differs and that the caller did not give. Empty for TRL's own classes."""
    base = trl_class(config_class)
    if base is None or not is_unsloth_class(config_class):
        return {}
    trl_defaults = {f.name: f.default for f in dataclasses.fields(base) if f.default is not dataclasses.MISSING}
    out = {}
    for name, param in inspect.signature(config_class.__init__).parameters.items():
        if name in given or name not in trl_defaults or param.default is inspect.Parameter.empty:
            continue
        if param.default != trl_defaults[name]:
            out[name] = trl_defaults[name]
    return out


def keep_float32(model: Any, args: Any, trainer_class: type) -> None:
    """Before an Unsloth trainer is built: a float32 model trained without a precision flag is a float32 request.
    Unsloth's own loader records that as `_unsloth_user_float32`; its trainer then keeps float32 where the GPU has
    no bf16 (and on CPU) and autocasts to bf16 where it has (which `note_precision_change` reports)."""
    import torch

    from ..models.precision import model_dtype

    if is_unsloth_class(trainer_class) and model_dtype(model) == torch.float32 and not (args.bf16 or args.fp16):
        for m in _model_chain(model):
            with contextlib.suppress(AttributeError, TypeError):
                m._unsloth_user_float32 = True


def note_precision_change(requested: tuple[bool, bool], args: Any) -> None:
    """After the trainer is built: say so when Unsloth switched mixed precision on that the caller did not ask for."""
    if (bool(args.bf16), bool(args.fp16)) != requested:
        logger.warning(
            "Unsloth's trainer changed mixed precision from bf16=%s fp16=%s to bf16=%s fp16=%s (its choice for a "
            "float32 model on this GPU). For float32 training use model.backend: hf; to train in bf16 load the model "
            "in bf16 (model.dtype: auto).", *requested, args.bf16, args.fp16)


def _model_chain(model: Any) -> Iterator[Any]:
    """The model and the models it wraps (peft model -> LoRA model -> transformers model -> backbone)."""
    seen: list[Any] = []
    m = model
    while m is not None and not any(m is s for s in seen):
        seen.append(m)
        yield m
        m = getattr(m, "model", None)


def _for_training(self: Any, use_gradient_checkpointing: Any = None) -> Any:
    self.train()
    return self


def _for_inference(self: Any) -> Any:
    self.eval()
    return self


def ensure_mode_methods(model: Any, trainer_class: type) -> bool:
    """Unsloth's trainers call model.for_training() / for_inference(), which FastLanguageModel attaches. A model
    loaded by transformers + peft gets them as train() / eval() (its gradient checkpointing stays as loaded).
    Returns whether they were added."""
    if not is_unsloth_class(trainer_class) or (hasattr(model, "for_training") and hasattr(model, "for_inference")):
        return False
    model.for_training = types.MethodType(_for_training, model)
    model.for_inference = types.MethodType(_for_inference, model)
    return True


@contextlib.contextmanager
def kept_padding_side(tokenizer: Any) -> Iterator[None]:
    """The tokenizer's padding side as it was before, whatever the trainer set inside (Unsloth: 'right')."""
    side = getattr(tokenizer, "padding_side", None)
    try:
        yield
    finally:
        if side is not None:
            tokenizer.padding_side = side
