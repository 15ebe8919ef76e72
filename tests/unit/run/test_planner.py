"""The memory planner, component by component, against values computed by hand."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from expo_lite.cli import app
from expo_lite.config import ExpoConfig
from expo_lite.core.logprobs import LOGIT_BLOCK_TOKENS, SCORING_TOKENS_PER_FORWARD
from expo_lite.models.dims import PRESETS, ModelDims, dims_for
from expo_lite.run.planner import GIB, NF4_BYTES_PER_PARAM, advice, plan_memory

DIMS = ModelDims(hidden=8, intermediate=16, layers=2, heads=2, kv_heads=1, vocab=10, tied_embeddings=True, head_dim=4)


def cfg(**sections):
    base = {"model": {"name": "x", "load_in_4bit": False},
            "lora": {"r": 2},
            "train": {"per_device_train_batch_size": 4, "max_prompt_length": 5, "max_completion_length": 3,
                      "optim": "adamw_torch"},
            "explain": {"num_tries": 1, "max_new_tokens": 3},
            "algo": {"num_generations": 2}}
    for key, value in sections.items():
        base.setdefault(key, {}).update(value)
    return ExpoConfig.model_validate(base)


def test_model_dims():
    # per layer: q 8x8 + k 8x4 + v 8x4 + o 8x8 + gate 8x16 + up 8x16 + down 16x8 = 576
    assert DIMS.linear_params() == 2 * 576
    assert DIMS.embedding_params() == 80  # tied: one 10 x 8 table


def test_each_component_by_hand():
    plan = plan_memory(cfg(), DIMS, on_gpu=False)
    assert plan.weights == 1152 * 2 + 80 * 2
    # LoRA r=2 on all 7 projections: r*(in+out) = 32+24+24+32+48+48+48 = 256 per layer; fp32 p + g + Adam (8)
    assert plan.lora == 2 * 256 * (4 + 4 + 8)
    # gradient checkpointing: 4 rollouts x 8 tokens + the SFT forward of 2 positives (one per question) x 8
    # tokens keep every layer's input (layers x hidden); one layer's internals are live (80 + 64 + 16)
    assert plan.activations == ((32 + 16) * 2 * 8 + 32 * 160) * 2
    # rollout logits 4 x 3 x vocab x fp32 x (value + grad), plus one checkpointed LM-head block of the SFT term
    block = LOGIT_BLOCK_TOKENS * 10 * 4 * 3
    assert plan.logits == 12 * 10 * 8 + block
    # K and V: 2 x layers x kv_heads x head_dim x (5 + 3) x (4 rollouts + 2 questions x 1 try) x 2 bytes
    # + their last-token logits
    assert plan.kv_cache == 2 * 2 * 1 * 4 * 8 * 6 * 2 + 6 * 10 * 4
    # scoring: one no-grad forward of SCORING_TOKENS_PER_FORWARD tokens keeps all (layers + 1) hidden states
    assert plan.scoring == 3 * SCORING_TOKENS_PER_FORWARD * 8 * 2 + block // 3 * 2
    body = plan.weights + plan.lora + max(plan.activations + plan.logits, plan.kv_cache, plan.scoring)
    assert plan.overhead == int(0.10 * body) and plan.total == body + plan.overhead


def test_generation_is_sized_from_the_whole_generation_batch():
    """TRL samples per_device_train_batch_size x steps_per_generation rollouts in one call."""
    one = plan_memory(cfg(), DIMS, on_gpu=False)
    four = plan_memory(cfg(train={"gradient_accumulation_steps": 4}), DIMS, on_gpu=False)
    per_sequence = 2 * 2 * 1 * 4 * 8 * 2 + 10 * 4
    assert one.kv_cache == 6 * per_sequence and four.kv_cache == (16 + 8) * per_sequence
    assert four.activations == one.activations  # the training step still sees one micro-batch


def test_knobs_move_the_right_parts():
    base = plan_memory(cfg(), DIMS, on_gpu=False)
    four_bit = plan_memory(cfg(model={"load_in_4bit": True}), DIMS, on_gpu=False)
    assert four_bit.weights == int(1152 * NF4_BYTES_PER_PARAM) + 160 and four_bit.weights < base.weights
    eight_bit = plan_memory(cfg(train={"optim": "adamw_8bit"}), DIMS, on_gpu=False)
    assert eight_bit.lora == 2 * 256 * (4 + 4 + 2)
    no_gc = plan_memory(cfg(model={"gradient_checkpointing": False}), DIMS, on_gpu=False)
    assert no_gc.activations == (32 + 16) * 2 * (80 + 64) * 2
    plain = plan_memory(cfg(algo={"name": "grpo"}), DIMS, on_gpu=False)
    assert plain.logits == 12 * 10 * 8 and plain.scoring == 0  # no SFT positives, nothing scored
    assert plain.kv_cache == 4 * (2 * 2 * 1 * 4 * 8 * 2 + 10 * 4)  # no explanation tries
    gpu = plan_memory(cfg(), DIMS)
    assert gpu.overhead > base.overhead  # CUDA context


def test_presets_hold_the_real_3b_dimensions():
    qwen, llama = PRESETS["Qwen/Qwen2.5-3B-Instruct"], PRESETS["meta-llama/Llama-3.2-3B-Instruct"]
    total_qwen = qwen.linear_params() + qwen.embedding_params()
    total_llama = llama.linear_params() + llama.embedding_params()
    assert 3.0e9 < total_qwen < 3.2e9 and 3.1e9 < total_llama < 3.3e9  # both publish ~3.1B / ~3.2B
    assert dims_for("unsloth/Qwen2.5-3B-Instruct-bnb-4bit") == qwen


def test_dims_from_local_config(tiny_llama):
    d = dims_for(str(tiny_llama))
    assert (d.hidden, d.layers, d.kv_heads) == (64, 2, 2)
    with pytest.raises(ValueError, match="no preset"):
        dims_for("someone/unknown-model")


def test_advice_names_the_biggest_part():
    plan = plan_memory(cfg(), DIMS, on_gpu=False)
    assert advice(plan, budget_gib=1.0) == []
    tips = advice(plan, budget_gib=plan.total / GIB / 2)
    assert tips and tips[0].startswith("scoring")  # in this tiny model one scoring forward is the peak phase
    big = plan_memory(cfg(train={"per_device_train_batch_size": 64, "max_prompt_length": 512,
                                 "max_completion_length": 256}), DIMS, on_gpu=False)
    assert advice(big, budget_gib=big.total / GIB / 2)[0].startswith("activations")


@pytest.mark.parametrize("name", ["qwen2.5-3b", "llama-3.2-3b"])
def test_shipped_3b_configs_fit_24gb(name):
    result = CliRunner().invoke(app, ["plan", name])
    assert result.exit_code == 0, result.output
    assert "24 GB" in result.output and "peak" in result.output
    from expo_lite.config import load_config

    assert plan_memory(load_config(name)).total < 24 * GIB


def test_oom_message_names_the_prediction_and_the_knobs():
    from expo_lite.config import load_config
    from expo_lite.run.planner import oom_message

    qwen = load_config("qwen2.5-3b")
    predicted = plan_memory(qwen).total / GIB
    text = oom_message(qwen, 16.0, "while training")
    assert text.startswith("CUDA out of memory while training on this 16 GiB GPU.")
    assert f"predicts a peak of {predicted:.1f} GiB" in text
    assert ("more than the 16 GiB" if predicted > 16 else "within the 16 GiB") in text
    tips = [line for line in text.splitlines() if line.startswith("  - ")]
    assert len(tips) == 3 and all(any(k in t for k in ("train.", "algo.", "lora.", "model.")) for t in tips)
    assert "--resume" in text and "expo-lite plan" in text
    unknown = oom_message(load_config(None, ["model.name=someone/unknown-model"]), None, "while loading the model")
    assert "No memory plan for this model" in unknown and unknown.count("  - ") == 3
