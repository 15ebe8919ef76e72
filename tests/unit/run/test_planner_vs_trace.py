"""The planner's formulas held against the real step traced on fake tensors (tools/memory_trace.py).

Issue 26's bar: every part of `expo-lite plan` within 10% of the traced phase it models. The shapes here are
scaled down so each trace takes seconds, and chosen so that each branch of the formulas sets a peak somewhere:
a rebuilt decoder layer and TRL's LM-head tiles in training, the prefill and the full KV cache in generation,
a layer and an LM-head block in scoring; 4-bit and 16-bit, with and without gradient checkpointing, GRPO
with its SFT term and DPO with its reference adapter. The 3B rows are in docs/memory.md (benchmarks/memory_table.py).
"""

from __future__ import annotations

import pytest

from expo_lite.config import load_config
from expo_lite.models.dims import ModelDims
from expo_lite.run.planner import plan_memory
from expo_lite.tools.memory_trace import trace_memory

WIDE_MLP = ModelDims(256, 2048, 2, 4, 2, 8000, True, 64, "qwen2")  # a rebuilt layer outweighs the LM head
WIDE_KV = ModelDims(256, 768, 2, 4, 4, 8000, True, 64, "llama")  # KV-heavy: the last decoding step peaks

CASES = {
    "grpo-4bit-layer": (WIDE_MLP, "qwen2.5-3b", {"train.max_prompt_length": 256, "train.max_completion_length": 128,
                                                 "explain.max_new_tokens": 128, "train.per_device_train_batch_size": 4,
                                                 "algo.num_generations": 4, "train.gradient_accumulation_steps": 2}),
    "grpo-4bit-lm-head": (WIDE_KV, "llama-3.2-3b", {"train.max_prompt_length": 32, "train.max_completion_length": 512,
                                                    "explain.max_new_tokens": 512, "train.per_device_train_batch_size": 8,
                                                    "algo.num_generations": 4, "train.gradient_accumulation_steps": 2}),
    "grpo-16bit-no-checkpointing": (WIDE_KV, "qwen2.5-3b", {  # and a scoring forward's LM-head block
        "model.load_in_4bit": False, "model.gradient_checkpointing": False, "train.max_prompt_length": 32,
        "train.max_completion_length": 32, "explain.max_new_tokens": 256, "train.per_device_train_batch_size": 2,
        "algo.num_generations": 2, "train.gradient_accumulation_steps": 1, "lora.r": 8, "lora.alpha": 8}),
    "grpo-4bit-long-explanations": (WIDE_KV, "qwen2.5-3b", {  # the SFT term's LM-head block sets the peak
        "train.max_prompt_length": 32, "train.max_completion_length": 32, "explain.max_new_tokens": 256,
        "train.per_device_train_batch_size": 2, "algo.num_generations": 2, "train.gradient_accumulation_steps": 1}),
    "dpo-4bit-online": (WIDE_MLP, "dpo/qwen2.5-3b-math-online", {
        "train.max_prompt_length": 64, "train.max_completion_length": 192, "explain.max_new_tokens": 192,
        "algo.num_generations": 2, "explain.num_tries": 2}),
}


@pytest.mark.parametrize("case", CASES)
def test_every_part_of_the_plan_is_within_10_percent_of_the_trace(case):
    dims, recipe, sets = CASES[case]
    cfg = load_config(recipe, [f"{k}={v}" for k, v in sets.items()])
    trace, plan = trace_memory(cfg, dims), plan_memory(cfg, dims, on_gpu=False)
    planned = {"weights": plan.weights, "optimizer": plan.optimizer, "training": plan.training,
               "generation": plan.kv_cache, "scoring": plan.scoring,
               "pairs: generation": plan.kv_cache, "pairs: scoring": plan.scoring}
    traced = {"weights": trace.weights, "optimizer": trace.optimizer, **trace.phases}
    assert set(trace.phases) >= {"training"} and len(traced) >= 4
    off = {k: planned[k] / v - 1 for k, v in traced.items()}
    assert all(abs(e) <= 0.10 for e in off.values()), {k: f"{e:+.1%}" for k, e in off.items()}
    assert abs((plan.total - plan.overhead) / trace.total - 1) <= 0.10
