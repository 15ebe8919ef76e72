"""Blockwise log-probs (core/logprobs.py): equal to full logits, in value and gradient, with the model's own
logit transform, at a lower peak."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch

from expo_lite.algorithms.sft import collate
from expo_lite.core.logprobs import masked_logprobs, score_completions

from helpers import REPO, load_tiny


def _reference(model, ids, mask, loss_mask):
    """Full-vocab logits, log_softmax, gather (in at least fp32)."""
    logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1]
    logits = logits.to(torch.promote_types(logits.dtype, torch.float32))
    lp = logits.log_softmax(-1).gather(-1, ids[:, 1:].unsqueeze(-1)).squeeze(-1)
    return lp[loss_mask[:, 1:].bool()]


def _tiny_rows(tok, n=5):
    g = torch.Generator().manual_seed(0)
    rows = []
    for i in range(n):
        prompt = torch.randint(5, len(tok), (6 + 3 * i,), generator=g).tolist()
        completion = torch.randint(5, len(tok), (4 + 2 * (n - i),), generator=g).tolist()
        rows.append((prompt, completion))
    return rows


def test_blockwise_scoring_equals_full_logits(tiny_llama):
    model, tok = load_tiny(tiny_llama, load_in_4bit=False)
    rows = _tiny_rows(tok)
    batch = collate(rows, tok.pad_token_id)
    model.eval()
    with torch.no_grad():
        expected = _reference(model, batch.input_ids, batch.attention_mask, batch.loss_mask)
    scores = score_completions(model, [p for p, _ in rows], [c for _, c in rows], tok.pad_token_id,
                               tokens_per_forward=40, block=3)  # several forwards, many blocks
    got = torch.tensor([s.sum_logprob for s in scores], dtype=torch.float64)
    per_row = torch.split(expected, [len(c) for _, c in rows])
    torch.testing.assert_close(got, torch.stack([r.sum() for r in per_row]).double(), rtol=1e-5, atol=1e-5)
    assert [s.num_tokens for s in scores] == [len(c) for _, c in rows]


def test_blockwise_sft_gradient_equals_full_logits_gradient(tiny_llama):
    model, tok = load_tiny(tiny_llama, load_in_4bit=False, gradient_checkpointing=False)
    model.double()  # float64: the two ways must agree to rounding, not to a tolerance fitted to float32
    for n, p in model.named_parameters():
        if "lora_B" in n:
            p.data.normal_(0, 0.05)
    batch = collate(_tiny_rows(tok), tok.pad_token_id)
    grads = []
    for compute in (lambda: _reference(model, batch.input_ids, batch.attention_mask, batch.loss_mask),
                    lambda: masked_logprobs(model, batch.input_ids, batch.attention_mask, batch.loss_mask, block=4)):
        model.zero_grad()
        (-compute().sum()).backward()
        grads.append({n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None})
    assert grads[0].keys() == grads[1].keys() and grads[0]
    for name in grads[0]:
        torch.testing.assert_close(grads[1][name], grads[0][name], rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("arch", ["gemma2", "granite", "cohere"])
def test_blockwise_logprobs_apply_the_models_own_logit_transform(arch):
    """Soft-capping (Gemma-2) and logit scaling (Granite, Cohere) live in the CausalLM forward, after the LM
    head: the blockwise path must apply them the same way."""
    import transformers

    common = dict(vocab_size=96, hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                  num_key_value_heads=1, max_position_embeddings=64)
    extra = {"gemma2": dict(final_logit_softcapping=5.0, head_dim=16), "granite": dict(logits_scaling=4.0),
             "cohere": dict(logit_scale=0.25)}[arch]
    name = {"gemma2": "Gemma2", "granite": "Granite", "cohere": "Cohere"}[arch]
    torch.manual_seed(0)
    config = getattr(transformers, f"{name}Config")(**common, **extra)
    model = getattr(transformers, f"{name}ForCausalLM")(config).eval()
    ids = torch.randint(0, 96, (2, 12))
    mask = torch.ones_like(ids)
    loss_mask = torch.zeros_like(ids)
    loss_mask[:, 5:] = 1
    with torch.no_grad():
        torch.testing.assert_close(masked_logprobs(model, ids, mask, loss_mask, block=5),
                                   _reference(model, ids, mask, loss_mask), rtol=1e-5, atol=1e-5)


MEMORY_CHILD = r"""
import json, sys, torch
from transformers import AutoModelForCausalLM
from expo_lite.core.logprobs import score_completions
model = AutoModelForCausalLM.from_pretrained(sys.argv[1], dtype=torch.float32).eval()
g = torch.Generator().manual_seed(0)
prompts = [torch.randint(0, 32000, (64,), generator=g).tolist() for _ in range(8)]
completions = [torch.randint(0, 32000, (448,), generator=g).tolist() for _ in range(8)]
def status(key):
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) * 1024 for l in f if l.startswith(key))
def full_logits():  # the previous implementation: rows x length x vocab logits, then an fp32 log_softmax
    ids = torch.tensor([p + c for p, c in zip(prompts, completions)])
    with torch.no_grad():
        lp = torch.gather(model(input_ids=ids).logits[:, :-1].float().log_softmax(-1), -1, ids[:, 1:].unsqueeze(-1))
    return [float(lp[i, 63:].sum()) for i in range(8)]
def blockwise():
    return [s.sum_logprob for s in score_completions(model, prompts, completions, pad_id=0)]
run = {"full": full_logits, "blockwise": blockwise}[sys.argv[2]]
with open("/proc/self/clear_refs", "w") as f:  # reset the peak-RSS counter (VmHWM) to the current RSS
    f.write("5")
baseline = status("VmRSS")
sums = run()
print("RESULT " + json.dumps({"peak_above_baseline": status("VmHWM") - baseline, "sums": sums}))
"""


@pytest.mark.slow
def test_blockwise_scoring_peak_memory_is_lower(tmp_path):
    """Measured, not assumed: peak RSS above the loaded model while scoring 8 rows x 512 tokens with a
    32,000-token vocabulary, the previous full-logits way vs the blockwise way, each in a fresh process
    (the kernel's peak-RSS counter reset just before; glibc told to return freed large blocks, so RSS
    follows live tensors)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    LlamaForCausalLM(LlamaConfig(vocab_size=32000, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                 num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024)
                     ).save_pretrained(tmp_path)
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536", "PYTHONPATH": str(REPO)}
    results = {}
    for way in ("full", "blockwise"):
        out = subprocess.run([sys.executable, "-c", MEMORY_CHILD, str(tmp_path), way], capture_output=True, text=True,
                             timeout=600, env=env)
        line = next((x for x in out.stdout.splitlines() if x.startswith("RESULT ")), None)
        assert line, out.stderr[-2000:]
        results[way] = json.loads(line.removeprefix("RESULT "))
    torch.testing.assert_close(torch.tensor(results["blockwise"]["sums"]), torch.tensor(results["full"]["sums"]),
                               rtol=1e-5, atol=1e-3)
    full, blockwise = results["full"]["peak_above_baseline"], results["blockwise"]["peak_above_baseline"]
    logits_bytes = 8 * 511 * 32000 * 4
    assert full > logits_bytes  # the old way holds at least one full fp32 logits tensor
    assert blockwise < full / 4, (blockwise / 2**20, full / 2**20)
