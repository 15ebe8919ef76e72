"""load_model on tiny random Llama / Qwen2: 4-bit + LoRA through the hf and the unsloth (CPU) backends."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from expo_lite.config import ExpoConfig
from expo_lite.models.loader import ModelLoadError, choose_backend, load_model

from backend_checks import check_backend
from helpers import REPO, load_tiny

TESTS = REPO / "tests"  # backend_checks.py runs from there


def assert_backend_facts(facts: dict, backend: str) -> None:
    assert facts["backend"] == backend
    assert facts["peft_class"] == "PeftModelForCausalLM"
    # 2 layers x 7 projections, all NF4 (a silent fallback to 16-bit would show 0 here)
    assert facts["linear4bit_layers"] == 14
    assert facts["trainable"], "no trainable parameters"
    assert all("lora_A" in n or "lora_B" in n for n in facts["trainable"]), facts["trainable"]
    assert len(facts["trainable"]) == 28  # A and B for 14 adapted layers
    assert facts["loss_finite"]
    # Every gradient that flowed is on a LoRA matrix; lora_A gets none at init (B=0), lora_B must.
    assert facts["with_grad"] and all("lora_" in n for n in facts["with_grad"])
    assert any("lora_B" in n for n in facts["with_grad"])
    assert facts["padding_side"] == "left" and facts["pad_is_set"]
    assert facts["left_padded"], "the batch should contain left padding for this check to mean anything"
    assert facts["batched_tokens"] == facts["single_tokens"]
    assert all(len(t) > 0 for t in facts["batched_tokens"])
    assert facts["still_training"], "generation must restore training mode"


@pytest.mark.parametrize("arch", ["tiny_llama", "tiny_qwen2"])
def test_hf_backend_4bit_lora(arch, request):
    assert_backend_facts(check_backend("hf", str(request.getfixturevalue(arch))), "hf")


def run_checks(command: str, backend: str, *args) -> tuple[list[dict], str]:
    """backend_checks.py in a fresh interpreter (importing unsloth patches TRL process-wide)."""
    proc = subprocess.run(
        [sys.executable, str(TESTS / "backend_checks.py"), command, backend, *map(str, args)],
        capture_output=True, text=True, timeout=600, env={**os.environ, "PYTHONPATH": str(TESTS)},
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT "))
    return json.loads(line[len("RESULT "):]), proc.stdout + proc.stderr


def test_unsloth_cpu_backend_4bit_lora(tiny_llama, tiny_qwen2):
    results, output = run_checks("load", "unsloth", tiny_llama, tiny_qwen2)
    for facts in results:
        assert_backend_facts(facts, "unsloth")
    assert "no GPU found, training on CPU" in output


def test_auto_backend_is_hf_without_gpu():
    import torch

    choice = choose_backend("auto")
    assert choice.name == ("hf" if not torch.cuda.is_available() else choice.name)
    if not torch.cuda.is_available():
        assert "no CUDA" in choice.reason


def test_hub_name_offline_gives_clear_error(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    cfg = ExpoConfig.model_validate({"model": {"name": "Qwen/Qwen2.5-3B-Instruct-not-cached", "backend": "hf"}})
    with pytest.raises(ModelLoadError) as info:
        load_model(cfg)
    message = str(info.value)
    assert "Qwen/Qwen2.5-3B-Instruct-not-cached" in message and "offline" in message
    assert "hf download" in message and "local directory" in message


def test_missing_local_dir_and_dir_without_config(tmp_path):
    with pytest.raises(ModelLoadError, match="no such directory"):
        load_tiny(tmp_path / "nope")
    with pytest.raises(ModelLoadError, match="without config.json"):
        load_tiny(tmp_path)


def test_unknown_lora_target_is_named(tiny_llama):
    cfg = ExpoConfig.model_validate(
        {"model": {"name": str(tiny_llama), "backend": "hf"}, "lora": {"target_modules": ["q_proj", "qkv"]}}
    )
    with pytest.raises(ModelLoadError, match=r"lora.target_modules: \['qkv'\]"):
        load_model(cfg)


def test_unknown_embedded_alias():
    with pytest.raises(ModelLoadError, match="only embedded model"):
        load_model(ExpoConfig.model_validate({"model": {"name": "embedded:gpt5", "backend": "hf"}}))


def assert_grpo_step_facts(facts: dict, backend: str) -> None:
    assert facts["backend"] == backend and facts["linear4bit_layers"] == 14
    assert facts["positives"] == 2 and facts["sft_loss"] > 0
    # the SFT term reaches every adapted layer (lora_A gets no gradient on the first step: B starts at 0)
    assert facts["moved_B"] == facts["lora_B_params"] == 14


def test_exp_grpo_step_on_hf_backend_in_4bit(tiny_qwen2, tmp_path):
    from backend_checks import grpo_step

    assert_grpo_step_facts(grpo_step("hf", str(tiny_qwen2), str(tmp_path)), "hf")


def test_exp_grpo_step_on_unsloth_cpu_backend_in_4bit(tiny_qwen2, tmp_path):
    (facts,), _ = run_checks("grpo", "unsloth", tiny_qwen2, tmp_path)
    assert_grpo_step_facts(facts, "unsloth")


def test_generation_does_not_corrupt_4bit_gradients(tiny_llama):
    """bitsandbytes' CPU eval-time weight repacking must stay off: gradients after a generate() call equal
    the gradients before it (lora_B is made non-zero so gradients flow through the frozen 4-bit layers)."""
    import torch

    from expo_lite.core.sampling import generate
    from expo_lite.data.prompts import chat_prompt

    model, tok = load_tiny(tiny_llama, load_in_4bit=True, lora={"r": 4})
    torch.manual_seed(0)
    for n, p in model.named_parameters():
        if "lora_B" in n:
            p.data.normal_(0, 0.1)
    enc = tok([chat_prompt(tok, "What is 17 + 25?")], return_tensors="pt", add_special_tokens=False)

    def grads():
        model.train()
        model.zero_grad()
        model(**enc, labels=enc["input_ids"]).loss.backward()
        return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}

    before = grads()
    generate(model, tok, [chat_prompt(tok, "Hi")], max_new_tokens=3)
    after = grads()
    assert any("layers.0." in n and "lora_A" in n for n in before)  # reached through later 4-bit layers
    for n in before:
        torch.testing.assert_close(after[n], before[n])


@pytest.mark.parametrize("backend", ["hf", "unsloth"])
def test_exp_dpo_round_on_both_backends_in_4bit(backend, tiny_qwen2, tmp_path):
    (facts,), _ = run_checks("dpo", backend, tiny_qwen2, tmp_path)
    assert facts["backend"] == backend and facts["linear4bit_layers"] == 14 and facts["adapter"]
    (round_end,) = facts["rounds"]
    assert round_end["pairs"] == 3 and "rewards/margins" in round_end and round_end["loss"] > 0
