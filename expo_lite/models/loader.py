"""Load a causal LM with a LoRA adapter, optionally 4-bit, through Unsloth or plain transformers + peft.

`backend: auto` picks Unsloth when a CUDA GPU is present and `unsloth` imports; otherwise the `hf`
backend (transformers + bitsandbytes + peft), which is what runs on CPU. `backend: unsloth` on a CPU
machine uses Unsloth's CPU backend (unsloth >= 2026.10.9). Either way the caller gets a peft model
whose only trainable parameters are the LoRA matrices, and a tokenizer that pads on the left (what
batched generation needs) with a pad token distinct from nothing-at-all.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import EMBEDDED_MODEL, ExpoConfig, LoraSection, ModelConfig


class ModelLoadError(RuntimeError):
    pass


@dataclass(frozen=True)
class BackendChoice:
    name: str  # "unsloth" | "hf"
    reason: str


def cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def unsloth_installed() -> bool:
    return importlib.util.find_spec("unsloth") is not None


def choose_backend(requested: str, processes: int | None = None) -> BackendChoice:
    """Resolve `auto` without importing unsloth (its import patches transformers and TRL globally).

    More than one process (torchrun / accelerate launch) rules Unsloth out: its GRPO loss runs on the
    unwrapped model and all-reduces gradients itself unless a grad-enabled DDP forward ran that step, and
    our SFT forward goes through DDP only on ranks that have positives, so ranks would issue different
    collectives and hang. `auto` then picks hf; an explicit `unsloth` is refused."""
    processes = processes if processes is not None else int(os.environ.get("WORLD_SIZE", "1"))
    if requested == "hf":
        return BackendChoice("hf", "requested")
    if requested == "unsloth":
        if not unsloth_installed():
            raise ModelLoadError(
                "model.backend is 'unsloth' but the unsloth package is not installed. "
                "Install it from a clone of expo-lite with `pip install -e \".[unsloth]\"` (GPU) or use model.backend: hf."
            )
        if processes > 1:
            raise ModelLoadError(
                f"model.backend is 'unsloth' but {processes} processes were launched. Unsloth's GRPO kernels "
                f"are single-GPU (its loss reduces gradients itself, which deadlocks with our SFT term under "
                f"DDP). For multi-GPU use --set model.backend=hf (or auto)."
            )
        return BackendChoice("unsloth", "requested")
    if requested != "auto":
        raise ModelLoadError(f"model.backend must be one of auto, unsloth, hf; got {requested!r}")
    if processes > 1:
        return BackendChoice("hf", f"{processes} processes: Unsloth's kernels are single-GPU")
    if not cuda_available():
        return BackendChoice("hf", "no CUDA GPU: transformers + peft + bitsandbytes")
    if not unsloth_installed():
        return BackendChoice("hf", "CUDA GPU found but unsloth is not installed")
    return BackendChoice("unsloth", "CUDA GPU found and unsloth is installed")


def reset_unsloth_flags() -> None:
    """Unsloth's GRPO sets UNSLOTH_RETURN_HIDDEN_STATES=1 inside its loss and log-prob code, one path of
    which has no `finally`: after an exception there (an OOM), every later forward in the same process
    (a notebook kernel) would return hidden states as `.logits`. Clear it where we know no Unsloth loss
    is running: at the start of training and evaluation, and after an OOM."""
    os.environ.pop("UNSLOTH_RETURN_HIDDEN_STATES", None)


def resolve_model_path(name: str) -> str:
    """Map the embedded alias to its converted checkpoint; leave hub ids and local paths as given."""
    if name == EMBEDDED_MODEL:
        from .embedded import ensure_embedded_model

        return str(ensure_embedded_model())
    if name.startswith("embedded:"):
        raise ModelLoadError(f"Unknown embedded model {name!r}; the only embedded model is {EMBEDDED_MODEL!r}.")
    return name


def _looks_local(name: str) -> bool:
    return name.startswith((".", "/", "~")) or os.sep in name.strip("/").split("/", 1)[-1] or Path(name).exists()


def _check_loadable(name: str) -> None:
    """Fail early, with what to do, when a model can be neither found locally nor downloaded."""
    path = Path(name).expanduser()
    if path.exists():
        if not (path / "config.json").is_file():
            raise ModelLoadError(f"model.name {name!r} is a directory without config.json; expected a saved model.")
        return
    if _looks_local(name):
        raise ModelLoadError(f"model.name {name!r}: no such directory.")
    from huggingface_hub import try_to_load_from_cache

    if os.environ.get("HF_HUB_OFFLINE", "0") not in ("", "0") and not isinstance(
        try_to_load_from_cache(name, "config.json"), str
    ):
        raise ModelLoadError(_offline_message(name))


def _offline_message(name: str) -> str:
    return (
        f"Cannot load {name!r}: it is not in the local Hugging Face cache and the hub cannot be reached "
        f"(offline). Download it on a machine with internet (`hf download {name}`) and copy the cache, "
        f"or set model.name to a local directory holding the model (config.json + weights + tokenizer). "
        f"The offline default is model.name: {EMBEDDED_MODEL}."
    )


def torch_dtype(name: str, on_gpu: bool):
    from .precision import gpu_has_native_bf16, load_dtype

    return load_dtype(name, on_gpu, gpu_has_native_bf16())


def prepare_tokenizer(tokenizer: Any, chat_template: str | None = None) -> Any:
    """Left padding and a pad token: batched `generate` needs both, TRL's trainers expect them."""
    if chat_template:
        tokenizer.chat_template = chat_template
    if tokenizer.chat_template is None:
        raise ModelLoadError(
            "The tokenizer has no chat template; set model.chat_template in the config (a Jinja template)."
        )
    if tokenizer.pad_token is None:
        # Prefer a dedicated token the model never has to emit over reusing eos.
        for candidate in ("<|finetune_right_pad_id|>", "<|endoftext|>", "<pad>", "<unk>"):
            if candidate in tokenizer.get_vocab() and candidate != tokenizer.eos_token:
                tokenizer.pad_token = candidate
                break
        else:
            tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    return tokenizer


def lora_kwargs(lora: LoraSection) -> dict[str, Any]:
    return dict(r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout, target_modules=list(lora.target_modules))


def _check_targets(model: Any, lora: LoraSection) -> None:
    leaves = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
    missing = [m for m in lora.target_modules if m not in leaves]
    if missing:
        raise ModelLoadError(
            f"lora.target_modules: {missing} not found in this model. Linear layers it has include: "
            f"{sorted(n for n in leaves if n.endswith('proj'))}."
        )


def keep_bnb_cpu_layout_trainable(model: Any) -> int:
    """bitsandbytes 0.50 repacks a CPU Linear4bit weight for its AVX512-BF16 kernel on the first eval
    forward without grad (our generate() is one) and never unpacks it; backward through the packed
    weight has no autograd kernel, so every gradient that flows *through* a frozen 4-bit layer is then
    wrong and QLoRA silently stops learning. Unsloth's CPU loader turns the repacking off the same way."""
    count = 0
    for module in model.modules():
        if hasattr(module, "support_avx512bf16_for_cpu"):
            module.support_avx512bf16_for_cpu = False
            count += 1
    return count


def nf4_config(compute_dtype: Any) -> Any:
    """bitsandbytes 4-bit as QLoRA trains: NF4 codes, double-quantized absmax, computing in `compute_dtype`."""
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                              bnb_4bit_compute_dtype=compute_dtype)


def _load_hf(path: str, mcfg: ModelConfig, lora: LoraSection):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    dtype = torch_dtype(mcfg.dtype, cuda_available())
    kwargs: dict[str, Any] = dict(dtype=dtype, trust_remote_code=mcfg.trust_remote_code)
    if mcfg.use_4bit():
        kwargs["quantization_config"] = nf4_config(dtype)
    if cuda_available():
        # One whole copy per process on its own GPU: under torchrun / accelerate launch that is LOCAL_RANK
        # (nobody has called cuda.set_device yet when the model loads).
        kwargs["device_map"] = {"": int(os.environ.get("LOCAL_RANK", torch.cuda.current_device()))}
    try:
        model = AutoModelForCausalLM.from_pretrained(path, **kwargs)
        tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=mcfg.trust_remote_code)
    except OSError as exc:
        if "offline" in str(exc).lower() or "connect" in str(exc).lower() or "resolve" in str(exc).lower():
            raise ModelLoadError(_offline_message(path)) from exc
        raise ModelLoadError(f"Could not load model {path!r}: {exc}") from exc
    except Exception as exc:  # noqa: BLE001 - corrupt weights (SafetensorError), a config transformers can't read
        raise ModelLoadError(f"Could not load model {path!r} ({type(exc).__name__}: {exc}); "
                             f"check that its weights and config.json are complete") from exc
    return prepare_for_training(model, mcfg, lora), tokenizer


def prepare_for_training(model: Any, mcfg: ModelConfig, lora: LoraSection) -> Any:
    """A loaded transformers model made trainable as the hf backend trains it: peft's k-bit preparation
    (4-bit) or gradient checkpointing, then the LoRA adapter. The memory trace prepares its weightless
    model with this same function."""
    import torch
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

    _check_targets(model, lora)
    keep_bnb_cpu_layout_trainable(model)
    gc_kwargs = {"use_reentrant": False}
    if mcfg.use_4bit():
        model = prepare_model_for_kbit_training(
            model, use_gradient_checkpointing=mcfg.gradient_checkpointing, gradient_checkpointing_kwargs=gc_kwargs
        )
    elif mcfg.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=gc_kwargs)
        model.enable_input_require_grads()
    if mcfg.gradient_checkpointing:
        model.config.use_cache = False  # generation turns it back on per call
    torch.manual_seed(lora.seed)
    return get_peft_model(model, LoraConfig(task_type="CAUSAL_LM", bias="none", **lora_kwargs(lora)))


def _load_unsloth(path: str, mcfg: ModelConfig, lora: LoraSection):
    import unsloth  # noqa: F401  (must come before trl/transformers trainers are used)
    from unsloth import FastLanguageModel

    dtype = None if mcfg.dtype == "auto" else torch_dtype(mcfg.dtype, cuda_available())
    model, tokenizer = FastLanguageModel.from_pretrained(
        path,
        max_seq_length=mcfg.max_seq_length,
        load_in_4bit=mcfg.use_4bit(),
        dtype=dtype,
        trust_remote_code=mcfg.trust_remote_code,
    )
    _check_targets(model, lora)
    model = FastLanguageModel.get_peft_model(
        model,
        bias="none",
        use_gradient_checkpointing="unsloth" if mcfg.gradient_checkpointing else False,
        random_state=lora.seed,
        max_seq_length=mcfg.max_seq_length,
        **lora_kwargs(lora),
    )
    return model, tokenizer


def load_model(cfg: ExpoConfig | ModelConfig, lora: LoraSection | None = None):
    """(peft model, tokenizer) for a config. Accepts the whole config or its model section + lora section."""
    if isinstance(cfg, ExpoConfig):
        mcfg, lora = cfg.model, cfg.lora
    else:
        mcfg, lora = cfg, lora or LoraSection()
    from ..quiet import quiet_progress_bars

    backend = choose_backend(mcfg.backend)
    if backend.name == "unsloth":
        import unsloth  # noqa: F401  (first: it patches transformers, peft and TRL as it is imported)
    quiet_progress_bars()
    path = resolve_model_path(mcfg.name)
    _check_loadable(path)
    loader = _load_unsloth if backend.name == "unsloth" else _load_hf
    model, tokenizer = loader(path, mcfg, lora)
    tokenizer = prepare_tokenizer(tokenizer, mcfg.chat_template)
    if getattr(model.config, "pad_token_id", None) is None:
        model.config.pad_token_id = tokenizer.pad_token_id
    model.expo_backend = backend.name
    return model, tokenizer


def load_adapter_weights(model: Any, adapter_dir: Any) -> None:
    """Put a saved LoRA adapter's weights into a peft model built with the same LoRA config."""
    from pathlib import Path

    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    result = set_peft_model_state_dict(model, load_file(str(Path(adapter_dir) / "adapter_model.safetensors")))
    unexpected = getattr(result, "unexpected_keys", [])
    if unexpected:
        raise ModelLoadError(f"adapter in {adapter_dir} does not fit this model/LoRA config: {unexpected[:3]} ...")


def trainable_parameter_names(model: Any) -> list[str]:
    return [name for name, p in model.named_parameters() if p.requires_grad]


def count_4bit_layers(model: Any) -> int:
    import bitsandbytes as bnb

    return sum(isinstance(m, bnb.nn.Linear4bit) for m in model.modules())
