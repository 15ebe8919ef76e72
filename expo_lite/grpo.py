"""ExP-GRPO: TRL's GRPO loss plus an SFT term on positive samples the policy writes for itself.

    loss = L_GRPO + beta_t * L_SFT,   L_SFT = -mean over tokens of log pi_theta(c~ | P(q))

`L_GRPO` is TRL's, untouched: G rollouts from P(q), verifier rewards, group-normalised advantages,
clipping. After TRL has generated and scored a generation batch we look at its groups, pick the
questions to explain (all of them, or only the groups with no correct rollout), and build the positive
samples: self-explanations sampled from the *current* policy with the answer in the prompt
(`positive_source: self_explanation`), or the dataset's written solutions (`expert_cot`, the paper's
GRPO+SFT-GT-CoT baseline), or nothing (`none`: plain GRPO, bit-for-bit TRL's trainer). The positives
are not rollouts and get no advantage.

Accumulation: TRL splits each generation batch into `steps_per_generation` micro-batches. The
positives are split the same way, and each micro-batch adds
    beta_t * (its summed token NLL) / (token count of all positives in the generation batch)
           * steps_per_generation / gradient_accumulation_steps * world_size
so one optimizer step's gradient equals beta_t * grad L_SFT over its positives, however the batch is
cut into micro-batches (and DDP's gradient averaging over ranks is undone by the world size factor).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from .model import import_unsloth_if_active

import_unsloth_if_active()  # Unsloth must patch TRL before we subclass its trainer

from trl import GRPOConfig, GRPOTrainer  # noqa: E402

from . import distributed  # noqa: E402
from .config import ExplainConfig, PromptConfig  # noqa: E402
from .explain import Explanation, completion_ids_for, explain, normalised_target  # noqa: E402
from .prompts import standard_prompt  # noqa: E402
from .schedules import beta_at  # noqa: E402
from .sft import collate, nll_sum  # noqa: E402
from .tasks import Problem  # noqa: E402


@dataclass
class ExPGRPOConfig(GRPOConfig):
    """GRPOConfig plus the ExPO knobs. (`beta` stays TRL's KL coefficient; ours is `sft_beta`.)"""

    sft_beta: float = field(default=0.04, metadata={"help": "Weight of the SFT term (paper's best: 0.04)."})
    sft_beta_schedule: str = field(default="constant", metadata={"help": "constant | linear | cosine"})
    sft_beta_min: float = field(default=0.0, metadata={"help": "Final weight for linear/cosine decay."})
    positive_source: str = field(default="self_explanation", metadata={"help": "self_explanation | expert_cot | none"})
    explain_on: str = field(default="all", metadata={"help": "all | unsolved (groups with no correct rollout)"})
    answer_format: str = field(default="hash", metadata={"help": "hash (#### N) | boxed"})

    def __post_init__(self):
        super().__post_init__()
        choices = {
            "positive_source": ("self_explanation", "expert_cot", "none"),
            "explain_on": ("all", "unsolved"),
            "sft_beta_schedule": ("constant", "linear", "cosine"),
            "answer_format": ("hash", "boxed"),
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"ExPGRPOConfig.{name} must be one of {allowed}, got {getattr(self, name)!r}")
        if self.sft_beta < 0 or self.sft_beta_min < 0:
            raise ValueError("sft_beta and sft_beta_min must be >= 0")


class ExPGRPOTrainer(GRPOTrainer):
    """TRL's GRPOTrainer with ExPO's positive samples. Dataset rows need `prompt` and `answer`; the
    engine also reads `question`, `problem_id` and (for expert_cot) `solution`."""

    def __init__(self, *args: Any, explain_config: ExplainConfig | None = None,
                 prompt_config: PromptConfig | None = None,
                 on_explanations: Callable[[list[Explanation]], None] | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.explain_config = explain_config or ExplainConfig()
        self.prompt_config = prompt_config or PromptConfig()
        self.on_explanations = on_explanations
        self._sft_chunks: list[list[tuple[list[int], list[int]]]] = []
        self._sft_tokens_global = 0
        self._last_group_solved: list[bool] = []
        self.explained_questions = 0  # total questions sent to the explanation engine (for tests and logs)

    @property
    def expo_active(self) -> bool:
        return self.args.positive_source != "none" and (
            self.args.sft_beta > 0 or self.args.sft_beta_min > 0
        )

    def current_sft_beta(self) -> float:
        a = self.args
        return beta_at(self.state.global_step, self.state.max_steps, a.sft_beta, a.sft_beta_schedule, a.sft_beta_min)

    # ------------------------------------------------------------------ generation: find unsolved groups

    def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
        rewards_per_func = super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)
        if self.expo_active:
            # Rewards of the whole generation batch (all ranks). A group is solved when any rollout earns a
            # positive total reward; with the binary verifier reward, when any rollout is correct.
            weights = self.reward_weights.to(rewards_per_func.device)
            totals = (rewards_per_func * weights.unsqueeze(0)).nansum(dim=1)
            groups = totals.view(-1, self.num_generations)
            self._last_group_solved = (groups > 0).any(dim=1).tolist()
        return rewards_per_func

    def _generate_and_score_completions(self, inputs):
        self._last_group_solved = []  # filled by _calculate_rewards for this batch
        output = super()._generate_and_score_completions(inputs)
        if self.expo_active and self.model.training:
            self._build_positives(inputs)
        return output

    def _local_groups(self, inputs: list[dict[str, Any]]) -> list[tuple[int, dict[str, Any]]]:
        """(global group index, first row) of each group whose first row is on this rank, so that under
        DDP every question is explained exactly once."""
        offset = self.accelerator.process_index * len(inputs)
        groups = []
        for i, row in enumerate(inputs):
            global_row = offset + i
            if global_row % self.num_generations == 0:
                groups.append((global_row // self.num_generations, row))
        return groups

    def _build_positives(self, inputs: list[dict[str, Any]]) -> None:
        args, tok = self.args, self.processing_class
        groups = self._local_groups(inputs)
        solved = self._last_group_solved
        if groups and len(solved) <= groups[-1][0]:
            raise RuntimeError(
                "ExPGRPOTrainer did not see this batch's rewards: the parent trainer no longer calls "
                "_calculate_rewards(). This TRL/Unsloth version is not supported; see pyproject.toml for tested ones."
            )
        unsolved = sum(not s for s in solved)
        chosen = [row for g, row in groups if args.explain_on == "all" or not solved[g]]
        problems = [
            Problem(str(row.get("problem_id", i)), row["question"], str(row["answer"]), row.get("solution") or None,
                    row.get("level"))
            for i, row in enumerate(chosen)
        ]
        examples: list[tuple[list[int], list[int]]] = []
        records: list[Explanation] = []
        if args.positive_source == "self_explanation" and problems:
            self.explained_questions += len(problems)
            model = self.accelerator.unwrap_model(self.model)
            records = explain(model, tok, problems, args.answer_format, self.explain_config, self.prompt_config)
            examples = [(r.prompt_ids, r.completion_ids) for r in records if r.valid]
        elif args.positive_source == "expert_cot":
            for p in problems:
                if p.solution:
                    prompt = tok(standard_prompt(tok, p.question, args.answer_format, self.prompt_config),
                                 add_special_tokens=False)["input_ids"]
                    target = normalised_target(p.solution, p.answer, args.answer_format)
                    examples.append((prompt, completion_ids_for(tok, target)))

        spg = args.steps_per_generation
        self._sft_chunks = [examples[k::spg] for k in range(spg)]
        local_tokens = sum(len(c) for _, c in examples)
        self._sft_tokens_global = int(self._gather_sum(local_tokens))
        if args.positive_source == "self_explanation":
            everyone = self._gather_records(records)
            if everyone and self.on_explanations is not None and self.accelerator.is_main_process:
                self.on_explanations(everyone)  # one writer for explanations.jsonl, every rank's records

        metrics = self._metrics["train"]
        metrics["expo/all_wrong_frac"].append(unsolved / max(len(solved), 1))
        metrics["expo/positives"].append(float(self._gather_sum(len(examples))))
        metrics["expo/positive_tokens"].append(self._sft_tokens_global / max(self._gather_sum(len(examples)), 1))
        metrics["expo/beta"].append(self.current_sft_beta())
        if args.positive_source == "self_explanation":
            tried = self._gather_sum(len(records))
            metrics["expo/explained"].append(float(tried))
            if tried:
                metrics["expo/explain_valid_rate"].append(self._gather_sum(sum(r.valid for r in records)) / tried)

    def _gather_records(self, records: list[Explanation]) -> list[Explanation]:
        for r in records:
            r.rank = self.accelerator.process_index
        return distributed.gather(records)

    def _gather_sum(self, value: float) -> float:
        if self.accelerator.num_processes == 1:
            return float(value)
        t = torch.tensor([float(value)], device=self.accelerator.device)
        return float(self.accelerator.reduce(t, reduction="sum").item())

    # ------------------------------------------------------------------ loss

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        loss = super().compute_loss(model, inputs, return_outputs=return_outputs, num_items_in_batch=num_items_in_batch)
        if not (self.expo_active and model.training and self._sft_chunks):
            return loss
        spg = self.args.steps_per_generation
        chunk = self._sft_chunks[self._step % spg]
        beta = self.current_sft_beta()
        batch = collate(chunk, self.processing_class.pad_token_id, device=loss.device)
        if batch is None or self._sft_tokens_global == 0 or beta == 0:
            return loss
        scale = spg / self.current_gradient_accumulation_steps * self.accelerator.num_processes
        summed = nll_sum(model, batch)
        self._metrics["train"]["expo/sft_loss"].append(float(summed.detach()) / batch.num_tokens)  # this chunk's mean
        return loss + beta * summed / self._sft_tokens_global * scale
