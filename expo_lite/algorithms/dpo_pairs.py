"""ExP-DPO's preference pairs: the preferred response is a self-explanation the policy wrote itself.

For each question:
  chosen   = a valid self-explanation of the gold answer (the engine in explain.py), or the dataset's
             written solution for the expert-CoT baseline (`positive_source: expert_cot`);
  rejected = one of the policy's own incorrect CoTs sampled from P(q). Rule: among the incorrect
             samples prefer the ones that finished (a real wrong answer over a cut-off one), and among
             those the most likely under P(q): the mistake the policy is most inclined to make.
Both are conditioned on P(q); the hinted prompt is only used to sample the explanation. Questions with
no valid chosen or no incorrect rejected are skipped and counted by reason. A pair is trained whole or
not at all (`fitting_pairs`). The rounds that train on them are recipes/dpo.py.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from .. import interrupts
from ..config import ExplainConfig, ExpoConfig, PromptConfig
from ..core.logprobs import score_completions
from ..core.sampling import Generation, Row, decode
from ..data.prompts import standard_prompt, user_text
from ..data.tasks import Problem
from ..verify.formats import answer_format
from .explain import completion_ids_for, explanation_rows, group_tries, judge, training_target

SKIP_NO_CHOSEN = "no valid chosen"
SKIP_NO_REJECTED = "no incorrect rollout"


@dataclass(frozen=True)
class PairSampling:
    """What building pairs reads of a config: the policy's own answers (G per question, at the rollout
    temperature and length, as GRPO samples them), where the chosen response comes from, and the explanation
    and prompt settings."""

    num_generations: int
    temperature: float
    max_new_tokens: int
    positive_source: str  # self_explanation | expert_cot
    explain: ExplainConfig
    prompts: PromptConfig

    @classmethod
    def from_config(cls, cfg: ExpoConfig) -> PairSampling:
        return cls(cfg.algo.num_generations, cfg.train.temperature, cfg.train.max_completion_length,
                   cfg.algo.positive_source or "self_explanation", cfg.explain, cfg.prompt)


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


def build_pairs(model: Any, tokenizer: Any, problems: list[Problem], fmt: str, how: PairSampling, round_index: int = 0,
                on_chunk: Any = None, chunk_size: int = 8) -> PairSet:
    """Sample, check and pair (see the module docstring), `chunk_size` questions at a time (algo.pair_chunk_questions:
    one decode holds their rollouts and tries); after each chunk `on_chunk(chunk_problems, chunk_pairset)` (progress,
    the partial-pairs file)."""
    parts = []
    for start in range(0, len(problems), chunk_size):
        chunk = problems[start : start + chunk_size]
        part = _build_chunk(model, tokenizer, chunk, fmt, how, round_index)
        parts.append(part)
        if on_chunk is not None:
            on_chunk(chunk, part)
        interrupts.honour()  # a Ctrl-C dropped inside this chunk is acted on here, the chunk kept
    return merge_pair_sets(parts) if parts else PairSet([], Counter(), 0, 0)


def _build_chunk(model: Any, tokenizer: Any, problems: list[Problem], fmt: str, how: PairSampling, round_index: int) -> PairSet:
    """The chunk's G rollouts per question and (for self-explanations) its explanation tries, in one decode."""
    prompts = [standard_prompt(tokenizer, p.question, fmt, how.prompts, p.context) for p in problems]
    g = how.num_generations
    rows = [Row(tuple(tokenizer(prompt, add_special_tokens=False)["input_ids"]), how.temperature, how.max_new_tokens)
            for prompt in prompts for _ in range(g)]
    explaining = how.positive_source == "self_explanation"
    tries_rows = explanation_rows(tokenizer, problems, fmt, how.explain, how.prompts) if explaining else []
    if how.explain.top_p == 1.0:  # rollouts sample without top-p: one call can hold both
        samples = decode(model, tokenizer, rows + tries_rows)
    else:
        samples = decode(model, tokenizer, rows) + decode(model, tokenizer, tries_rows, top_p=how.explain.top_p)
    rollouts = [samples[i * g : (i + 1) * g] for i in range(len(problems))]
    if explaining:
        tries = group_tries(samples[len(problems) * g :], how.explain.num_tries)
        records = judge(model, tokenizer, problems, tries, fmt, how.explain, how.prompts)
        chosen_texts = [r.text if r.valid else None for r in records]
    else:
        chosen_texts = [training_target(p.solution, p.answer, fmt, p.verify_context()) if p.solution else None for p in problems]
    return assemble_pairs(model, tokenizer, problems, prompts, rollouts, chosen_texts, fmt, how, round_index)


def assemble_pairs(model: Any, tokenizer: Any, problems: list[Problem], prompts: list[str],
                   rollouts: list[list[Generation]], chosen_texts: list[str | None], fmt: str, how: PairSampling,
                   round_index: int = 0) -> PairSet:
    """Verify the rollouts, pick each question's rejected CoT, score both sides under P(q)."""
    positive = how.positive_source
    skipped: Counter = Counter()
    candidates = []  # (problem, prompt ids, chosen, [(rejected text, finished)])
    rows = [p for p, gens in zip(problems, rollouts, strict=True) for _ in gens]
    verdicts = iter(answer_format(fmt).are_correct([g.text for gens in rollouts for g in gens], [p.answer for p in rows],
                                                   [p.verify_context() for p in rows], [p.id for p in rows]))
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

    system = [{"role": "system", "content": how.prompts.system}] if how.prompts.system else []
    pairs = []
    for k, (problem, _, chosen, wrong) in enumerate(candidates):
        lp, j = best[k]
        pairs.append(Pair(
            problem.id, round_index, problem.question, problem.answer, problem.level,
            system + [{"role": "user", "content": user_text(problem.question, fmt, how.prompts, context=problem.context)}],
            chosen, wrong[j].text, positive, chosen_lp[k], lp,
        ))
    return PairSet(pairs, skipped, total, correct)


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


def merge_pair_sets(parts: list[PairSet]) -> PairSet:
    """Several PairSets (chunks, ranks) as one (a single part is returned as is)."""
    if len(parts) == 1:
        return parts[0]
    skipped: Counter = Counter()
    for p in parts:
        skipped.update(p.skipped)
    return PairSet([x for p in parts for x in p.pairs], skipped, sum(p.rollouts for p in parts),
                   sum(p.correct_rollouts for p in parts))
