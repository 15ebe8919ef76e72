"""One recipe, one run: the trainer arguments every shipped recipe (and a hand-built ExPGRPOConfig) resolves to
are the same on the CI stack (stock TRL 1.16) and on the GPU user's (Unsloth's generated configs over TRL 1.15),
whose defaults differ (expo_lite/algorithms/unsloth_trainers.py)."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from resolved_args import RECIPES, REPO, resolved

# What may differ, and why none of it changes what is trained:
ALLOWED = {
    # Unsloth's config forces reentrant checkpointing; Unsloth models use Unsloth's own checkpointing whatever it
    # says, transformers models get reentrant checkpointing, whose gradients test_stack_grpo.py checks.
    "gradient_checkpointing_kwargs",
    # DPO dataset tokenization in 2 worker processes instead of 1 (Unsloth sets it in its __init__).
    "dataset_num_proc",
}


@pytest.fixture(scope="module")
def both_stacks():
    stock = os.environ.get("EXPO_LITE_STOCK_PYTHON")
    if not stock:
        pytest.fail("EXPO_LITE_STOCK_PYTHON (the CI stack's python) is not set; run the lane with make test-gpu-stack")
    out = subprocess.run([stock, str(REPO / "tests/gpu_stack/resolved_args.py")], capture_output=True, text=True,
                         timeout=600, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})
    line = next((x for x in out.stdout.splitlines() if x.startswith("RESOLVED ")), None)
    assert line, out.stderr[-3000:]
    return json.loads(line.removeprefix("RESOLVED ")), resolved()


def test_the_stacks_are_what_they_should_be(both_stacks):
    import trl

    stock, lane = both_stacks
    assert trl.__version__ == "1.15.0"
    assert set(stock) == set(lane) and len(lane) == len(RECIPES) + 1


@pytest.mark.parametrize("name", [str(p.relative_to(REPO)) for p in RECIPES] + ["hand-built ExPGRPOConfig(output_dir=...)"])
def test_resolved_trainer_arguments_are_identical_on_both_stacks(both_stacks, name):
    stock, lane = both_stacks[0][name], both_stacks[1][name]
    common = set(stock) & set(lane)
    differ = {k: (stock[k], lane[k]) for k in common if stock[k] != lane[k] and k not in ALLOWED}
    assert not differ, differ
    only_lane = {k for k in set(lane) - set(stock) if not (k.startswith(("unsloth_", "context_parallel_", "vllm_"))
                                                            or k in ("push_to_hub_token", "max_seq_length"))}
    assert not only_lane, only_lane  # Unsloth's own knobs only
    assert not set(stock) - set(lane)
    for key in ("loss_type", "beta", "epsilon", "epsilon_high", "scale_rewards", "mask_truncated_completions",
                "per_device_train_batch_size", "gradient_accumulation_steps", "optim", "seed", "bf16", "fp16"):
        if key in stock:
            assert lane[key] == stock[key], key
    if "epsilon_high" in stock:  # stated, never left to a stack's default
        assert stock["epsilon_high"] is not None and stock["mask_truncated_completions"] is not None

