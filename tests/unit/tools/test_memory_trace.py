"""The traced training step of a recipe, at a scaled-down size that runs in seconds: which phases it runs,
that what it counts as resident is what a real load holds, and that each phase grows with the knob it is
made of."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from expo_lite.cli import app
from expo_lite.config import load_config
from expo_lite.models.loader import load_model
from expo_lite.tools.memory_trace import _dpo_trainer, _grpo_trainer, model_bytes, trace_memory

SMALL = ["train.max_prompt_length=16", "train.max_completion_length=24", "explain.max_new_tokens=24",
         "model.dtype=float32", "lora.r=8"]


def recipe(name: str, model_dir, *sets: str):
    return load_config(name, [f"model.name={model_dir}", "model.backend=hf", *SMALL, *sets])


def resident_of_a_real_run(cfg, tmp_path, build):
    """Bytes of a real model after the same trainer is built on it (TRL casts a 4-bit model's LoRA to bf16,
    DPO adds its reference adapter)."""
    real, _ = load_model(cfg)
    build(cfg, real, tmp_path)
    return model_bytes(real)


def test_exp_grpo_traces_training_generation_and_scoring_on_top_of_what_a_real_run_holds(tiny_qwen2, tmp_path):
    cfg = recipe("qwen2.5-3b", tiny_qwen2)
    trace = trace_memory(cfg)
    assert set(trace.phases) == {"training", "generation", "scoring"}
    assert trace.weights == resident_of_a_real_run(cfg, tmp_path, _grpo_trainer)
    assert trace.optimizer > 0  # adamw_8bit's states of the LoRA parameters
    assert trace.total == trace.resident + max(trace.phases.values())
    plain = trace_memory(recipe("qwen2.5-3b-grpo", tiny_qwen2))
    assert set(plain.phases) == {"training", "generation"}  # no self-explanations: nothing to score
    assert plain.phases["generation"] < trace.phases["generation"]  # the tries ride along in the same decode


def test_each_phase_grows_with_its_knob(tiny_qwen2):
    base = trace_memory(recipe("qwen2.5-3b", tiny_qwen2))
    longer = trace_memory(recipe("qwen2.5-3b", tiny_qwen2, "train.max_completion_length=96", "explain.max_new_tokens=96"))
    assert longer.phases["training"] > base.phases["training"]
    assert longer.phases["generation"] > base.phases["generation"]
    assert longer.phases["scoring"] > base.phases["scoring"]
    more = trace_memory(recipe("qwen2.5-3b", tiny_qwen2, "train.gradient_accumulation_steps=8"))
    assert more.phases["generation"] > base.phases["generation"]  # a generation batch spans the accumulation
    assert more.phases["training"] == base.phases["training"]  # one micro-batch is the same


def test_exp_dpo_traces_pair_building_and_training_with_the_reference_adapter(tiny_llama, tmp_path):
    cfg = recipe("dpo/llama-3.2-3b-math-online", tiny_llama)
    trace = trace_memory(cfg)
    assert set(trace.phases) == {"pairs: generation", "pairs: scoring", "training"}
    loaded, _ = load_model(cfg)
    assert trace.weights == resident_of_a_real_run(cfg, tmp_path, _dpo_trainer) > model_bytes(loaded)  # + "ref"


@pytest.mark.parametrize("name", ["qwen2.5-3b", "dpo/qwen2.5-3b-math-online"])
def test_plan_trace_prints_the_traced_step_beside_the_prediction(tiny_qwen2, name):
    sets = sum((["--set", s] for s in [f"model.name={tiny_qwen2}", "model.backend=hf", *SMALL]), [])
    result = CliRunner().invoke(app, ["plan", name, *sets, "--trace"], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "Traced on fake tensors" in result.output and "peak = resident + the largest phase" in result.output
    assert ("pairs: generation" in result.output) == name.startswith("dpo/")


def test_trl_s_gpu_kernels_are_stood_in_for_in_the_training_step_only_and_put_back(tiny_qwen2):
    import trl.kernels.chunked_logprob as kernels
    import trl.trainer.utils as trl_utils

    before = (kernels._use_triton, kernels._forward_kernel, trl_utils._use_triton)
    cfg = recipe("qwen2.5-3b", tiny_qwen2)
    gpu, cpu = trace_memory(cfg), trace_memory(cfg, gpu_kernels=False)
    assert (kernels._use_triton, kernels._forward_kernel, trl_utils._use_triton) == before
    assert gpu.phases["training"] < cpu.phases["training"]  # the CPU fallback's temporaries are gone
    assert gpu.phases["generation"] == cpu.phases["generation"] and gpu.phases["scoring"] == cpu.phases["scoring"]
