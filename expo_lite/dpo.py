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
from .answers import is_correct
from .config import ExpoConfig
from .explain import completion_ids_for, explain, normalised_target
from .io import atomic_write_json, atomic_write_text, read_jsonl
from .logprobs import score_completions
from .model import load_adapter_weights
from .prompts import standard_prompt, user_text
from .sampling import Generation, generate
from .tasks import Problem

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


def build_pairs(model: Any, tokenizer: Any, problems: list[Problem], fmt: str, cfg: ExpoConfig, round_index: int = 0) -> PairSet:
    """Sample, check and pair; see the module docstring for the rules."""
    if not problems:  # a rank whose share of a small round is empty
        return PairSet([], Counter(), 0, 0)
    prompts = [standard_prompt(tokenizer, p.question, fmt, cfg.prompt) for p in problems]
    rollouts = generate(model, tokenizer, prompts, max_new_tokens=cfg.train.max_completion_length,
                        temperature=cfg.train.temperature, num_return_sequences=cfg.algo.num_generations)
    positive = cfg.algo.positive_source
    if positive == "self_explanation":
        chosen_texts = [r.text if r.valid else None for r in explain(model, tokenizer, problems, fmt, cfg.explain, cfg.prompt)]
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
    correct = total = 0
    for problem, prompt, gens, chosen in zip(problems, prompts, rollouts, chosen_texts, strict=True):
        wrong = []
        for g in gens:
            total += 1
            if is_correct(g.text, problem.answer):
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


def dpo_args(cfg: ExpoConfig, output_dir: Path, model_dtype: Any = None):
    from trl import DPOConfig

    from .trainer_args import common_training_kwargs

    t, a = cfg.train, cfg.algo
    losses, weights = (["sigmoid", "sft"], [1.0, a.dpo_sft_weight]) if a.dpo_sft_weight > 0 else (["sigmoid"], None)
    return DPOConfig(
        **common_training_kwargs(cfg, output_dir, model_dtype),
        num_train_epochs=a.dpo_epochs,
        beta=a.dpo_beta,
        loss_type=losses,
        loss_weights=weights,
        max_length=t.max_prompt_length + max(t.max_completion_length, cfg.explain.max_new_tokens),
    )


def train_exp_dpo(cfg: ExpoConfig, run: Any, model: Any, tokenizer: Any, problems: list[Problem], fmt: str,
                  console: Any = None, callbacks: list | None = None) -> None:
    """Offline (one round over all questions) or online (`algo.rounds` rounds over slices), resumable."""
    from datasets import Dataset
    from transformers import set_seed
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
            set_seed(cfg.train.seed + r)  # a round's pairs depend only on its starting policy and the seed
            mine = distributed.shard([problems[i] for i in slices[r]])  # under DDP each rank samples its share
            stats = merge_pair_sets(distributed.gather([build_pairs(model, tokenizer, mine, fmt, cfg, r)]))
            pairs = stats.pairs
            if distributed.is_main():
                _save_pairs(pairs_file, pairs)
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
        data = Dataset.from_list([{"prompt": p.prompt, "chosen": [{"role": "assistant", "content": p.chosen}],
                                   "rejected": [{"role": "assistant", "content": p.rejected}]} for p in pairs])
        out = run.checkpoints_path / f"round{r}"
        nan_guard = StopOnNonFiniteLoss()
        trainer = DPOTrainer(model=model, args=dpo_args(cfg, out, model_dtype(model)), train_dataset=data, processing_class=tokenizer,
                             callbacks=[MetricsLogger(run, console), nan_guard, *(callbacks or [])])
        trainer.remove_callback(PrinterCallback)
        try:
            trainer.train(resume_from_checkpoint=last_complete_checkpoint(out))
        except KeyboardInterrupt:
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


def _finish_round(model: Any, run: Any, r: int, rounds: int, record: dict) -> None:
    """Round r's adapter, its metrics line, then (last, atomically) the state that marks it complete."""
    if distributed.is_main():
        model.save_pretrained(str(run.path / f"round{r}" / "adapter"))
        run.log_metrics({"event": "round_end", **record})
        atomic_write_json(_state_path(run.path), {"completed_rounds": r + 1, "rounds": rounds})
    distributed.barrier()


def merge_pair_sets(parts: list[PairSet]) -> PairSet:
    """The ranks' PairSets of one round as one (a single part is returned as is)."""
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
