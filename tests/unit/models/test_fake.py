"""A weightless model must hold what a real load holds, and a step on it must allocate what the real step
allocates: the two facts the memory trace rests on, checked against real models on this CPU."""

from __future__ import annotations

import contextlib

import pytest

from expo_lite.algorithms.sft import collate, nll_sum
from expo_lite.config import ExpoConfig
from expo_lite.models.dims import dims_for
from expo_lite.models.fake import fake_model
from expo_lite.models.loader import load_model
from expo_lite.run.live_bytes import LiveBytes
from expo_lite.tools.memory_trace import model_bytes


@pytest.mark.parametrize("four_bit", [True, False])
@pytest.mark.parametrize("arch", ["tiny_llama", "tiny_qwen2"])
def test_a_fake_model_holds_the_bytes_of_a_real_load_and_its_step_allocates_the_same(arch, four_bit, request):
    path = request.getfixturevalue(arch)
    cfg = ExpoConfig.model_validate({"model": {"name": str(path), "backend": "hf", "load_in_4bit": four_bit,
                                               "dtype": "float32"}, "lora": {"r": 8}})
    real, _ = load_model(cfg)
    fake, mode = fake_model(dims_for(str(path)), cfg.model, cfg.lora)
    # NF4 codes, double-quantized absmax, fp32 norms and embeddings after peft's k-bit preparation, LoRA: all alike
    assert model_bytes(fake) == model_bytes(real)
    assert sum(p.requires_grad for p in fake.parameters()) == sum(p.requires_grad for p in real.parameters()) > 0
    batch = collate([(list(range(3, 40)), list(range(3, 60)))] * 3, 0)  # the SFT term's forward and backward
    peaks = []
    for model, context in ((real, contextlib.nullcontext()), (fake, mode)):
        model.train()
        with context, LiveBytes() as live:
            with live.phase("step"):
                nll_sum(model, batch).backward()
        peaks.append(live.phases["step"])
    assert peaks[0] == peaks[1] > 0
