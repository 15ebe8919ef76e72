"""ExP-GRPO and ExP-DPO under `torchrun --nproc_per_node 2` on CPU (gloo): both ranks train, each rank
samples only its own questions, and the run directory is written once.

The tiny random model never writes a valid self-explanation, so the SFT term under DDP is checked with
the expert-CoT positives (same code path from the positives on): with zero GRPO signal and plain SGD,
one 2-process step must give the same weights as one single-process step over the same prompts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from expo_lite.config import recipe_file
from expo_lite.io import read_jsonl
from expo_lite.models.loader import load_adapter_weights

from helpers import load_tiny


def train(model_dir: Path, out: Path, sets: list[str], processes: int) -> subprocess.CompletedProcess:
    base = [f"model.name={model_dir}", "model.backend=hf", f"train.output_dir={out}", "train.run_name=ddp",
            "train.max_completion_length=16", "explain.max_new_tokens=16", "explain.num_tries=1",
            "task.levels=[1, 2]", "task.num_problems=4"]
    args = ["-m", "expo_lite.cli", "train", "--no-tui", *sum((["--set", s] for s in base + sets), [])]
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}"]
    cmd = launcher + args if processes > 1 else [sys.executable, *args]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=900, env=env)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return result


def jsonl(path: Path) -> list[dict]:
    return list(read_jsonl(path))


@pytest.mark.slow
def test_exp_grpo_two_processes(tiny_llama, tmp_path):
    steps = 3
    train(tiny_llama, tmp_path, ["algo.name=exp_grpo", "algo.num_generations=2", f"train.max_steps={steps}",
                                 "train.per_device_train_batch_size=2", "train.save_steps=1"], processes=2)
    assert [p.name for p in tmp_path.iterdir()] == ["ddp"]  # one run directory, not one per rank
    run = tmp_path / "ddp"
    metrics = [m for m in jsonl(run / "metrics.jsonl") if "loss" in m]
    assert [m["step"] for m in metrics] == list(range(1, steps + 1))  # written once per step
    assert all(m["expo/explained"] == 2 for m in metrics)  # 2 prompts per step across the 2 ranks

    explanations = jsonl(run / "explanations.jsonl")
    by_step: dict[int, list[dict]] = {}
    for e in explanations:
        by_step.setdefault(e["step"], []).append(e)
    assert len(by_step) == steps
    for records in by_step.values():  # each rank explained its own question, each question once
        assert sorted(r["rank"] for r in records) == [0, 1]
        assert len({r["problem_id"] for r in records}) == 2

    checkpoints = sorted(p.name for p in (run / "checkpoints").iterdir())
    assert checkpoints[-1] == f"checkpoint-{steps}"
    state = json.loads((run / "checkpoints" / checkpoints[-1] / "trainer_state.json").read_text())
    assert state["global_step"] == steps
    model, _ = load_tiny(tiny_llama)
    load_adapter_weights(model, run / "adapter")


@pytest.mark.slow
def test_sft_term_under_ddp_matches_one_process(tiny_llama, tmp_path):
    sets = ["algo.name=grpo_sft_gt", "algo.sft_beta=1.0", "algo.num_generations=2", "train.max_steps=1",
            "train.optim=sgd", "train.learning_rate=0.5", "train.max_grad_norm=1000", "train.save_steps=10",
            "model.load_in_4bit=false"]  # fp32: 4-bit matmuls round differently at different batch sizes
    train(tiny_llama, tmp_path / "one", [*sets, "train.per_device_train_batch_size=4"], processes=1)
    train(tiny_llama, tmp_path / "two", [*sets, "train.per_device_train_batch_size=2"], processes=2)
    one, two = (jsonl(tmp_path / d / "ddp" / "metrics.jsonl")[0] for d in ("one", "two"))
    assert one["reward"] == two["reward"] == 0.0  # no correct rollout: the gradient is the SFT term's alone
    assert one["expo/positives"] == two["expo/positives"] == 2
    w1, w2 = (load_file(tmp_path / d / "ddp" / "adapter" / "adapter_model.safetensors") for d in ("one", "two"))
    moved = [k for k in w1 if "lora_B" in k and w1[k].abs().max() > 0]
    assert moved, "the SFT step did not move the adapter"
    for k in w1:
        torch.testing.assert_close(w2[k], w1[k], rtol=1e-4, atol=1e-6)


@pytest.mark.slow
def test_exp_dpo_two_processes(tiny_llama, tmp_path):
    train(tiny_llama, tmp_path, ["algo.name=exp_dpo", "algo.positive_source=expert_cot", "algo.mode=online",
                                 "algo.rounds=2", "algo.num_generations=2", "train.per_device_train_batch_size=1",
                                 "train.learning_rate=1e-3", "train.save_steps=1"], processes=2)
    run = tmp_path / "ddp"
    ends = [m for m in jsonl(run / "metrics.jsonl") if m.get("event") == "round_end"]
    assert [m["round"] for m in ends] == [1, 2]  # written once per round
    for r, end in enumerate(ends):  # every question of the round's slice was sampled, by one rank or the other
        pairs = jsonl(run / f"pairs_round{r}.jsonl")
        assert len(pairs) == end["pairs"] > 0
        assert end["pairs"] + sum(end["skipped"].values()) == 4  # 8 questions, 4 per round
        assert len({p["problem_id"] for p in pairs}) == len(pairs)
    assert json.loads((run / "round_state.json").read_text())["completed_rounds"] == 2
    model, _ = load_tiny(tiny_llama)
    load_adapter_weights(model, run / "adapter")


@pytest.mark.parametrize("name", ["ddp.yaml", "deepspeed_zero2.yaml"])
def test_shipped_accelerate_configs_load(name):
    """accelerate's own loader accepts them (it rejects unknown keys)."""
    from accelerate.commands.config.config_args import load_config_from_file
    from accelerate.utils import DistributedType


    config = load_config_from_file(str(recipe_file(f"accelerate/{name}")))
    want = DistributedType.DEEPSPEED if "deepspeed" in name else DistributedType.MULTI_GPU
    assert config.distributed_type == want and config.num_processes == 2 and not config.use_cpu
    if "deepspeed" in name:
        assert config.deepspeed_config["zero_stage"] == 2
