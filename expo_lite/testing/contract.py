"""The trainer contract: what ExPGRPOTrainer and the ExP-DPO rounds must do on whatever trainer class is under
them (TRL's, or the one Unsloth generates), as checks that return facts and a verdict.

Run by the GPU-user lane on CPU (tests/gpu_stack: Unsloth's generated trainers over TRL 1.15) and by the GPU
smoke kit on a GPU (benchmarks/gpu_smoke.py, with Unsloth's real models and kernels), so the same definition
of "right" holds in both places and a first GPU run only has to show what needs CUDA.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..config import ExpoConfig


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    facts: dict[str, Any] = field(default_factory=dict)


def make_trainer(cfg: ExpoConfig, model: Any, tokenizer: Any, workdir: Path, reward: Any = None, **extra: Any):
    """ExPGRPOTrainer exactly as `expo-lite train` builds it (train.py), without the run directory."""
    from ..algorithms.grpo import ExPGRPOTrainer
    from ..data.tasks import answer_format, load_task
    from ..models.precision import model_dtype
    from ..recipes.train import build_prompt_dataset, grpo_args
    from ..run.rundir import RunDir
    from ..verify.answers import correctness_reward

    task = load_task(cfg.task)
    dataset, _ = build_prompt_dataset(task.problems, answer_format(cfg.task), cfg.prompt, cfg.train.max_prompt_length, tokenizer)
    run = RunDir(Path(workdir) / f"trainer-{time.monotonic_ns()}")
    return ExPGRPOTrainer(model=model, reward_funcs=[reward or correctness_reward],
                          args=grpo_args(cfg, run, model_dtype(model)), train_dataset=dataset,
                          processing_class=tokenizer, explain_config=cfg.explain, prompt_config=cfg.prompt, **extra)


def lora_params(model: Any) -> list[tuple[str, torch.Tensor]]:
    return [(n, p) for n, p in model.named_parameters() if p.requires_grad]


def expert_examples(cfg: ExpoConfig, tokenizer: Any, n: int = 2) -> list[tuple[list[int], list[int]]]:
    """(P(q) ids, normalised expert solution ids) of the task's first `n` problems: the SFT-GT-CoT targets."""
    from ..algorithms.positives import expert_targets
    from ..data.tasks import answer_format, load_task

    return expert_targets(tokenizer, load_task(cfg.task).problems[:n], answer_format(cfg.task), cfg.prompt)


def alternating_reward(completions: list[Any], **_: Any) -> list[float]:
    """Variance inside every group, so the GRPO part of the loss is not zero."""
    return [float(i % 2) for i in range(len(completions))]


# ------------------------------------------------------------------------------------ checks


def rewards_per_group(model: Any, tokenizer: Any, cfg: ExpoConfig, workdir: Path) -> Check:
    """One training step: every reward call sees the whole generation batch, and there is one solved flag per
    group of num_generations rollouts (what explain_on: unsolved relies on)."""
    from ..verify.answers import correctness_reward

    sizes: list[int] = []

    def reward(completions: list[Any], answer: list[str], **kw: Any) -> list[float]:
        sizes.append(len(completions))
        return correctness_reward(completions, answer, **kw)

    trainer = make_trainer(cfg.model_copy(update={"train": cfg.train.model_copy(update={"max_steps": 1})}),
                           model, tokenizer, workdir, reward)
    trainer.train()
    rows = trainer.args.per_device_train_batch_size * trainer.args.steps_per_generation
    groups = len(trainer._last_group_solved)
    ok = bool(sizes) and all(n == rows for n in sizes) and groups == rows // trainer.num_generations
    return Check("rewards per group", ok, f"reward calls saw {sorted(set(sizes))} completions (expected {rows}); "
                 f"{groups} solved flags for {rows // trainer.num_generations} groups", {"sizes": sizes, "groups": groups})


def sft_sees_logits(model: Any, tokenizer: Any, cfg: ExpoConfig, tolerance: float) -> Check:
    """Our SFT NLL equals the plain full-logits NLL, with Unsloth's hidden-states flag off and on."""
    from ..algorithms.sft import collate, nll_sum
    from ..models.loader import reset_unsloth_flags

    batch = collate(expert_examples(cfg, tokenizer), tokenizer.pad_token_id, device=next(model.parameters()).device)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            reset_unsloth_flags()
            logits = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask).logits[:, :-1].float()
            if logits.shape[-1] != model.get_output_embeddings().weight.shape[0]:
                return Check("SFT forward sees logits", False, "even with the flag unset .logits is not vocab-wide")
            lp = logits.log_softmax(-1).gather(-1, batch.input_ids[:, 1:].unsqueeze(-1)).squeeze(-1)
            reference = float(-(lp * batch.loss_mask[:, 1:]).sum())
            ours = float(nll_sum(model, batch))
            os.environ["UNSLOTH_RETURN_HIDDEN_STATES"] = "1"
            try:
                flagged = float(nll_sum(model, batch))
            finally:
                reset_unsloth_flags()
    finally:
        model.train(was_training)
    rel = max(abs(ours - reference), abs(flagged - reference)) / max(abs(reference), 1e-9)
    return Check("SFT forward sees logits", rel < tolerance,
                 f"NLL plain logits {reference:.4f}, ours {ours:.4f}, ours with UNSLOTH_RETURN_HIDDEN_STATES=1 "
                 f"{flagged:.4f} (rel. diff {rel:.1e}, tolerance {tolerance:g})", {"rel": rel})


def model_state(model: Any, tokenizer: Any) -> dict[str, Any]:
    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    return {"training": model.training, "gradient checkpointing": getattr(inner, "is_gradient_checkpointing", None),
            "padding side": tokenizer.padding_side, "use_cache": model.config.use_cache}


def state_across_explanation(model: Any, tokenizer: Any, cfg: ExpoConfig) -> Check:
    """Training mode, gradient checkpointing, padding side and cache flag unchanged by an explanation call."""
    from ..algorithms.explain import explain
    from ..data.tasks import answer_format, load_task

    if hasattr(model, "for_training"):
        model.for_training()
    else:
        model.train()
    before = model_state(model, tokenizer)
    explain(model, tokenizer, load_task(cfg.task).problems[:2], answer_format(cfg.task), cfg.explain, cfg.prompt)
    after = model_state(model, tokenizer)
    return Check("state across an explanation call", before == after,
                 f"{before}" + ("" if before == after else f" -> {after}"), {"before": before, "after": after})


def state_around_trainer(model: Any, tokenizer: Any, cfg: ExpoConfig, workdir: Path) -> Check:
    """Building the trainer and training leave the tokenizer padding on the left (batched generation needs it;
    load_model promises it); during our SFT forward the model is in training mode with its gradient
    checkpointing as configured."""
    tokenizer.padding_side = "left"
    seen: list[tuple[bool, Any]] = []
    trainer = make_trainer(cfg.model_copy(update={"train": cfg.train.model_copy(update={"max_steps": 1})}),
                           model, tokenizer, workdir)
    after_build = tokenizer.padding_side
    original = trainer.sft_term

    def spy(model_: Any, device: Any = None) -> Any:
        inner = model_.get_base_model() if hasattr(model_, "get_base_model") else model_
        seen.append((model_.training, getattr(inner, "is_gradient_checkpointing", None)))
        return original(model_, device)

    trainer.sft_term = spy
    trainer.train()
    after_train = tokenizer.padding_side
    expected_gc = cfg.model.gradient_checkpointing
    ok = (after_build == "left" and after_train == "left" and bool(seen)
          and all(training and bool(gc) == expected_gc for training, gc in seen))
    return Check("state around the trainer", ok, f"padding side after building {after_build!r}, after training "
                 f"{after_train!r}; (training, checkpointing) in the SFT forward {sorted(set(seen))} (expected "
                 f"(True, {expected_gc}))", {"after_build": after_build, "after_train": after_train, "seen": seen})


def gradient_decomposition(model: Any, tokenizer: Any, cfg: ExpoConfig, workdir: Path) -> Check:
    """In one real training step: grad(combined loss) vs grad(GRPO part) + grad(SFT part) on the LoRA weights.
    (The "added, never multiplied" claim of grpo.py: Unsloth's GRPO loss ignores the gradient it is given.)
    Gradients are taken with backward(), which every checkpointing mode supports (autograd.grad does not
    under reentrant checkpointing, which Unsloth's config asks for)."""
    from ..algorithms.positives import Positives
    trainer = make_trainer(cfg, model, tokenizer, workdir, alternating_reward)
    original = trainer.compute_loss
    found: dict[str, float] = {}
    params = [p for _, p in lora_params(model)]

    def grads(loss: torch.Tensor) -> torch.Tensor:
        for p in params:
            p.grad = None
        loss.backward()
        out = torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).flatten().float() for p in params])
        for p in params:
            p.grad = None
        return out

    def spy(model_: Any, inputs: Any, *args: Any, **kwargs: Any) -> Any:
        combined = grads(original(model_, inputs, *args, **kwargs))
        positives, trainer._positives = trainer._positives, Positives()  # the GRPO part alone
        grpo = grads(original(model_, inputs, *args, **kwargs))
        trainer._positives = positives
        term = trainer.sft_term(model_, next(model_.parameters()).device)
        sft = grads(term) if term is not None else torch.zeros_like(combined)
        found["cosine"] = float(torch.nn.functional.cosine_similarity(combined, grpo + sft, dim=0))
        found["sft_norm"], found["grpo_norm"] = float(sft.norm()), float(grpo.norm())
        found["rel_error"] = float((combined - grpo - sft).norm() / combined.norm().clamp_min(1e-30))
        return original(model_, inputs, *args, **kwargs)

    trainer.compute_loss = spy
    trainer.train()
    ok = found.get("cosine", 0) > 0.999 and found.get("sft_norm", 0) > 0 and found.get("grpo_norm", 0) > 0
    return Check("gradient = GRPO part + SFT part", ok,
                 f"cosine {found.get('cosine', float('nan')):.6f}, |grad SFT| {found.get('sft_norm', 0):.3g}, "
                 f"|grad GRPO| {found.get('grpo_norm', 0):.3g}", found)


def learns(model: Any, tokenizer: Any, cfg: ExpoConfig, workdir: Path, steps: int) -> Check:
    """With a large SFT weight on expert targets, the weights move and the targets' NLL falls."""
    from ..core.logprobs import score_completions

    examples = expert_examples(cfg, tokenizer)
    before_w = {n: p.detach().clone() for n, p in lora_params(model)}

    def nll() -> float:
        scores = score_completions(model, [p for p, _ in examples], [c for _, c in examples], tokenizer.pad_token_id)
        return sum(s.nll for s in scores) / len(scores)

    before = nll()
    train = cfg.train.model_copy(update={"max_steps": steps})
    make_trainer(cfg.model_copy(update={"train": train}), model, tokenizer, workdir).train()
    after = nll()
    moved = max(float((p.detach() - before_w[n]).abs().max()) for n, p in lora_params(model))
    return Check(f"learns in {steps} steps", moved > 0 and after < before,
                 f"SFT NLL of expert targets {before:.3f} -> {after:.3f}; max LoRA change {moved:.2e}",
                 {"before": before, "after": after, "moved": moved})


def online_dpo(configs: dict[str, ExpoConfig]) -> Check:
    """`expo-lite train` of a 2-round online ExP-DPO per positive source: both rounds complete, adapter saved.
    A weak model may write no valid self-explanation at all; only then may that source build no pairs."""
    from ..io import read_jsonl
    from ..recipes.dpo import completed_rounds
    from ..recipes.train import run_training

    details, ok, facts = [], True, {}
    for source, cfg in configs.items():
        try:
            run = run_training(cfg)
        except ValueError as exc:
            details.append(f"{source}: no pairs ({str(exc)[:80]})")
            ok = ok and source == "self_explanation"
            continue
        rounds = [m for m in read_jsonl(run.metrics_path) if m.get("event") == "round_end"]
        done = completed_rounds(run.path)
        ok = ok and done == 2 and (run.adapter_path / "adapter_model.safetensors").is_file()
        facts[source] = {"rounds": rounds, "run": str(run.path)}
        details.append(f"{source}: {done}/2 rounds, pairs per round {[m['pairs'] for m in rounds]}")
    return Check("online ExP-DPO, 2 rounds", ok, "; ".join(details), facts)
