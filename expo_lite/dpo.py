"""ExP-DPO: preference pairs whose preferred response the policy wrote itself, trained with TRL's DPO.

For each question:
  chosen   = a valid self-explanation of the gold answer (the engine in explain.py), or the dataset's
             written solution for the expert-CoT baseline (`positive_source: expert_cot`);
  rejected = one of the policy's own incorrect CoTs sampled from P(q). Rule: among the incorrect
             samples prefer the ones that finished (a real wrong answer over a cut-off one), and among
             those the most likely under P(q): the mistake the policy is most inclined to make.
Both are conditioned on P(q); the hinted prompt is only used to sample the explanation. Questions with
no valid chosen or no incorrect rejected are skipped and counted by reason.

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
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from . import distributed
from .answers import are_correct
from .config import ExpoConfig
from .explain import completion_ids_for, explanation_rows, group_tries, judge, normalised_target
from .io import append_jsonl, atomic_write_json, atomic_write_text, read_jsonl
from .logprobs import score_completions
from .model import load_adapter_weights
from .prompts import standard_prompt, user_text
from .sampling import Generation, Row, decode
from .tasks import Problem
from .unsloth_trainers import (
    ensure_mode_methods,
    is_unsloth_class,
    keep_float32,
    kept_padding_side,
    note_precision_change,
    trl_defaults_for,
)

PAIR_CHUNK_QUESTIONS = 8  # questions sampled together; progress and the partial-pairs file advance per chunk
SKIP_NO_CHOSEN = "no valid chosen"
SKIP_NO_REJECTED = "no incorrect rollout"


@dataclass
class Pair:
    problem_id: str
    round: int
    question: str
    answer: str
    level: int | None
    prompt: list[dict[str, str]]  # conversational P(q): TRL applies the chat template
    chosen: str
    rejected: str
    chosen_source: str
    chosen_mean_logprob: float  # under P(q), by the policy that built the pair
    rejected_mean_logprob: float


@dataclass
class PairSet:
    pairs: list[Pair]
    skipped: Counter
    rollouts: int
    correct_rollouts: int

    @property
    def rollout_accuracy(self) -> float:
        return self.correct_rollouts / max(self.rollouts, 1)


def build_pairs(model: Any, tokenizer: Any, problems: list[Problem], fmt: str, cfg: ExpoConfig, round_index: int = 0,
                on_chunk: Any = None, chunk_size: int = PAIR_CHUNK_QUESTIONS) -> PairSet:
    """Sample, check and pair (see the module docstring), `chunk_size` questions at a time; after each chunk
    `on_chunk(chunk_problems, chunk_pairset)` (progress, the partial-pairs file)."""
    parts = []
    for start in range(0, len(problems), chunk_size):
        chunk = problems[start : start + chunk_size]
        part = _build_chunk(model, tokenizer, chunk, fmt, cfg, round_index)
        parts.append(part)
        if on_chunk is not None:
            on_chunk(chunk, part)
    return merge_pair_sets(parts) if parts else PairSet([], Counter(), 0, 0)


def _build_chunk(model: Any, tokenizer: Any, problems: list[Problem], fmt: str, cfg: ExpoConfig, round_index: int) -> PairSet:
    """The chunk's G rollouts per question and (for self-explanations) its explanation tries, in one decode."""
    prompts = [standard_prompt(tokenizer, p.question, fmt, cfg.prompt) for p in problems]
    g, t = cfg.algo.num_generations, cfg.train
    rows = [Row(tuple(tokenizer(prompt, add_special_tokens=False)["input_ids"]), t.temperature, t.max_completion_length)
            for prompt in prompts for _ in range(g)]
    explaining = cfg.algo.positive_source == "self_explanation"
    tries_rows = explanation_rows(tokenizer, problems, fmt, cfg.explain, cfg.prompt) if explaining else []
    if cfg.explain.top_p == 1.0:  # rollouts sample without top-p: one call can hold both
        samples = decode(model, tokenizer, rows + tries_rows)
    else:
        samples = decode(model, tokenizer, rows) + decode(model, tokenizer, tries_rows, top_p=cfg.explain.top_p)
    rollouts = [samples[i * g : (i + 1) * g] for i in range(len(problems))]
    if explaining:
        tries = group_tries(samples[len(problems) * g :], cfg.explain.num_tries)
        records = judge(model, tokenizer, problems, tries, fmt, cfg.explain, cfg.prompt)
        chosen_texts = [r.text if r.valid else None for r in records]
    else:
        chosen_texts = [normalised_target(p.solution, p.answer, fmt) if p.solution else None for p in problems]
    return assemble_pairs(model, tokenizer, problems, prompts, rollouts, chosen_texts, fmt, cfg, round_index)


def assemble_pairs(model: Any, tokenizer: Any, problems: list[Problem], prompts: list[str],
                   rollouts: list[list[Generation]], chosen_texts: list[str | None], fmt: str, cfg: ExpoConfig,
                   round_index: int = 0) -> PairSet:
    """Verify the rollouts, pick each question's rejected CoT, score both sides under P(q)."""
    positive = cfg.algo.positive_source
    skipped: Counter = Counter()
    candidates = []  # (problem, prompt ids, chosen, [(rejected text, finished)])
    verdicts = iter(are_correct([g.text for gens in rollouts for g in gens],
                                [p.answer for p, gens in zip(problems, rollouts, strict=True) for _ in gens]))
    correct = total = 0
    for problem, prompt, gens, chosen in zip(problems, prompts, rollouts, chosen_texts, strict=True):
        wrong = []
        for g in gens:
            total += 1
            if next(verdicts):
                correct += 1
            else:
                wrong.append(g)
        if chosen is None:
            skipped[SKIP_NO_CHOSEN] += 1
        elif not wrong:
            skipped[SKIP_NO_REJECTED] += 1
        else:
            finished = [g for g in wrong if not g.truncated]
            candidates.append((problem, tokenizer(prompt, add_special_tokens=False)["input_ids"], chosen, finished or wrong))

    # Score chosen and every rejected candidate under P(q) in one pass.
    rows, owners = [], []
    for k, (_, p_ids, chosen, wrong) in enumerate(candidates):
        rows.append((p_ids, completion_ids_for(tokenizer, chosen)))
        owners.append((k, None))
        for j, g in enumerate(wrong):
            rows.append((p_ids, g.completion_ids))
            owners.append((k, j))
    scores = score_completions(model, [r[0] for r in rows], [r[1] for r in rows], tokenizer.pad_token_id) if rows else []
    chosen_lp: dict[int, float] = {}
    best: dict[int, tuple[float, int]] = {}
    for (k, j), s in zip(owners, scores, strict=True):
        if j is None:
            chosen_lp[k] = s.mean_logprob
        elif k not in best or s.mean_logprob > best[k][0]:
            best[k] = (s.mean_logprob, j)

    system = [{"role": "system", "content": cfg.prompt.system}] if cfg.prompt.system else []
    pairs = []
    for k, (problem, _, chosen, wrong) in enumerate(candidates):
        lp, j = best[k]
        pairs.append(Pair(
            problem.id, round_index, problem.question, problem.answer, problem.level,
            system + [{"role": "user", "content": user_text(problem.question, fmt, cfg.prompt)}],
            chosen, wrong[j].text, positive, chosen_lp[k], lp,
        ))
    return PairSet(pairs, skipped, total, correct)


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
        **common_training_kwargs(cfg, output_dir, model_dtype),
        num_train_epochs=a.dpo_epochs,
        beta=a.dpo_beta,
        loss_type=losses,
        loss_weights=weights,
        max_length=max_length or t.max_prompt_length + max(t.max_completion_length, cfg.explain.max_new_tokens),
    )
    # Unsloth's DPOConfig has defaults of its own (padding_free None, dataset_num_proc 2, ...): TRL's, stated.
    return DPOConfig(**kwargs, **trl_defaults_for(DPOConfig, set(kwargs)))


def pair_lengths(tokenizer: Any, pairs: list[Pair]) -> list[int]:
    """Each pair's longer side in tokens, P(q) + response, tokenized as TRL's DPOTrainer tokenizes it (the chat
    template over prompt + response, trl.data_utils._tokenize)."""
    def length(messages: list[dict[str, str]]) -> int:
        return len(tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True)["input_ids"])

    return [max(length(p.prompt + [{"role": "assistant", "content": p.chosen}]),
                length(p.prompt + [{"role": "assistant", "content": p.rejected}])) for p in pairs]


def fitting_pairs(tokenizer: Any, pairs: list[Pair], max_seq_length: int) -> tuple[list[Pair], int, int]:
    """(the pairs that fit `max_seq_length`, how many did not, the longest that fits). TRL cuts the end of a pair
    longer than its max_length, and Unsloth's DPOTrainer lowers max_length to the model's max_seq_length: a cut
    chosen response loses its answer line and teaches the model to stop mid-solution. So a pair is trained
    whole or not at all, and the skips are counted."""
    lengths = pair_lengths(tokenizer, pairs)
    keep = [(p, n) for p, n in zip(pairs, lengths, strict=True) if n <= max_seq_length]
    return [p for p, _ in keep], len(pairs) - len(keep), max((n for _, n in keep), default=0)


def train_exp_dpo(cfg: ExpoConfig, run: Any, model: Any, tokenizer: Any, problems: list[Problem], fmt: str,
                  console: Any = None, callbacks: list | None = None, step_lines: bool = True) -> None:
    """Offline (one round over all questions) or online (`algo.rounds` rounds over slices), resumable.
    `console` gets round summaries and the pair-building progress; `step_lines=False` leaves the training
    steps to a live dashboard among `callbacks`."""
    from datasets import Dataset
    from transformers.trainer_callback import PrinterCallback
    from trl import DPOTrainer

    from .callbacks import MetricsLogger, StopOnNonFiniteLoss
    from .precision import model_dtype
    from .rundir import last_complete_checkpoint, save_interrupted

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
                                            *(callbacks or [])])
        if is_unsloth_class(DPOTrainer):
            note_precision_change(requested, trainer.args)
        trainer.remove_callback(PrinterCallback)
        try:
            with kept_padding_side(tokenizer):
                trainer.train(resume_from_checkpoint=last_complete_checkpoint(out))
        except KeyboardInterrupt:
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

    from .progress import PhaseProgress

    partial_path = run.path / f"pairs_round{r}.partial.jsonl"
    single = distributed.world_size() == 1
    earlier = _load_partial(partial_path) if single and partial_path.is_file() else []
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
            built = build_pairs(model, tokenizer, mine, fmt, cfg, r, on_chunk=save_chunk)
        except KeyboardInterrupt:
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


def _load_partial(path: Path) -> list[dict]:
    return list(read_jsonl(path))


def _finish_round(model: Any, run: Any, r: int, rounds: int, record: dict) -> None:
    """Round r's adapter, its metrics line, then (last, atomically) the state that marks it complete."""
    if distributed.is_main():
        model.save_pretrained(str(run.path / f"round{r}" / "adapter"))
        run.log_metrics({"event": "round_end", **record})
        atomic_write_json(_state_path(run.path), {"completed_rounds": r + 1, "rounds": rounds})
    distributed.barrier()


def merge_pair_sets(parts: list[PairSet]) -> PairSet:
    """Several PairSets (chunks, ranks) as one (a single part is returned as is)."""
    if len(parts) == 1:
        return parts[0]
    skipped: Counter = Counter()
    for p in parts:
        skipped.update(p.skipped)
    return PairSet([x for p in parts for x in p.pairs], skipped, sum(p.rollouts for p in parts),
                   sum(p.correct_rollouts for p in parts))


def _pairs_trained(run_dir: Path, before_round: int) -> bool:
    """Whether any earlier round of this run trained on at least one pair."""
    return any(_pairs_path(run_dir, r).is_file() and _load_pairs(_pairs_path(run_dir, r))
               for r in range(before_round))


def _drop_reference_adapter(model: Any) -> None:
    """TRL adds a frozen 'ref' copy of the adapter per DPOTrainer; the next round must start without it."""
    if "ref" in getattr(model, "peft_config", {}):
        model.set_adapter("default")
        model.delete_adapter("ref")
