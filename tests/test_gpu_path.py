"""The logic of the GPU path (Unsloth 2026.10.9 + TRL 1.15 on CUDA), factored so it runs on this CPU:
dtype choice without emulated bf16, Unsloth imported only for its own backend, the config __init__ chain
on a stand-in Unsloth parent, blockwise log-probs (equal to full logits, lower peak memory), the leaked
hidden-states flag, the multi-process guard, autocast around our own forwards. What only a GPU can show
is in benchmarks/gpu_smoke.py (its CPU dry run is test_gpu_smoke_dry_run below)."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from dataclasses import dataclass

import pytest
import torch
from trl import GRPOConfig

from expo_lite.algorithms.grpo import ExPGRPOConfig, build_config_class, check_trainer_matches_model
from expo_lite.algorithms.sft import collate
from expo_lite.config import ExpoConfig, load_config
from expo_lite.core.logprobs import masked_logprobs, score_completions
from expo_lite.models.loader import ModelLoadError, choose_backend, load_model, reset_unsloth_flags
from expo_lite.models.precision import gpu_has_native_bf16, load_dtype, mixed_precision

from conftest import REPO

CPU_ARGS = dict(use_cpu=True, bf16=False, fp16=False, report_to="none", save_strategy="no")


# ------------------------------------------------------------------ 1. dtype: never emulated bf16


def test_a_t4_loads_fp16_and_trains_with_fp16_flags(monkeypatch):
    """A T4 reports bf16 only with emulation; torch's default counts it, Unsloth's patch does not."""
    asked = []

    def t4_is_bf16_supported(including_emulation: bool = True) -> bool:
        asked.append(including_emulation)
        return including_emulation  # sm75: emulated only

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", t4_is_bf16_supported)
    assert gpu_has_native_bf16() is False and asked == [False]
    dtype = load_dtype("auto", on_gpu=True, native_bf16=gpu_has_native_bf16())
    assert dtype == torch.float16
    assert mixed_precision(dtype, on_gpu=True) == {"bf16": False, "fp16": True}  # fp16 gets a loss scaler


def test_dtype_and_precision_table():
    assert load_dtype("auto", on_gpu=True, native_bf16=True) == torch.bfloat16
    assert load_dtype("auto", on_gpu=False, native_bf16=True) == torch.float32
    assert load_dtype("float16", on_gpu=True, native_bf16=True) == torch.float16
    assert mixed_precision(torch.bfloat16, on_gpu=True) == {"bf16": True, "fp16": False}
    assert mixed_precision(torch.float32, on_gpu=True) == {"bf16": False, "fp16": False}
    assert mixed_precision(torch.bfloat16, on_gpu=False) == {"bf16": False, "fp16": False}


def test_training_arguments_follow_the_model_dtype_and_keep_nan_losses_visible(tmp_path):
    from expo_lite.recipes.trainer_args import common_training_kwargs

    cfg = load_config(None)
    kwargs = common_training_kwargs(cfg.train, tmp_path, torch.float32, gradient_checkpointing=True)
    assert kwargs["bf16"] is False and kwargs["fp16"] is False
    assert kwargs["logging_nan_inf_filter"] is False  # else a NaN step loss is logged as the running mean


CHILD_IMPORTS = r"""
import json, sys
from expo_lite.config import ExpoConfig
from expo_lite.models.loader import load_model
seen = {"before_load": "unsloth" in sys.modules}
load_model(ExpoConfig.model_validate({"model": {"name": sys.argv[1], "backend": sys.argv[2], "load_in_4bit": False}}))
seen["after_load"] = "unsloth" in sys.modules
import expo_lite.algorithms.grpo  # noqa: F401
seen["after_grpo"] = "unsloth" in sys.modules
print("RESULT " + json.dumps(seen))
"""


@pytest.mark.slow
@pytest.mark.parametrize(("backend", "imported"), [("hf", False), ("unsloth", True)])
def test_unsloth_is_imported_only_by_its_own_backend(tiny_llama, backend, imported):
    """With backend hf nothing imports unsloth (its import patches transformers, peft and TRL globally, and on
    a T4 flips the bf16 answer mid-run); with backend unsloth, load_model imports it first."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-c", CHILD_IMPORTS, str(tiny_llama), backend], capture_output=True,
                         text=True, timeout=600, env=env, cwd=REPO)
    line = next((x for x in out.stdout.splitlines() if x.startswith("RESULT ")), None)
    assert line, out.stdout[-2000:] + out.stderr[-2000:]
    seen = json.loads(line.removeprefix("RESULT "))
    assert seen == {"before_load": False, "after_load": imported, "after_grpo": imported}


# ------------------------------------------------------------------ 2. the config __init__ chain


@dataclass
class StandInUnslothGRPOConfig(GRPOConfig):
    """What Unsloth generates (unsloth/models/rl.py): a dataclass with its own __init__ that sets its defaults
    (router_aux_loss_coef=0.0 among them) and checks, then calls TRL's __init__."""

    unsloth_num_chunks: int = -1

    def __init__(self, *args, unsloth_num_chunks=-1, router_aux_loss_coef=0.0, temperature=1.0, **kwargs):
        if not 0 < temperature < 10:
            raise ValueError("Unsloth: temperature must be in (0, 10)")
        super().__init__(*args, router_aux_loss_coef=router_aux_loss_coef, temperature=temperature, **kwargs)
        self.unsloth_num_chunks = unsloth_num_chunks
        self.parent_init_ran = True


def test_config_forwards_to_the_parents_init(tmp_path):
    config_class = build_config_class(StandInUnslothGRPOConfig)
    args = config_class(output_dir=str(tmp_path), sft_beta=0.5, explain_on="unsolved", unsloth_num_chunks=4, **CPU_ARGS)
    assert args.parent_init_ran and args.router_aux_loss_coef == 0.0 and args.unsloth_num_chunks == 4
    assert args.sft_beta == 0.5 and args.explain_on == "unsolved" and args.positive_source == "self_explanation"
    assert "sft_beta" in args.to_dict()  # a dataclass field like TRL's own
    with pytest.raises(ValueError, match="temperature must be in"):  # the parent's checks run
        config_class(output_dir=str(tmp_path), temperature=0.0, **CPU_ARGS)
    with pytest.raises(ValueError, match="positive_source must be one of"):  # and so do ours
        config_class(output_dir=str(tmp_path), positive_source="gold", **CPU_ARGS)

    @dataclass
    class GeneratedInit(StandInUnslothGRPOConfig):  # what a plain @dataclass subclass would be
        sft_beta: float = 0.04

    plain = GeneratedInit(output_dir=str(tmp_path), **CPU_ARGS)
    assert not hasattr(plain, "parent_init_ran") and plain.router_aux_loss_coef is None  # the bug being fixed


def test_config_pickles_like_the_trainer_saves_it(tmp_path):
    args = ExPGRPOConfig(output_dir=str(tmp_path), sft_beta=0.1, **CPU_ARGS)
    again = pickle.loads(pickle.dumps(args))
    assert type(again) is ExPGRPOConfig and again.sft_beta == 0.1


# ------------------------------------------------------------------ 3. blockwise log-probs


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
    model, tok = load_model(ExpoConfig.model_validate({"model": {"name": str(tiny_llama), "backend": "hf",
                                                                 "load_in_4bit": False}}))
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
    model, tok = load_model(ExpoConfig.model_validate({"model": {"name": str(tiny_llama), "backend": "hf",
                                                                 "load_in_4bit": False, "gradient_checkpointing": False}}))
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


# ------------------------------------------------------------------ 4. multi-process guard


def test_unsloth_with_several_processes_is_refused_and_auto_picks_hf(monkeypatch):
    monkeypatch.setattr("expo_lite.models.loader.unsloth_installed", lambda: True)
    with pytest.raises(ModelLoadError, match=r"2 processes were launched.*model.backend=hf"):
        choose_backend("unsloth", processes=2)
    assert choose_backend("unsloth", processes=1).name == "unsloth"
    monkeypatch.setattr("expo_lite.models.loader.cuda_available", lambda: True)
    assert choose_backend("auto", processes=1).name == "unsloth"
    multi = choose_backend("auto", processes=2)
    assert multi.name == "hf" and "single-GPU" in multi.reason


def test_train_refuses_unsloth_under_torchrun_before_writing_anything(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from expo_lite.cli import app

    monkeypatch.setenv("WORLD_SIZE", "2")
    result = CliRunner().invoke(app, ["train", "--no-tui", "--set", "model.backend=unsloth",
                                      "--set", f"train.output_dir={tmp_path}"])
    assert result.exit_code == 2 and "Unsloth's GRPO kernels are single-GPU" in " ".join(result.output.split())
    assert not any(tmp_path.iterdir())


def test_trainer_checks_it_sits_on_unsloths_trainer(monkeypatch):
    class GRPOTrainer:  # noqa: D401 - stands for TRL's plain trainer
        pass

    class UnslothGRPOTrainer(GRPOTrainer):
        pass

    class Ours(UnslothGRPOTrainer):
        pass

    class Model:
        expo_backend = "unsloth"

    check_trainer_matches_model(GRPOTrainer, Model(), 1)  # CPU: Unsloth patches nothing, nothing to check
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    with pytest.raises(RuntimeError, match="imported before unsloth"):
        check_trainer_matches_model(GRPOTrainer, Model(), 1)
    check_trainer_matches_model(Ours, Model(), 1)
    with pytest.raises(RuntimeError, match="single-GPU"):
        check_trainer_matches_model(Ours, Model(), 2)


# ------------------------------------------------------------------ 5. the leaked Unsloth flag


def test_leaked_hidden_states_flag_is_cleared_by_sampling_and_after_an_oom(tiny_llama, monkeypatch):
    from expo_lite.core.sampling import generate
    from expo_lite.recipes.train import answer_oom
    from expo_lite.run.planner import GPUOutOfMemoryError

    model, tok = load_model(ExpoConfig.model_validate({"model": {"name": str(tiny_llama), "backend": "hf"}}))
    monkeypatch.setenv("UNSLOTH_RETURN_HIDDEN_STATES", "1")
    generate(model, tok, ["hello"], max_new_tokens=2)
    assert "UNSLOTH_RETURN_HIDDEN_STATES" not in os.environ

    monkeypatch.setenv("UNSLOTH_RETURN_HIDDEN_STATES", "1")
    with pytest.raises(GPUOutOfMemoryError), answer_oom(load_config(None), "while training"):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory")
    assert "UNSLOTH_RETURN_HIDDEN_STATES" not in os.environ
    monkeypatch.setenv("UNSLOTH_RETURN_HIDDEN_STATES", "1")
    reset_unsloth_flags()
    assert "UNSLOTH_RETURN_HIDDEN_STATES" not in os.environ


# ------------------------------------------------------------------ 6. autocast around our own forwards


@pytest.mark.slow
@pytest.mark.parametrize(("source", "ours", "sampling"), [
    ("self_explanation", "judge", "with_rollouts"),  # tries decoded in TRL's call; our scoring of them
    ("self_explanation", "explain", "separate"),  # tries decoded and scored by our own call
    ("expert_cot", "nll_sum", "auto"),  # the SFT term
])
def test_our_forwards_run_under_the_accelerators_autocast_even_when_the_wrapper_is_stripped(
        tiny_llama, tmp_path, monkeypatch, source, ours, sampling):
    """Unsloth strips accelerate's autocast wrapper off model.forward. With the wrapper removed the same way
    (unwrap_model(keep_fp32_wrapper=False)), our own forwards - explanation sampling (in a call of its own)
    and scoring, the SFT term - must still run under autocast (CPU bf16 autocast here stands in for CUDA's).
    TRL's own rollout forwards, and explanation tries decoded inside TRL's rollout call, are TRL's and are
    not checked."""
    import expo_lite.algorithms.grpo as grpo_module
    from expo_lite.algorithms.grpo import ExPGRPOTrainer
    from expo_lite.config import ExplainConfig
    from expo_lite.data.tasks import load_task
    from expo_lite.recipes.train import build_prompt_dataset
    from expo_lite.verify.answers import correctness_reward

    model, tok = load_model(ExpoConfig.model_validate({"model": {"name": str(tiny_llama), "backend": "hf",
                                                                 "load_in_4bit": False, "gradient_checkpointing": False}}))
    cfg = ExpoConfig.model_validate({"task": {"levels": [1], "num_problems": 4}})
    data, _ = build_prompt_dataset(load_task(cfg.task).problems, "hash", cfg.prompt, cfg.train.max_prompt_length, tok)
    inside = {"ours": False}
    original = getattr(grpo_module, ours)

    def marked(*args, **kwargs):
        inside["ours"] = True
        try:
            return original(*args, **kwargs)
        finally:
            inside["ours"] = False

    monkeypatch.setattr(grpo_module, ours, marked)
    if ours == "judge":  # a random tiny model never writes a valid try; let them through so they are scored
        import expo_lite.algorithms.explain as explain_module
        monkeypatch.setattr(explain_module, "check_explanation", lambda text, *a, **k: (explain_module.VALID, text))
    args = ExPGRPOConfig(output_dir=str(tmp_path), max_steps=1, per_device_train_batch_size=4, num_generations=2,
                         max_completion_length=4, use_cpu=True, bf16=True, report_to="none", save_strategy="no",
                         positive_source=source, gradient_checkpointing=False)
    trainer = ExPGRPOTrainer(model=model, reward_funcs=[correctness_reward], args=args, train_dataset=data,
                             processing_class=tok, explain_config=ExplainConfig(num_tries=1, max_new_tokens=4,
                                                                               sampling=sampling))
    trainer.model = trainer.accelerator.unwrap_model(trainer.model, keep_fp32_wrapper=False)  # as Unsloth does
    trainer.model_wrapped = trainer.model
    seen: list[tuple[bool, bool]] = []
    hook = model.get_base_model().model.embed_tokens.register_forward_hook(
        lambda mod, inp, out: seen.append((inside["ours"], torch.is_autocast_enabled("cpu"))))
    try:
        trainer.train()
    finally:
        hook.remove()
    mine = [enabled for is_ours, enabled in seen if is_ours]
    assert mine and all(mine), seen
    assert not all(enabled for is_ours, enabled in seen if not is_ours)  # TRL's stripped rollout forward: not


# ------------------------------------------------------------------ 7. the smoke kit's CPU dry run


@pytest.mark.slow
def test_gpu_smoke_dry_run():
    """`benchmarks/gpu_smoke.py --dry-run` on the CPU: every check that needs no CUDA passes; the GPU-only
    ones say skip and why. (Its GPU mode is `make gpu-smoke`.)"""
    out = subprocess.run([sys.executable, "benchmarks/gpu_smoke.py", "--dry-run", "--tiny", "--learn-steps", "4",
                          "--json"], capture_output=True, text=True, timeout=900, cwd=REPO,
                         env={**os.environ, "PYTHONPATH": str(REPO)})
    report = json.loads(out.stdout.strip().splitlines()[-1])
    status = {r["check"]: r["status"] for r in report["results"]}
    assert out.returncode == 0 and report["failed"] == [], out.stdout[-3000:]
    for check in ("float32 run", "rewards per group", "SFT forward sees logits", "state across an explanation call",
                  "state around the trainer",
                  "gradient = GRPO part + SFT part", "learns in 4 steps", "online ExP-DPO, 2 rounds"):
        assert status[check] == "pass", (check, status)
    assert status["class hierarchy"] == "skip" and status["peak memory vs planner"] == "skip"
    assert set(report["phases"]) == {"rollouts + explanation tries", "checking + scoring tries", "loss forward",
                                     "step (all)"}
    assert "| gradient = GRPO part + SFT part | pass | cosine 1.0" in out.stdout



# ------------------------------------------------------------------ 8. one config, one run, on either stack


def test_a_hand_built_config_trains_in_the_precision_the_hardware_trains_best(tmp_path, monkeypatch):
    """TRL's GRPOConfig defaults to bf16=True everywhere; on a CPU that emulates bf16 matmuls (a step ~9x slower).
    Unless the caller says, ExPGRPOConfig picks what `expo-lite train` picks for dtype auto."""
    from expo_lite.algorithms.grpo import same_run_kwargs

    args = ExPGRPOConfig(output_dir=str(tmp_path))
    assert (args.bf16, args.fp16) == (False, False)
    assert ExPGRPOConfig(output_dir=str(tmp_path), bf16=True, use_cpu=True).bf16 is True  # what the caller says wins
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr("expo_lite.models.precision.gpu_has_native_bf16", lambda: True)
    assert {k: same_run_kwargs(GRPOConfig, {})[k] for k in ("bf16", "fp16")} == {"bf16": True, "fp16": False}
    monkeypatch.setattr("expo_lite.models.precision.gpu_has_native_bf16", lambda: False)  # a T4
    assert {k: same_run_kwargs(GRPOConfig, {})[k] for k in ("bf16", "fp16")} == {"bf16": False, "fp16": True}
    assert {k: same_run_kwargs(GRPOConfig, {"use_cpu": True})[k] for k in ("bf16", "fp16")} == {"bf16": False, "fp16": False}


def test_epsilon_high_is_always_stated(tmp_path):
    assert ExPGRPOConfig(output_dir=str(tmp_path), **CPU_ARGS).epsilon_high == 0.2
    assert ExPGRPOConfig(output_dir=str(tmp_path), epsilon=0.3, **CPU_ARGS).epsilon_high == 0.3
    assert ExPGRPOConfig(output_dir=str(tmp_path), epsilon_high=0.28, **CPU_ARGS).epsilon_high == 0.28


def test_a_generation_batch_of_partial_groups_is_refused_before_any_stack_resizes_it(tmp_path):
    with pytest.raises(ValueError, match=r"= 6 rollouts per generation batch is not a multiple of num_generations \(4\)"):
        ExPGRPOConfig(output_dir=str(tmp_path), per_device_train_batch_size=6, num_generations=4, **CPU_ARGS)


@dataclass
class GeneratedGRPOConfig(GRPOConfig):
    """The shape of Unsloth's generated config: TRL's module and name (so checkpoints pickle), the flag Unsloth
    tests for, and an __init__ whose defaults differ from TRL's (these three are Unsloth 2026.10.9's)."""

    def __init__(self, *args, gradient_accumulation_steps=2, optim="adamw_8bit", seed=3407, **kwargs):
        super().__init__(*args, gradient_accumulation_steps=gradient_accumulation_steps, optim=optim, seed=seed, **kwargs)


GeneratedGRPOConfig._unsloth_patched_rl_config = True


def test_unsloths_config_defaults_are_replaced_by_trls_unless_given():
    from expo_lite.algorithms.unsloth_trainers import is_unsloth_class, trl_defaults_for

    assert is_unsloth_class(GeneratedGRPOConfig) and not is_unsloth_class(GRPOConfig)
    assert trl_defaults_for(GRPOConfig, set()) == {}
    theirs = trl_defaults_for(GeneratedGRPOConfig, {"seed"})
    assert theirs == {"gradient_accumulation_steps": 1, "optim": GRPOConfig.optim}  # seed was given


def test_unsloth_trainer_hooks_touch_only_what_unsloths_trainers_need(tiny_llama):
    """for_training/for_inference only for Unsloth's trainer classes and only where the model lacks them; the
    float32 marker only for a float32 model trained without a precision flag; arguments found by name through
    Unsloth's (*args, **kwargs) __init__ wrapper."""
    from expo_lite.algorithms.unsloth_trainers import ensure_mode_methods, init_arguments, keep_float32

    class UnslothLikeTrainer:
        def __init__(self, model, reward_funcs=None, args=None, train_dataset=None):
            pass

    class Wrapped(UnslothLikeTrainer):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)

    class Ours(Wrapped):
        pass

    Wrapped.__name__ = "UnslothWrapped"
    assert init_arguments(Ours, ("m", "r"), {"train_dataset": "d"}) == {
        "self": None, "model": "m", "reward_funcs": "r", "train_dataset": "d"}

    model, _ = load_model(ExpoConfig.model_validate({"model": {"name": str(tiny_llama), "backend": "hf",
                                                               "load_in_4bit": False}}))
    assert not ensure_mode_methods(model, GRPOConfig) and not hasattr(model, "for_training")
    assert ensure_mode_methods(model, Wrapped) and not ensure_mode_methods(model, Wrapped)
    model.for_inference()
    assert not model.training
    model.for_training(use_gradient_checkpointing=True)
    assert model.training
    flags = type("Args", (), {"bf16": False, "fp16": False})()
    keep_float32(model, flags, GRPOConfig)
    assert not getattr(model, "_unsloth_user_float32", False)
    keep_float32(model, flags, Wrapped)
    assert model._unsloth_user_float32 is True
