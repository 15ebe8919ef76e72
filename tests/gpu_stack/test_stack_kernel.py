"""The LM-head kernel stand-in (stand_ins.TorchChunkedLogProb) against TRL's own non-fused path, and the stock
TRL 1.15 stack (no Unsloth: backend hf under torchrun with the [unsloth] extra, or a plain install resolving to
TRL 1.15), which reaches TRL's triton kernel on every step."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
from trl.trainer.utils import entropy_from_logits, selective_log_softmax

from resolved_args import REPO
from stand_ins import OPTIONAL_OUTPUTS, TorchChunkedLogProb


def _logits(hidden, weight, bias, scale, softcap, temperature):
    z = torch.nn.functional.linear(hidden, weight, bias) * scale
    if softcap is not None:
        z = softcap * torch.tanh(z / softcap)
    return z / temperature


@pytest.mark.parametrize(("temperature", "softcap", "scale"), [(1.0, None, 1.0), (0.7, 30.0, 0.5)])
def test_stand_in_equals_trls_non_fused_path_values_and_gradients(temperature, softcap, scale):
    g = torch.Generator().manual_seed(0)
    n, h, v = 37, 16, 50
    hidden = torch.randn(n, h, generator=g, requires_grad=True)
    weight = torch.randn(v, h, generator=g, requires_grad=True)
    bias = torch.randn(v, generator=g, requires_grad=True)
    targets = torch.randint(0, v, (n,), generator=g)
    weight_lp, weight_ent = torch.randn(n, generator=g), torch.randn(n, generator=g)

    lp, ent, sq, mean, top1 = TorchChunkedLogProb.apply(hidden, weight, bias, targets, temperature, 4096, softcap,
                                                        scale, OPTIONAL_OUTPUTS)
    ours = torch.autograd.grad((lp * weight_lp).sum() + (ent * weight_ent).sum(), (hidden, weight, bias))

    z = _logits(hidden, weight, bias, scale, softcap, temperature)
    ref_lp = selective_log_softmax(z, targets)  # TRL's torch path (the kernel is for CUDA/XPU logits only)
    ref_ent = entropy_from_logits(z)
    theirs = torch.autograd.grad((ref_lp * weight_lp).sum() + (ref_ent * weight_ent).sum(), (hidden, weight, bias))
    torch.testing.assert_close(lp, ref_lp, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(ent, ref_ent, rtol=1e-5, atol=1e-5)
    for a, b in zip(ours, theirs, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    probs = z.softmax(-1)
    torch.testing.assert_close(sq, probs.pow(2).sum(-1).log(), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(mean, z.mean(-1), rtol=1e-5, atol=1e-5)
    assert torch.equal(top1, z.argmax(-1) == targets) and sq.requires_grad is False
    only_lp = TorchChunkedLogProb.apply(hidden, weight, bias, targets, temperature, 4096, softcap, scale, ())
    assert only_lp[1:] == (None, None, None, None)


STOCK_CHILD = r"""
import json, sys
sys.path.insert(0, sys.argv[2])
import trl
from expo_lite.testing.tiny import build_tiny_model
from expo_lite.config import ExpoConfig
from expo_lite.models.loader import load_model
from expo_lite.testing import contract

out = {"trl": trl.__version__, "unsloth_imported": "unsloth" in sys.modules}
cfg = ExpoConfig.model_validate({
    "model": {"name": sys.argv[1], "backend": "hf", "load_in_4bit": False, "max_seq_length": 512},
    "lora": {"r": 4, "alpha": 8}, "task": {"levels": [1], "num_problems": 4},
    "algo": {"name": "grpo_sft_gt", "num_generations": 2, "sft_beta": 0.5},
    "train": {"per_device_train_batch_size": 4, "max_completion_length": 8, "max_prompt_length": 256,
              "max_steps": 1, "output_dir": sys.argv[3]}, "explain": {"max_new_tokens": 8}})
model, tok = load_model(cfg)
try:
    contract.make_trainer(cfg, model, tok, sys.argv[3]).train()
    out["without"] = "trained"
except Exception as exc:
    out["without"] = f"{type(exc).__name__}: {exc}"[:300]
from stand_ins import TorchChunkedLogProb, install_kernel_stand_in
out["where"] = install_kernel_stand_in()
model, tok = load_model(cfg)
trainer = contract.make_trainer(cfg, model, tok, sys.argv[3])
trainer.train()
out["grpo_loss"] = trainer.state.log_history[0]["loss"]
out["grpo_calls"] = TorchChunkedLogProb.calls
dpo = cfg.model_copy(update={"algo": cfg.algo.model_copy(update={"name": "exp_dpo", "positive_source": "expert_cot"}),
                             "train": cfg.train.model_copy(update={"per_device_train_batch_size": 2})})
from expo_lite.recipes.train import run_training
run = run_training(dpo)
rounds = [json.loads(x) for x in run.metrics_path.read_text().splitlines() if "round_end" in x]
out["dpo_rounds"], out["dpo_calls"] = len(rounds), TorchChunkedLogProb.calls - out["grpo_calls"]
out["dpo_loss"] = rounds[0].get("loss")
print("RESULT " + json.dumps(out))
"""


def test_stock_trl_115_reaches_the_triton_kernel_and_trains_with_the_stand_in(tiny_qwen2, tmp_path):
    """A fresh process without unsloth: ExP-GRPO on TRL 1.15's own GRPOTrainer dies in TRL's triton kernel on
    this CPU, and with the stand-in in the kernel's place it trains, and so does an ExP-DPO round."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1"}
    out = subprocess.run([sys.executable, "-c", STOCK_CHILD, str(tiny_qwen2), str(REPO / "tests/gpu_stack"),
                          str(tmp_path)], capture_output=True, text=True, timeout=900, cwd=tmp_path, env=env)
    line = next((x for x in out.stdout.splitlines() if x.startswith("RESULT ")), None)
    assert line, out.stdout[-2000:] + out.stderr[-3000:]
    result = json.loads(line.removeprefix("RESULT "))
    assert result["trl"] == "1.15.0" and result["unsloth_imported"] is False
    assert "active drivers" in result["without"] or "driver" in result["without"].lower(), result["without"]
    assert result["where"] == "trl.trainer.utils._ChunkedLogProbFunction"
    assert result["grpo_calls"] > 0 and result["grpo_loss"] > 0
    assert result["dpo_rounds"] == 1 and result["dpo_calls"] > 0 and result["dpo_loss"] is not None


def test_on_unsloths_stack_the_kernel_slot_is_unsloths_with_the_stand_in_as_its_fallback():
    import trl.trainer.utils as trl_utils

    slot = trl_utils._ChunkedLogProbFunction
    assert type(slot).__name__ == "_UnslothFusedLinearHead" and slot.function is TorchChunkedLogProb
