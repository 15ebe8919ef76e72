"""The memory planner, component by component, against values computed by hand."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from expo_lite.cli import app
from expo_lite.config import ExpoConfig
from expo_lite.models.dims import PRESETS, ModelDims, dims_for
from expo_lite.run.planner import (
    BNB_MIN_8BIT_SIZE,
    GIB,
    NF4_BYTES_PER_PARAM,
    TRL_TILE_TOKENS,
    TRL_TILE_VOCAB,
    advice,
    plan_memory,
)

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
    """The 16-bit path (bf16 weights and activations, fp32 LoRA adapters), every term written out."""
    plan = plan_memory(cfg(), DIMS, on_gpu=False)
    # bf16 projections, embeddings + 5 norm vectors of 8, and LoRA r=2 on all 7 projections in fp32:
    # r*(in+out) = 32+24+24+32+48+48+48 = 256 per layer
    assert plan.weights == 1152 * 2 + (80 + 5 * 8) * 2 + 512 * 4
    assert plan.optimizer == 512 * 2 * 4 and plan.gradients == 512 * 4  # torch AdamW: two fp32 states
    # training: 4 rollouts x 8 tokens keep each layer's input (2 layers x 8 x 2 bytes); one rebuilt layer holds
    # 2*H*2 + 30*H + 14*I + 7*r*2 = 524 bytes per token
    assert plan.activations == 32 * 32 + 32 * 524
    # ...but TRL's LM-head tile (12 completion tokens x 32768 vocabulary columns, bf16) outweighs that layer: the
    # final norm's input and output, the scored hidden states and their gradient, the tile and its hidden rows,
    # one bf16 vocabulary chunk
    lm_head = 2 * 32 * 8 * 2 + 2 * 12 * 8 * 2 + 12 * (TRL_TILE_VOCAB + 8) * 2 + 10 * 8 * 2
    assert plan.training == plan.gradients + 32 * 32 + lm_head
    # generation: 4 rollouts + 2 questions x 1 try = 6 rows; the prefill of 5 prompt tokens per row (K and V of
    # 2 layers x 1 head x 4 dims x 2 bytes = 32, one layer: 12*I + 4*H*2 + 4*H + rotary 2*4*2 = 304) outweighs
    # the last step's full cache (7 tokens per row)
    assert plan.kv_cache == 6 * 5 * (32 + 304)
    # scoring: both tries in one forward (8 tokens each): 4 hidden states of 8 x 2 bytes + one layer's 12*I + 4*H
    assert plan.scoring == 16 * (4 * 8 * 2 + 12 * 16 + 4 * 8)
    body = plan.weights + plan.optimizer + max(plan.training, plan.kv_cache, plan.scoring)
    assert plan.overhead == int(0.10 * body) and plan.total == body + plan.overhead


def test_generation_is_sized_from_the_whole_generation_batch():
    """TRL samples per_device_train_batch_size x steps_per_generation rollouts in one call."""
    one = plan_memory(cfg(), DIMS, on_gpu=False)
    four = plan_memory(cfg(train={"gradient_accumulation_steps": 4}), DIMS, on_gpu=False)
    assert one.kv_cache == 6 * 5 * 336 and four.kv_cache == (16 + 8) * 5 * 336
    assert four.training == one.training  # the training step still sees one micro-batch
    # a short prompt and a long completion: the last step's cache (every layer's K and V, one of them copied as
    # it grows, and the int64 attention masks) is the larger
    long = plan_memory(cfg(train={"max_prompt_length": 2, "max_completion_length": 40},
                           explain={"max_new_tokens": 40}), DIMS, on_gpu=False)
    assert long.kv_cache == int(6 * 41 * 32 * (1 + 1 / 4)) + 6 * 41 * 32


def test_knobs_move_the_right_parts():
    base = plan_memory(cfg(), DIMS, on_gpu=False)
    four_bit = plan_memory(cfg(model={"load_in_4bit": True}), DIMS, on_gpu=False)
    # NF4 projections; embeddings and norms fp32 (peft's k-bit preparation); adapters bf16 (TRL's QLoRA cast)
    assert four_bit.weights == int(1152 * NF4_BYTES_PER_PARAM + 120 * 4 + 512 * 2)
    assert four_bit.gradients == 512 * 2
    eight_bit = plan_memory(cfg(train={"optim": "adamw_8bit"}), DIMS, on_gpu=False)
    assert eight_bit.optimizer == 512 * 8  # every matrix here is under bitsandbytes' 4096: fp32 states
    big = ModelDims(64, 128, 1, 2, 1, 10, True, 32)
    big_lora = plan_memory(cfg(train={"optim": "adamw_8bit"}, lora={"r": 64}), big, on_gpu=False)
    # per matrix 64 x (64 | 32 | 128) elements: the 4096-element ones get 8-bit states, the rest fp32
    sizes = [64 * n for name in ("q", "k", "v", "o", "gate", "up", "down")
             for n in {"q": (64, 64), "k": (64, 32), "v": (64, 32), "o": (64, 64), "gate": (64, 128),
                       "up": (64, 128), "down": (128, 64)}[name]]
    assert big_lora.optimizer == int(sum(n * 8 if n < 4096 else n * 2 * (1 + 4 / 256) for n in sizes))
    no_gc = plan_memory(cfg(model={"gradient_checkpointing": False}), DIMS, on_gpu=False)
    saved = 4 * 16 * 2 + 8 * (8 * 2 + 8) + 13 * 2 * 2  # what one layer keeps per token without checkpointing
    assert no_gc.activations == 32 * 2 * saved
    plain = plan_memory(cfg(algo={"name": "grpo"}), DIMS, on_gpu=False)
    assert plain.scoring == 0 and plain.kv_cache == 4 * 5 * 336  # no positives, no tries, nothing scored
    dpo = plan_memory(cfg(algo={"name": "exp_dpo"}), DIMS, on_gpu=False)
    assert dpo.weights == base.weights + 512 * 4  # TRL's frozen fp32 "ref" copy of the adapter
    gpu = plan_memory(cfg(), DIMS)
    assert gpu.overhead > base.overhead  # CUDA context


def test_the_tile_sizes_are_the_installed_trl_and_bitsandbytes_ones():
    import inspect

    import bitsandbytes as bnb
    import trl.kernels.chunked_logprob as kernels
    import trl.trainer.utils as trl_utils

    assert TRL_TILE_TOKENS == kernels.TOKEN_CHUNK_SIZE
    assert TRL_TILE_VOCAB == trl_utils._CHUNKED_LOGPROB_CHUNK_SIZE
    assert inspect.signature(bnb.optim.AdamW8bit).parameters["min_8bit_size"].default == BNB_MIN_8BIT_SIZE


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
    assert tips and tips[0].startswith("logits")  # in this tiny model TRL's LM-head tile is the peak
    qwen = PRESETS["Qwen/Qwen2.5-3B-Instruct"]
    big = plan_memory(cfg(train={"per_device_train_batch_size": 16, "max_prompt_length": 512,
                                 "max_completion_length": 2048}, explain={"max_new_tokens": 2048},
                          algo={"num_generations": 16}, model={"max_seq_length": 2560}), qwen)
    assert advice(big, budget_gib=big.total / GIB / 2)[0].startswith("activations")  # at 3B, rebuilt layers
    llama = plan_memory(cfg(train={"gradient_accumulation_steps": 8, "max_completion_length": 2048},
                            explain={"max_new_tokens": 2048}, model={"max_seq_length": 2053}), PRESETS["meta-llama/Llama-3.2-3B-Instruct"])
    assert advice(llama, budget_gib=llama.total / GIB / 2)[0].startswith("kv_cache")


def test_every_shipped_3b_recipe_fits_24gb():
    """The promise: ExP-GRPO and ExP-DPO on the 3B models fit one 24 GB GPU (planner, overhead included)."""
    from expo_lite.config import load_config, recipe_names

    names = [n for n in recipe_names() if "3b" in n and not n.endswith("-base")]
    assert len(names) >= 20
    over = {n: round(plan_memory(load_config(n)).total / GIB, 1) for n in names}
    assert all(gib < 24 for gib in over.values()), over


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


def test_plan_sizes_predicts_every_group_size_and_length():
    result = CliRunner().invoke(app, ["plan", "qwen2.5-3b", "--sizes"])
    assert result.exit_code == 0, result.output
    from expo_lite.config import load_config
    from expo_lite.run.planner import SIZE_GROUPS, SIZE_LENGTHS, resized

    qwen = load_config("qwen2.5-3b")
    for g in SIZE_GROUPS:
        for length in SIZE_LENGTHS:
            sized = resized(qwen, g, length)
            assert (sized.algo.num_generations, sized.train.per_device_train_batch_size) == (g, g)
            assert sized.explain.max_new_tokens == sized.train.max_completion_length == length
            assert f"{plan_memory(sized).total / GIB:.1f}" in result.output
    dpo = CliRunner().invoke(app, ["plan", "dpo/qwen2.5-3b-math-online", "--sizes"])
    assert dpo.exit_code == 0 and "DPO recipe" in dpo.output


def test_the_plan_tables_read_whole_at_80_columns_and_piped():
    """`expo-lite plan RECIPE --sizes | less`: every header and value whole, no line past 80 characters."""
    import io

    from rich.console import Console

    from expo_lite.config import load_config
    from expo_lite.run.planner import plan_memory, render_plan, render_sizes

    cfg = load_config("qwen2.5-3b")
    out = io.StringIO()
    console = Console(file=out, width=80)
    render_plan(cfg, plan_memory(cfg), console)
    render_sizes(cfg, console)
    text = out.getvalue()
    assert "…" not in text and max(len(line) for line in text.splitlines()) <= 80
    for header in ("completion", "peak GiB", "peak phase", "16 GB", "24 GB", "40 GB", "lower first"):
        assert header in text
