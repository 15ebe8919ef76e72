"""GPU smoke kit: what the first GPU run of expo-lite would hit, checked in about 10 minutes, as one table.

On a CUDA GPU (the stack users get from `pip install "expo-lite[unsloth]"`: unsloth 2026.10.9, trl 1.15):

    make gpu-smoke                                                  # or: python benchmarks/gpu_smoke.py
    python benchmarks/gpu_smoke.py --config configs/qwen2.5-3b.yaml # + a 3B recipe when its weights are local

Checks: versions and the trainer's class hierarchy (ExPGRPOTrainer on Unsloth's rebuilt GRPOTrainer, no
"could not patch" warning); bf16 and fp16 runs finite (fp16 with a loss scaler); one reward per
completion and one solved flag per group; the SFT forward gets logits, also with Unsloth's hidden-states
flag set; training mode, gradient checkpointing, padding side and cache flag unchanged across an
explanation call; the LoRA gradient of the combined loss equals GRPO part + SFT part (cosine > 0.999);
weights move and the SFT NLL falls over 10 steps with a large beta; time per phase (rollouts,
explanations, loss); peak memory against the planner; a 2-round online ExP-DPO run.

The model: the embedded SmolLM2-135M when its wheel is installed, else a small random Llama built here
(a fresh `[unsloth]` environment has no embedded model); 4-bit on a GPU, as users train. Nothing is
downloaded (HF_HUB_OFFLINE=1). `--dry-run` runs every check that needs no CUDA on the CPU with the hf
backend (the test suite does this); the GPU-only checks then say "skip" and why. Exit status 1 when a
check fails.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch  # noqa: E402

# expo_lite.grpo is imported only after load_model: Unsloth must patch TRL first (the kit checks that).
from expo_lite.config import ExpoConfig, load_config  # noqa: E402
from expo_lite.model import load_model  # noqa: E402

PASS, FAIL, SKIP, INFO = "pass", "FAIL", "skip", "info"


@dataclass
class Result:
    check: str
    status: str
    detail: str


@dataclass
class Kit:
    workdir: Path
    dry_run: bool
    model_name: str
    backend: str
    results: list[Result] = field(default_factory=list)
    phases: dict[str, float] = field(default_factory=dict)

    @property
    def on_gpu(self) -> bool:
        return torch.cuda.is_available() and not self.dry_run

    def config(self, *overrides: str) -> ExpoConfig:
        """A small ExP-GRPO config on the kit's model: 2 questions x 2 rollouts per step, short lengths."""
        return load_config(None, [
            f"model.name={self.model_name}", f"model.backend={self.backend}",
            f"model.load_in_4bit={'true' if self.on_gpu else 'false'}", "model.max_seq_length=512",
            "task.name=arithmetic", "task.levels=[1]", "task.num_problems=16", "algo.num_generations=2",
            "train.per_device_train_batch_size=4", "train.max_completion_length=32", "train.max_prompt_length=192",
            "explain.max_new_tokens=32", "explain.num_tries=1", "train.save_steps=1000", "train.logging_steps=1",
            f"train.output_dir={self.workdir / 'runs'}", "log.tui=false", *overrides])

    def record(self, check: str, status: str, detail: str) -> None:
        self.results.append(Result(check, status, detail))
        print(f"[{status:>4}] {check}: {detail}", flush=True)


# ------------------------------------------------------------------------------------ helpers


def make_trainer(cfg: ExpoConfig, model: Any, tokenizer: Any, workdir: Path, reward: Any = None):
    """ExPGRPOTrainer exactly as `expo-lite train` builds it (train.py), without the run directory."""
    from expo_lite.answers import correctness_reward
    from expo_lite.grpo import ExPGRPOTrainer
    from expo_lite.precision import model_dtype
    from expo_lite.rundir import RunDir
    from expo_lite.tasks import answer_format, load_task
    from expo_lite.train import build_prompt_dataset, grpo_args

    task = load_task(cfg.task)
    dataset, _ = build_prompt_dataset(task.problems, answer_format(cfg.task), cfg, tokenizer)
    run = RunDir(workdir / f"trainer-{time.monotonic_ns()}")
    return ExPGRPOTrainer(model=model, reward_funcs=[reward or correctness_reward],
                          args=grpo_args(cfg, run, model_dtype(model)), train_dataset=dataset,
                          processing_class=tokenizer, explain_config=cfg.explain, prompt_config=cfg.prompt)


def timed(store: dict[str, float], name: str, fn: Any) -> Any:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            store[name] = store.get(name, 0.0) + time.perf_counter() - start
    return wrapper


def lora_params(model: Any) -> list[tuple[str, torch.Tensor]]:
    return [(n, p) for n, p in model.named_parameters() if p.requires_grad]


def expert_examples(cfg: ExpoConfig, tokenizer: Any, n: int = 2) -> list[tuple[list[int], list[int]]]:
    from expo_lite.explain import completion_ids_for, normalised_target
    from expo_lite.prompts import standard_prompt
    from expo_lite.tasks import answer_format, load_task

    fmt = answer_format(cfg.task)
    out = []
    for p in load_task(cfg.task).problems[:n]:
        prompt = tokenizer(standard_prompt(tokenizer, p.question, fmt, cfg.prompt), add_special_tokens=False)["input_ids"]
        out.append((prompt, completion_ids_for(tokenizer, normalised_target(p.solution, p.answer, fmt))))
    return out


# ------------------------------------------------------------------------------------ checks


def check_versions(kit: Kit) -> None:
    from expo_lite.doctor import package_version

    names = ["torch", "transformers", "trl", "peft", "bitsandbytes", "accelerate", "unsloth", "unsloth_zoo"]
    versions = ", ".join(f"{n} {package_version(n) or '-'}" for n in names)
    if torch.cuda.is_available():
        from expo_lite.precision import gpu_has_native_bf16

        props = torch.cuda.get_device_properties(0)
        device = (f"{props.name} sm{props.major}{props.minor} {props.total_memory / 2**30:.0f} GiB, "
                  f"native bf16 {gpu_has_native_bf16()}")
    else:
        device = f"CPU x{torch.get_num_threads()} (no CUDA)"
    kit.record("versions", INFO, f"{versions}; {device}; model {kit.model_name} on {kit.backend}")


class _Captured(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def load_and_check_hierarchy(kit: Kit, cfg: ExpoConfig) -> tuple[Any, Any]:
    """Load the model, then import expo_lite.grpo, catching what Unsloth says while it patches TRL."""
    import warnings

    handler = _Captured()
    logging.getLogger().addHandler(handler)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model, tokenizer = load_model(cfg)
            from expo_lite.grpo import ExPGRPOTrainer
    finally:
        logging.getLogger().removeHandler(handler)
    said = handler.messages + [str(w.message) for w in caught]
    refused = [m for m in said if "could not patch" in m.lower() or "trl's own trainer" in m.lower()]
    chain = [c.__name__ for c in ExPGRPOTrainer.__mro__[1:4]]
    if kit.backend != "unsloth" or not kit.on_gpu:
        kit.record("class hierarchy", SKIP, f"backend {kit.backend} without CUDA: Unsloth patches no TRL trainer "
                                            f"(parents {' > '.join(chain)})")
    elif refused or not chain[0].startswith("Unsloth"):
        kit.record("class hierarchy", FAIL, f"parents {' > '.join(chain)}; Unsloth said: {refused[:2]}")
    else:
        kit.record("class hierarchy", PASS, f"ExPGRPOTrainer > {' > '.join(chain)}; no 'could not patch' warning")
    return model, tokenizer


def check_precision(kit: Kit, model: Any, tokenizer: Any) -> None:
    """Two ExP-GRPO steps in each precision the GPU has; fp16 must train with a loss scaler. Also times
    the phases of the first run and checks one reward per completion / one solved flag per group."""
    import expo_lite.grpo as grpo_module
    from expo_lite.precision import gpu_has_native_bf16, model_dtype

    if kit.on_gpu:
        dtypes = (["bfloat16"] if gpu_has_native_bf16() else []) + ["float16"]
    else:
        dtypes = ["float32"]
    loaded = {model_dtype(model): (model, tokenizer)}
    for i, dtype in enumerate(dtypes):
        cfg = kit.config(f"model.dtype={dtype}", "train.max_steps=2", "algo.name=exp_grpo")
        if getattr(torch, dtype) not in loaded:
            loaded[getattr(torch, dtype)] = load_model(cfg)
        model, tokenizer = loaded[getattr(torch, dtype)]
        reward_sizes: list[int] = []

        def reward(completions, answer, sizes=reward_sizes, **kw):
            from expo_lite.answers import correctness_reward
            sizes.append(len(completions))
            return correctness_reward(completions, answer, **kw)

        trainer = make_trainer(cfg, model, tokenizer, kit.workdir, reward)
        phases: dict[str, float] = {}
        trainer._generate = timed(phases, "rollouts + explanation tries", trainer._generate)
        original_judge = grpo_module.judge
        grpo_module.judge = timed(phases, "checking + scoring tries", original_judge)
        trainer.compute_loss = timed(phases, "loss forward", trainer.compute_loss)
        if kit.on_gpu:
            torch.cuda.reset_peak_memory_stats()
        start = time.perf_counter()
        try:
            trainer.train()
        finally:
            grpo_module.judge = original_judge
        wall = time.perf_counter() - start
        losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
        scaler = getattr(trainer.accelerator, "scaler", None)
        finite = len(losses) == 2 and all(math.isfinite(x) for x in losses)
        scaled_ok = (scaler is not None) if dtype == "float16" else True
        kit.record(f"{dtype} run", PASS if finite and scaled_ok else FAIL,
                   f"losses {[round(x, 4) for x in losses]}, loss scaler {'yes' if scaler is not None else 'no'}")
        if i == 0:
            rows = trainer.args.per_device_train_batch_size * trainer.args.steps_per_generation
            groups = len(trainer._last_group_solved)
            ok = reward_sizes and all(n == rows for n in reward_sizes) and groups == rows // trainer.num_generations
            kit.record("rewards per group", PASS if ok else FAIL,
                       f"reward calls saw {sorted(set(reward_sizes))} completions (expected {rows}); "
                       f"{groups} solved flags for {rows // trainer.num_generations} groups")
            kit.phases = {k: v / 2 for k, v in phases.items()}
            kit.phases["step (all)"] = wall / 2
            kit.record("time per phase", INFO, ", ".join(f"{k} {v:.2f}s" for k, v in kit.phases.items()) + " per step")
            check_memory(kit, cfg)


def check_memory(kit: Kit, cfg: ExpoConfig) -> None:
    from expo_lite.planner import GIB, dims_for, plan_memory

    if not kit.on_gpu:
        kit.record("peak memory vs planner", SKIP, "no CUDA: torch.cuda.max_memory_allocated is the measure")
        return
    measured = torch.cuda.max_memory_allocated()
    try:
        predicted = plan_memory(cfg, dims_for(cfg.model.name)).total
    except ValueError as exc:
        kit.record("peak memory vs planner", SKIP, f"no plan for this model: {exc}")
        return
    kit.record("peak memory vs planner", INFO, f"measured {measured / GIB:.2f} GiB, predicted {predicted / GIB:.2f} GiB "
                                               f"(ratio {measured / predicted:.2f})")


def check_sft_sees_logits(kit: Kit, model: Any, tokenizer: Any, cfg: ExpoConfig) -> None:
    """Our SFT NLL equals the plain full-logits NLL, with Unsloth's hidden-states flag off and on."""
    from expo_lite.model import reset_unsloth_flags
    from expo_lite.sft import collate, nll_sum

    batch = collate(expert_examples(cfg, tokenizer), tokenizer.pad_token_id, device=next(model.parameters()).device)
    model.eval()
    with torch.no_grad():
        reset_unsloth_flags()
        logits = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask).logits[:, :-1].float()
        if logits.shape[-1] != model.get_output_embeddings().weight.shape[0]:
            kit.record("SFT forward sees logits", FAIL, "even with the flag unset .logits is not vocab-wide")
            return
        lp = logits.log_softmax(-1).gather(-1, batch.input_ids[:, 1:].unsqueeze(-1)).squeeze(-1)
        reference = float(-(lp * batch.loss_mask[:, 1:]).sum())
        ours = float(nll_sum(model, batch))
        os.environ["UNSLOTH_RETURN_HIDDEN_STATES"] = "1"
        try:
            flagged = float(nll_sum(model, batch))
        finally:
            reset_unsloth_flags()
    rel = max(abs(ours - reference), abs(flagged - reference)) / max(abs(reference), 1e-9)
    tol = 1e-4 if next(model.parameters()).dtype == torch.float32 and not kit.on_gpu else 2e-2
    kit.record("SFT forward sees logits", PASS if rel < tol else FAIL,
               f"NLL plain logits {reference:.4f}, ours {ours:.4f}, ours with UNSLOTH_RETURN_HIDDEN_STATES=1 "
               f"{flagged:.4f} (rel. diff {rel:.1e}, tolerance {tol:g})")


def check_state_across_explanation(kit: Kit, model: Any, tokenizer: Any, cfg: ExpoConfig) -> None:
    from expo_lite.explain import explain
    from expo_lite.tasks import answer_format, load_task

    def state() -> dict[str, Any]:
        inner = model.get_base_model() if hasattr(model, "get_base_model") else model
        return {"training": model.training, "gradient checkpointing": getattr(inner, "is_gradient_checkpointing", None),
                "padding side": tokenizer.padding_side, "use_cache": model.config.use_cache}

    model.train()
    before = state()
    explain(model, tokenizer, load_task(cfg.task).problems[:2], answer_format(cfg.task), cfg.explain, cfg.prompt)
    after = state()
    kit.record("state across an explanation call", PASS if before == after else FAIL,
               f"{before}" + ("" if before == after else f" -> {after}"))


def check_gradient_decomposition(kit: Kit, model: Any, tokenizer: Any) -> None:
    """In one real training step: grad(combined loss) vs grad(GRPO part) + grad(SFT part) on the LoRA weights."""
    cfg = kit.config("algo.name=grpo_sft_gt", "algo.beta=0.5", "train.max_steps=1")

    def alternating(completions, **_):  # variance inside every group: the GRPO part is not zero
        return [float(i % 2) for i in range(len(completions))]

    trainer = make_trainer(cfg, model, tokenizer, kit.workdir, alternating)
    original = trainer.compute_loss
    found: dict[str, float] = {}

    def spy(model_, inputs, *args, **kwargs):
        params = [p for _, p in lora_params(model_)]

        def grads(loss):
            got = torch.autograd.grad(loss, params, allow_unused=True)
            return torch.cat([(g if g is not None else torch.zeros_like(p)).flatten().float() for g, p in zip(got, params, strict=True)])

        combined = grads(original(model_, inputs, *args, **kwargs))
        chunks, trainer._sft_chunks = trainer._sft_chunks, []
        grpo = grads(original(model_, inputs, *args, **kwargs))
        trainer._sft_chunks = chunks
        term = trainer.sft_term(model_, next(model_.parameters()).device)
        sft = grads(term) if term is not None else torch.zeros_like(combined)
        total = grpo + sft
        found["cosine"] = float(torch.nn.functional.cosine_similarity(combined, total, dim=0))
        found["sft_norm"], found["grpo_norm"] = float(sft.norm()), float(grpo.norm())
        return original(model_, inputs, *args, **kwargs)

    trainer.compute_loss = spy
    trainer.train()
    ok = found.get("cosine", 0) > 0.999 and found.get("sft_norm", 0) > 0 and found.get("grpo_norm", 0) > 0
    kit.record("gradient = GRPO part + SFT part", PASS if ok else FAIL,
               f"cosine {found.get('cosine', float('nan')):.6f}, |grad SFT| {found.get('sft_norm', 0):.3g}, "
               f"|grad GRPO| {found.get('grpo_norm', 0):.3g}")


def check_learning(kit: Kit, model: Any, tokenizer: Any, steps: int) -> None:
    from expo_lite.logprobs import score_completions

    cfg = kit.config("algo.name=grpo_sft_gt", "algo.beta=1.0", f"train.max_steps={steps}", "train.learning_rate=1e-3")
    examples = expert_examples(cfg, tokenizer)
    before_w = {n: p.detach().clone() for n, p in lora_params(model)}
    before = [s.nll for s in score_completions(model, [p for p, _ in examples], [c for _, c in examples], tokenizer.pad_token_id)]
    make_trainer(cfg, model, tokenizer, kit.workdir).train()
    after = [s.nll for s in score_completions(model, [p for p, _ in examples], [c for _, c in examples], tokenizer.pad_token_id)]
    moved = max(float((p.detach() - before_w[n]).abs().max()) for n, p in lora_params(model))
    ok = moved > 0 and sum(after) < sum(before)
    kit.record(f"learns in {steps} steps", PASS if ok else FAIL,
               f"SFT NLL of expert targets {sum(before) / len(before):.3f} -> {sum(after) / len(after):.3f}; "
               f"max LoRA change {moved:.2e}")


def check_online_dpo(kit: Kit) -> None:
    from expo_lite.dpo import completed_rounds
    from expo_lite.io import read_jsonl
    from expo_lite.train import run_training

    details = []
    ok = True
    for source in ("self_explanation", "expert_cot"):
        cfg = kit.config("algo.name=exp_dpo", "algo.mode=online", "algo.rounds=2", f"algo.positive_source={source}",
                         "task.num_problems=4", "explain.num_tries=2", "train.per_device_train_batch_size=2",
                         f"train.run_name=dpo-{source}")
        try:
            run = run_training(cfg)
        except ValueError as exc:  # no pairs in any round (a weak model may write no valid explanation)
            details.append(f"{source}: no pairs ({str(exc)[:80]})")
            ok = ok and source == "self_explanation"
            continue
        rounds = [m for m in read_jsonl(run.metrics_path) if m.get("event") == "round_end"]
        done = completed_rounds(run.path)
        ok = ok and done == 2 and (run.adapter_path / "adapter_model.safetensors").is_file()
        details.append(f"{source}: {done}/2 rounds, pairs per round {[m['pairs'] for m in rounds]}")
    kit.record("online ExP-DPO, 2 rounds", PASS if ok else FAIL, "; ".join(details))


def check_3b(kit: Kit, config_path: str) -> None:
    """The 3B recipe for 2 steps when its weights are local: VRAM against the planner, time per step."""
    from huggingface_hub import try_to_load_from_cache

    from expo_lite.planner import GIB, plan_memory

    cfg = load_config(config_path, ["train.max_steps=2", f"train.output_dir={kit.workdir / 'runs'}", "log.tui=false",
                                    "train.save_steps=1000"])
    local = Path(cfg.model.name).expanduser().is_dir() or isinstance(try_to_load_from_cache(cfg.model.name, "config.json"), str)
    if not kit.on_gpu or not local:
        kit.record(f"3B recipe {config_path}", SKIP, "needs CUDA and the weights in the local cache or a local directory")
        return
    model, tokenizer = load_model(cfg)
    trainer = make_trainer(cfg, model, tokenizer, kit.workdir)
    torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    trainer.train()
    step = (time.perf_counter() - start) / 2
    measured, predicted = torch.cuda.max_memory_allocated(), plan_memory(cfg).total
    kit.record(f"3B recipe {config_path}", INFO, f"{step:.1f} s/step, peak {measured / GIB:.2f} GiB, "
                                                 f"planner {predicted / GIB:.2f} GiB (ratio {measured / predicted:.2f})")


# ------------------------------------------------------------------------------------ main


def choose_model(workdir: Path, on_gpu: bool, tiny: bool) -> str:
    from expo_lite.config import EMBEDDED_MODEL
    from expo_lite.embedded import gguf_path
    from expo_lite.testing import build_tiny_model

    if gguf_path() is not None and not tiny:
        return EMBEDDED_MODEL
    # No embedded wheel (a fresh [unsloth] environment): a random Llama with head_dim 64 like real models.
    return str(build_tiny_model("llama", workdir / "tiny-llama", hidden=256 if on_gpu else 64, heads=4))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dry-run", action="store_true", help="CPU only, hf backend: every check that needs no CUDA")
    parser.add_argument("--config", action="append", default=[], help="a 3B recipe to time when its weights are local")
    parser.add_argument("--model", help="model name or directory (default: embedded, else a tiny random Llama)")
    parser.add_argument("--tiny", action="store_true", help="use the tiny random Llama even if the embedded model is there")
    parser.add_argument("--learn-steps", type=int, default=10)
    parser.add_argument("--json", action="store_true", help="last line: the results as one JSON object")
    args = parser.parse_args(argv)

    gpu = torch.cuda.is_available() and not args.dry_run
    from expo_lite.model import unsloth_installed

    backend = "unsloth" if gpu and unsloth_installed() else "hf"
    with tempfile.TemporaryDirectory(prefix="expo-gpu-smoke-") as tmp:
        workdir = Path(tmp)
        kit = Kit(workdir, args.dry_run, args.model or choose_model(workdir, gpu, args.tiny), backend)
        started = time.perf_counter()
        check_versions(kit)
        try:
            model, tokenizer = load_and_check_hierarchy(kit, kit.config())
        except Exception as exc:  # noqa: BLE001 - the table must still say what failed
            kit.record("load model", FAIL, f"{type(exc).__name__}: {exc}")
            model = None
        if model is not None:
            cfg = kit.config()
            for name, run in [
                ("precision", lambda: check_precision(kit, model, tokenizer)),
                ("SFT forward sees logits", lambda: check_sft_sees_logits(kit, model, tokenizer, cfg)),
                ("state across an explanation call", lambda: check_state_across_explanation(kit, model, tokenizer, cfg)),
                ("gradient = GRPO part + SFT part", lambda: check_gradient_decomposition(kit, model, tokenizer)),
                ("learning", lambda: check_learning(kit, model, tokenizer, args.learn_steps)),
                ("online ExP-DPO", lambda: check_online_dpo(kit)),
                *[(f"3B {c}", lambda c=c: check_3b(kit, c)) for c in args.config],
            ]:
                try:
                    run()
                except Exception as exc:  # noqa: BLE001
                    kit.record(name, FAIL, f"{type(exc).__name__}: {exc} | {traceback.format_exc(limit=3)[-300:]}")
        elapsed = time.perf_counter() - started

    print("\n| check | status | detail |\n|---|---|---|")
    for r in kit.results:
        print(f"| {r.check} | {r.status} | {r.detail} |")
    failed = [r.check for r in kit.results if r.status == FAIL]
    print(f"\n{len(kit.results)} checks in {elapsed:.0f} s; failed: {failed or 'none'}")
    if args.json:
        print(json.dumps({"results": [r.__dict__ for r in kit.results], "failed": failed, "seconds": round(elapsed, 1),
                          "phases": kit.phases}))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
