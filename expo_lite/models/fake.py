"""A model with every tensor's shape, dtype and size and none of its memory: what the memory trace trains.

`fake_model` builds the architecture from its dimensions (models/dims.py) as a GPU run would load it -
weights in the GPU's dtype, the decoder's linear layers in bitsandbytes' NF4 when `load_in_4bit`, then
`prepare_for_training` (the loader's own: peft's k-bit preparation or gradient checkpointing, and the LoRA
adapter) - on the `meta` device, and then turns every parameter, buffer and 4-bit quantization state into a
fake tensor of `FakeTensorMode` (on device "cpu", so the real integer tensors a step computes from mix
with them). A 3B model is ready in about two seconds and holds no memory.

One stand-in, `FakeNF4Linear`: bitsandbytes keeps a 4-bit weight in `Params4bit`, a tensor subclass that
cannot wrap a fake tensor, so the 4-bit layer here holds its packed codes in a plain parameter. Everything
else is bitsandbytes' own: the layer is a `bnb.nn.Linear4bit` (so peft gives it its 4-bit LoRA wrapper, as
it does on a GPU), its forward is Linear4bit's, and `bnb.matmul_4bit` with its registered fake kernels does
the dequantize-then-matmul whose transient bf16 weight the trace must see. The packed codes and the
double-quantized absmax have the sizes `bnb.functional.quantize_4bit` gives (blocks of 64, absmax quantized
in blocks of 256).
"""

from __future__ import annotations

from typing import Any

import torch

from ..config import LoraSection, ModelConfig
from .dims import ModelDims

NF4_BLOCK = 64  # bitsandbytes' default 4-bit block size (BitsAndBytesConfig has no other for NF4 here)
ABSMAX_BLOCK = 256  # double quantization: the absmax values are quantized to 8 bits in blocks of 256
NF4_ATTRIBUTES = ("quant_state", "quant_type", "compress_statistics")  # what a 4-bit weight carries


def _nf4_state(out_features: int, in_features: int, dtype: torch.dtype) -> Any:
    """bitsandbytes' QuantState of an NF4 weight with double-quantized absmax, on the meta device."""
    from bitsandbytes.functional import QuantState

    blocks = -(-out_features * in_features // NF4_BLOCK)
    meta = {"device": "meta"}
    nested = QuantState(absmax=torch.empty(-(-blocks // ABSMAX_BLOCK), dtype=torch.float32, **meta),
                        code=torch.empty(256, dtype=torch.float32, **meta), blocksize=ABSMAX_BLOCK, dtype=torch.float32)
    return QuantState(absmax=torch.empty(blocks, dtype=torch.uint8, **meta), shape=torch.Size([out_features, in_features]),
                      code=torch.empty(16, dtype=torch.float32, **meta), blocksize=NF4_BLOCK, quant_type="nf4",
                      dtype=dtype, offset=torch.empty((), dtype=torch.float32, **meta), state2=nested)


def _nf4_linear_class() -> type:
    import bitsandbytes as bnb

    class FakeNF4Linear(bnb.nn.Linear4bit):
        """bnb's Linear4bit with its packed NF4 codes in a plain parameter (see the module docstring)."""

        def __init__(self, linear: torch.nn.Linear, dtype: torch.dtype):
            torch.nn.Module.__init__(self)  # not Linear4bit.__init__: it would allocate a real Params4bit
            self.in_features, self.out_features = linear.in_features, linear.out_features
            packed = torch.empty(-(-self.in_features * self.out_features // 2), 1, dtype=torch.uint8, device="meta")
            self.weight = torch.nn.Parameter(packed, requires_grad=False)
            self.weight.quant_state = _nf4_state(self.out_features, self.in_features, dtype)
            self.weight.quant_type, self.weight.compress_statistics = "nf4", True  # read by peft, as on Params4bit
            self.bias = None if linear.bias is None else torch.nn.Parameter(linear.bias.detach(), requires_grad=False)
            self.compute_dtype, self.compute_type_is_set = dtype, True
            self.quant_state, self.quant_storage = None, torch.uint8
            self.support_avx512bf16_for_cpu = False  # a GPU's path, not bitsandbytes' CPU inference layout

    return FakeNF4Linear


def _quantize(model: Any, dtype: torch.dtype) -> int:
    """Every linear layer of the decoder as NF4, as transformers' bitsandbytes loading does (it keeps the LM
    head in 16 bits). Returns how many layers were replaced."""
    nf4 = _nf4_linear_class()
    head = model.get_output_embeddings()
    count = 0
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, torch.nn.Linear) and child is not head:
                setattr(parent, name, nf4(child, dtype))
                count += 1
    from transformers.quantizers import AutoHfQuantizer

    from .loader import nf4_config

    config = nf4_config(dtype)  # what transformers' loading leaves on a 4-bit model, for peft and the Trainer
    model.config.quantization_config = config
    model.hf_quantizer = AutoHfQuantizer.from_config(config)
    model.is_loaded_in_4bit = model.is_quantized = True
    model.quantization_method = config.quant_method
    return count


def fake_model(dims: ModelDims, mcfg: ModelConfig, lora: LoraSection, adapters: tuple[str, ...] = ()) -> tuple[Any, Any]:
    """(peft model whose tensors are all fake, the FakeTensorMode they belong to). Run the model inside
    that mode (with `allow_non_fake_inputs`, which it is created with).

    `adapters`: more LoRA adapters of the same config that code will add to the model later (TRL's DPOTrainer
    adds a frozen "ref" copy). peft places a new adapter with `Module.to`, which cannot move fake tensors, so
    they are added here, before the tensors turn fake, and a later `add_adapter` of one of them leaves it as
    it is."""
    from torch._subclasses.fake_tensor import FakeTensorMode
    from transformers import AutoModelForCausalLM

    from .loader import prepare_for_training
    from .precision import load_dtype

    dtype = load_dtype(mcfg.dtype, on_gpu=True, native_bf16=True)  # what a 24 GB card (Ampere or newer) loads
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(dims.hf_config(), dtype=dtype)
    if mcfg.use_4bit():
        _quantize(model, dtype)
    model = prepare_for_training(model, mcfg, lora)
    for name in adapters:
        with torch.device("meta"):
            model.add_adapter(name, model.peft_config["default"])
    mode = FakeTensorMode(allow_non_fake_inputs=True)
    _make_fake(model, mode)
    if adapters:
        add = model.add_adapter
        model.add_adapter = lambda name, *a, **k: None if name in model.peft_config else add(name, *a, **k)
    return model, mode


def _make_fake(model: Any, mode: Any) -> None:
    """Replace every meta parameter, buffer and quantization-state tensor by a fake one, keeping what is shared
    shared (tied embeddings). Assigned in place: `Module.to` cannot swap fake parameters."""
    made: dict[int, torch.Tensor] = {}
    keep: list[torch.Tensor] = []  # the meta originals stay alive while we work, so their ids stay unique

    def fake(t: torch.Tensor) -> torch.Tensor:
        if id(t) not in made:
            keep.append(t)
            made[id(t)] = mode.fake_tensor_converter.from_meta_and_device(mode, t.detach(), torch.device("cpu"))
        return made[id(t)]

    params: dict[int, torch.nn.Parameter] = {}
    for module in model.modules():
        for name, p in list(module._parameters.items()):
            if p is None:
                continue
            if id(p) not in params:
                new = torch.nn.Parameter(fake(p), requires_grad=p.requires_grad)
                for attr in NF4_ATTRIBUTES:
                    if hasattr(p, attr):
                        setattr(new, attr, getattr(p, attr))
                if getattr(new, "quant_state", None) is not None:
                    new.quant_state = _fake_state(new.quant_state, fake)
                params[id(p)] = new
            module._parameters[name] = params[id(p)]
        for name, b in list(module._buffers.items()):
            if b is not None:
                module._buffers[name] = fake(b)


def _fake_state(state: Any, fake: Any) -> Any:
    for attr in ("absmax", "code", "offset"):
        value = getattr(state, attr, None)
        if isinstance(value, torch.Tensor):
            setattr(state, attr, fake(value))
    if getattr(state, "state2", None) is not None:
        _fake_state(state.state2, fake)
    return state
