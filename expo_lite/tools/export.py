"""`expo-lite merge RUN_DIR`: fold a run's LoRA adapter into its base model and save a plain model.

The adapter is merged into the base weights at 16/32-bit, never into the 4-bit weights it was trained
on: rounding the sum back to NF4 would throw away most of what LoRA learned (QLoRA trains in 4-bit but
ships in 16-bit; Unsloth's `save_pretrained_merged(..., "merged_16bit")` does the same). The result
loads with `AutoModelForCausalLM.from_pretrained` and needs neither peft nor expo-lite.

A base shipped already quantized (`unsloth/Qwen2.5-3B-Instruct-bnb-4bit`, the Colab notebook's default) has no
16-bit weights to merge into: its 4-bit weights are dequantized first (transformers' `dequantize`), which is
exactly the weight the adapter was trained beside, and the merged model is saved unquantized.
"""

from __future__ import annotations

from pathlib import Path

from ..config import load_config
from ..models.loader import (
    ModelLoadError,
    _check_loadable,
    prepare_tokenizer,
    resolve_model_path,
    torch_dtype,
)
from ..run.rundir import CONFIG_FILE, RunDir


def merge_adapter(run_dir: str | Path, out_dir: str | Path | None = None, dtype: str = "auto") -> Path:
    """Merge `run_dir/adapter` into the run's base model; writes weights + tokenizer to `out_dir`
    (default `run_dir/merged`). `dtype`: auto (bf16/fp16 on a GPU, fp32 on CPU), float32, bfloat16, float16."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    run = RunDir(Path(run_dir))
    if not run.config_path.is_file():
        raise FileNotFoundError(f"{run.path} is not a run directory (no {CONFIG_FILE})")
    if not (run.adapter_path / "adapter_config.json").is_file():
        raise FileNotFoundError(f"{run.adapter_path} holds no saved adapter; train first")
    cfg = load_config(run.config_path)
    base = resolve_model_path(cfg.model.name)
    _check_loadable(base)
    out = Path(out_dir) if out_dir is not None else run.path / "merged"
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out} exists and is not empty; pass another output folder")
    try:
        model = AutoModelForCausalLM.from_pretrained(
            base, dtype=torch_dtype(dtype, torch.cuda.is_available()), trust_remote_code=cfg.model.trust_remote_code
        )
        tokenizer = AutoTokenizer.from_pretrained(base, trust_remote_code=cfg.model.trust_remote_code)
    except OSError as exc:
        raise ModelLoadError(f"Could not load the base model {base!r} to merge into: {exc}") from exc
    if getattr(model, "hf_quantizer", None) is not None:  # a pre-quantized base (`...-bnb-4bit`), loaded in 4-bit
        model = model.dequantize()  # the 16/32-bit weights its 4-bit ones stand for, which the adapter trained against
        # transformers 5 remembers how it converted the checkpoint's tensors on load (here: bitsandbytes' 4-bit
        # packing) to undo it on save, and the 4-bit step has no undo; the dequantized model saves as one built from
        # its config does (transformers' default mapping for the architecture).
        if hasattr(model, "_weight_conversions"):
            model._weight_conversions = None
    merged = PeftModel.from_pretrained(model, str(run.adapter_path)).merge_and_unload()
    tmp = out.with_name(out.name + ".partial")  # a crash mid-save leaves no folder that looks complete
    merged.save_pretrained(str(tmp), safe_serialization=True)
    prepare_tokenizer(tokenizer, cfg.model.chat_template).save_pretrained(str(tmp))
    if out.exists():
        out.rmdir()
    tmp.rename(out)
    return out
