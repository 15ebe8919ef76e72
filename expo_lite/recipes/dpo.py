"""ExP-DPO rounds: build preference pairs (algorithms/dpo_pairs.py) and train on them with TRL's DPOTrainer.

Modes: `offline` builds every pair once from the initial policy, then trains; `online` runs
`algo.rounds` rounds, each rebuilding pairs from the *current* policy on its own slice of questions
and then training on them. The reference model is TRL's for a LoRA model: a frozen copy of the adapter
as it was when the round's DPOTrainer was created (for round 1 that is the fresh adapter, i.e. the base
model). Every round leaves its pairs, its adapter and `round_state.json` in the run directory, so an
interrupted run resumes at the round it stopped in.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict
from pathlib import Path
from typing import Any

from .. import interrupts
from ..algorithms.dpo_pairs import Pair, PairSampling, PairSet, build_pairs, fitting_pairs, merge_pair_sets
from ..algorithms.unsloth_trainers import (
    ensure_mode_methods,
    is_unsloth_class,
    keep_float32,
    kept_padding_side,
    note_precision_change,
    trl_defaults_for,
)
from ..config import ExpoConfig
from ..core import distributed
from ..data.tasks import Problem
from ..io import append_jsonl, atomic_write_json, atomic_write_text, read_jsonl
from ..models.loader import load_adapter_weights

# ------------------------------------------------------------------------------------ the recipe


def round_slices(n_problems: int, rounds: int) -> list[range]:
    """Contiguous, near-equal slices of the question list, one per round."""
    size, extra = divmod(n_problems, rounds)
    out, start = [], 0
    for r in range(rounds):
        stop = start + size + (1 if r < extra else 0)
        out.append(range(start, stop))
        start = stop
    return out


def _state_path(run_dir: Path) -> Path:
    return run_dir / "round_state.json"


def completed_rounds(run_dir: Path) -> int:
    path = _state_path(run_dir)
    return json.loads(path.read_text())["completed_rounds"] if path.is_file() else 0


def _pairs_path(run_dir: Path, r: int) -> Path:
    return run_dir / f"pairs_round{r}.jsonl"


def _save_pairs(path: Path, pairs: list[Pair]) -> None:
    atomic_write_text(path, "".join(json.dumps(asdict(p), ensure_ascii=False) + "\n" for p in pairs))


def _load_pairs(path: Path) -> list[Pair]:
    return [Pair(**row) for row in read_jsonl(path)]


def dpo_args(cfg: ExpoConfig, output_dir: Path, model_dtype: Any = None, max_length: int | None = None):
    """TRL's DPOConfig for a round. `max_length`: the longest pair in tokens (`pair_lengths`), so that TRL never
    truncates a pair; by default the longest a pair can be by the config's lengths."""
    from trl import DPOConfig

    from .trainer_args import common_training_kwargs

    t, a = cfg.train, cfg.algo
    losses, weights = (["sigmoid", "sft"], [1.0, a.dpo_sft_weight]) if a.dpo_sft_weight > 0 else (["sigmoid"], None)
    kwargs = dict(
        **common_training_kwargs(cfg.train, output_dir, model_dtype, gradient_checkpointing=cfg.model.gradient_checkpointing,
                                 report_to=cfg.log.report_to),
        num_train_epochs=a.dpo_epochs,
        beta=a.dpo_beta,
        loss_type=losses,
        loss_weights=weights,
        max_length=max_length or t.max_prompt_length + max(t.max_completion_length, cfg.explain.max_new_tokens),
    )
    # Unsloth's DPOConfig has defaults of its own (padding_free None, dataset_num_proc 2, ...): TRL's, stated.
    return DPOConfig(**kwargs, **trl_defaults_for(DPOConfig, set(kwargs)))


def train_exp_dpo(cfg: ExpoConfig, run: Any, model: Any, tokenizer: Any, problems: list[Problem], fmt: str,
                  console: Any = None, callbacks: list | None = None, step_lines: bool = True) -> None:
    """Offline (one round over all questions) or online (`algo.rounds` rounds over slices), resumable.
    `console` gets round summaries and the pair-building progress; `step_lines=False` leaves the training
    steps to a live dashboard among `callbacks`."""
    from datasets import Dataset
    from transformers.trainer_callback import PrinterCallback
    from trl import DPOTrainer

    from ..models.precision import model_dtype
    from ..run.callbacks import HonourInterrupts, MetricsLogger, StopOnNonFiniteLoss
    from ..run.rundir import last_complete_checkpoint, save_interrupted

    rounds = cfg.algo.rounds if cfg.algo.mode == "online" else 1
    slices = round_slices(len(problems), rounds)
    done = completed_rounds(run.path)
    if done:
        load_adapter_weights(model, run.path / f"round{done - 1}" / "adapter")
        if console:
            console.print(f"resuming at round {done + 1}/{rounds} (rounds 1..{done} are complete)")
    for r in range(done, rounds):
        pairs_file = _pairs_path(run.path, r)
        if pairs_file.is_file():  # interrupted mid-round: these pairs came from this round's starting policy
            pairs, stats = _load_pairs(pairs_file), None
        else:
            stats = _round_pairs(cfg, run, model, tokenizer, [problems[i] for i in slices[r]], fmt, r, rounds, console)
            pairs = stats.pairs
        record = {"round": r + 1, "pairs": len(pairs)}
        if stats is not None:
            record.update({"skipped": dict(stats.skipped), "rollout_accuracy": stats.rollout_accuracy})
        if console:
            console.print(f"round {r + 1}/{rounds}: {len(pairs)} pairs" + (
                f", skipped {dict(stats.skipped)}, rollout accuracy {stats.rollout_accuracy:.0%}" if stats else " (reused)"))
        if not pairs:
            advice = "try more questions, more tries (explain.num_tries), more rollouts (algo.num_generations) or longer completions"
            if rounds == 1 or (r == rounds - 1 and not _pairs_trained(run.path, r)):
                raise ValueError(f"no preference pairs could be built ({record}); {advice}")
            # Online: this slice gave nothing to learn from; the next round asks other questions.
            if console:
                console.print(f"[yellow]round {r + 1}: no pairs, policy unchanged ({advice})[/yellow]")
            _finish_round(model, run, r, rounds, {**record, "skipped_round": True})
            continue
        trained, too_long, longest = fitting_pairs(tokenizer, pairs, cfg.model.max_seq_length)
        if too_long:
            record["too_long"] = too_long
            if console:
                console.print(f"[yellow]round {r + 1}: {too_long} pair(s) longer than model.max_seq_length="
                              f"{cfg.model.max_seq_length} tokens left out (never cut)[/yellow]")
        if not trained:
            raise ValueError(f"round {r + 1}: none of its {len(pairs)} pairs fits model.max_seq_length="
                             f"{cfg.model.max_seq_length}; raise it or lower explain.max_new_tokens")
        data = Dataset.from_list([{"prompt": p.prompt, "chosen": [{"role": "assistant", "content": p.chosen}],
                                   "rejected": [{"role": "assistant", "content": p.rejected}]} for p in trained])
        out = run.checkpoints_path / f"round{r}"
        nan_guard = StopOnNonFiniteLoss()
        args = dpo_args(cfg, out, model_dtype(model), max_length=longest)
        ensure_mode_methods(model, DPOTrainer)  # what Unsloth's DPOTrainer does to a model, made harmless
        keep_float32(model, args, DPOTrainer)
        requested = (bool(args.bf16), bool(args.fp16))
        with kept_padding_side(tokenizer):  # Unsloth's DPOTrainer sets it to 'right'; decoding needs 'left'
            trainer = DPOTrainer(model=model, args=args, train_dataset=data, processing_class=tokenizer,
                                 callbacks=[MetricsLogger(run, console if step_lines else None), nan_guard,
                                            HonourInterrupts(),
                                            *(callbacks or [])])
        if is_unsloth_class(DPOTrainer):
            note_precision_change(requested, trainer.args)
        trainer.remove_callback(PrinterCallback)
        try:
            with kept_padding_side(tokenizer):
                trainer.train(resume_from_checkpoint=last_complete_checkpoint(out))
        except KeyboardInterrupt:
            interrupts.acknowledge()  # acted on now: the save below is not interrupted by the same press
            for callback in callbacks or []:
                if hasattr(callback, "stop"):  # a live dashboard gives the terminal back first
                    callback.stop()
            save_interrupted(trainer, run.adapter_path, console)
            raise
        nan_guard.check(last_complete_checkpoint(out))
        losses = [h for h in trainer.state.log_history if "loss" in h]
        if losses:
            last = losses[-1]
            record.update({k: last[k] for k in ("loss", "rewards/margins", "rewards/accuracies", "logps/chosen",
                                                "logps/rejected") if k in last})
        _drop_reference_adapter(model)
        _finish_round(model, run, r, rounds, record)
    if distributed.is_main():
        model.save_pretrained(str(run.adapter_path))


def _round_pairs(cfg: ExpoConfig, run: Any, model: Any, tokenizer: Any, problems: list[Problem], fmt: str, r: int,
                 rounds: int, console: Any) -> PairSet:
    """Round r's pairs, built with progress. Single process: each finished chunk is appended to
    `pairs_round{r}.partial.jsonl`, so a Ctrl-C or a crash loses at most one chunk and `--resume` builds
    only the questions not done yet (sampled with a seed that also counts the questions already done).
    Under DDP each rank builds its round-robin share and rank 0 gathers; an interrupted round restarts."""
    from rich.console import Console
    from transformers import set_seed

    from ..progress import PhaseProgress

    partial_path = run.path / f"pairs_round{r}.partial.jsonl"
    single = distributed.world_size() == 1
    earlier = list(read_jsonl(partial_path)) if single and partial_path.is_file() else []
    done_ids = {pid for part in earlier for pid in part["problem_ids"]}
    todo = [p for p in problems if p.id not in done_ids]
    set_seed(cfg.train.seed + r + 1000 * len(done_ids))  # a round's pairs depend on its policy and the seed
    mine = distributed.shard(todo)
    tries = f" + {cfg.explain.num_tries} explanation tries" if cfg.algo.positive_source == "self_explanation" else ""
    work = (f"round {r + 1}/{rounds}: {len(mine)} questions x ({cfg.algo.num_generations} rollouts{tries}); "
            f"bound it with task.max_samples (DPO trains algo.dpo_epochs over the pairs; train.max_steps is GRPO's)")
    if done_ids:
        work += f"; {len(done_ids)} questions of this round were done before the interruption"

    def save_chunk(chunk: list[Problem], part: PairSet) -> None:
        if single:
            append_jsonl(partial_path, {"problem_ids": [p.id for p in chunk], "pairs": [asdict(x) for x in part.pairs],
                                        "skipped": dict(part.skipped), "rollouts": part.rollouts,
                                        "correct_rollouts": part.correct_rollouts})
        bar.advance(len(chunk))

    with PhaseProgress(console if distributed.is_main() and console is not None else Console(quiet=True),
                       f"pairs round {r + 1}", len(mine), work) as bar:
        try:
            built = build_pairs(model, tokenizer, mine, fmt, PairSampling.from_config(cfg), r, on_chunk=save_chunk,
                                chunk_size=cfg.algo.pair_chunk_questions)
        except KeyboardInterrupt:
            interrupts.acknowledge()
            if console is not None and single:
                console.print(f"[yellow]interrupted while building pairs: {len(done_ids) + bar.done}/{len(problems)} "
                              f"questions of round {r + 1} are saved in {partial_path.name}; continue with "
                              f"--resume[/yellow]")
            raise
    resumed = [PairSet([Pair(**x) for x in part["pairs"]], Counter(part["skipped"]), part["rollouts"],
                       part["correct_rollouts"]) for part in earlier]
    stats = merge_pair_sets(resumed + distributed.gather([built]))
    if distributed.is_main():
        _save_pairs(_pairs_path(run.path, r), stats.pairs)
        partial_path.unlink(missing_ok=True)
    return stats


def _finish_round(model: Any, run: Any, r: int, rounds: int, record: dict) -> None:
    """Round r's adapter, its metrics line, then (last, atomically) the state that marks it complete."""
    if distributed.is_main():
        model.save_pretrained(str(run.path / f"round{r}" / "adapter"))
        run.log_metrics({"event": "round_end", **record})
        atomic_write_json(_state_path(run.path), {"completed_rounds": r + 1, "rounds": rounds})
    distributed.barrier()


def _pairs_trained(run_dir: Path, before_round: int) -> bool:
    """Whether any earlier round of this run trained on at least one pair."""
    return any(_pairs_path(run_dir, r).is_file() and _load_pairs(_pairs_path(run_dir, r))
               for r in range(before_round))


def _drop_reference_adapter(model: Any) -> None:
    """TRL adds a frozen 'ref' copy of the adapter per DPOTrainer; the next round must start without it."""
    if "ref" in getattr(model, "peft_config", {}):
        model.set_adapter("default")
        model.delete_adapter("ref")
