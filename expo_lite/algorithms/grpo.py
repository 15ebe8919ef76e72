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

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from typing import Any

import torch

# Whatever trl.GRPOTrainer / GRPOConfig are when this module is first imported: on a GPU with the unsloth
# backend, load_model() has imported unsloth by then and these are Unsloth's rebuilt classes (its kernels,
# its loss). Import this module after load_model(); ExPGRPOTrainer checks that the order was right.
from trl import GRPOConfig, GRPOTrainer

from ..config import ExplainConfig, PromptConfig
from ..core import distributed
from ..core.logprobs import unwrap
from ..core.sampling import Generation, Row, eos_ids, joint_compatible, joint_generate
from ..data.tasks import Problem
from ..verify.formats import answer_format
from .explain import REASONS, Explanation, explain, explanation_rows, group_tries, judge
from .positives import Positives, expert_targets, groups_to_explain, split_for_accumulation, valid_targets
from .schedules import beta_at
from .sft import collate, nll_sum
from .unsloth_trainers import (
    ensure_mode_methods,
    init_arguments,
    is_unsloth_class,
    keep_float32,
    kept_padding_side,
    note_precision_change,
    trl_class,
    trl_defaults_for,
)

# The ExPO knobs of ExPGRPOConfig and their defaults. (`beta` stays TRL's KL coefficient; ours is `sft_beta`.)
EXPO_FIELDS: dict[str, tuple[Any, str]] = {
    "sft_beta": (0.04, "Weight of the SFT term (paper's best: 0.04)."),
    "sft_beta_schedule": ("constant", "constant | linear | cosine"),
    "sft_beta_min": (0.0, "Final weight for linear/cosine decay."),
    "positive_source": ("self_explanation", "self_explanation | expert_cot | none"),
    "explain_on": ("all", "all | unsolved (groups with no correct rollout)"),
    "answer_format": ("hash", "the task's answer format spec: hash | boxed | choice | exact | countdown | program:m:f"),
}
CHOICES = {
    "positive_source": ("self_explanation", "expert_cot", "none"),
    "explain_on": ("all", "unsolved"),
    "sft_beta_schedule": ("constant", "linear", "cosine"),
}


def build_config_class(parent: type) -> type:
    """The ExPGRPOConfig class on top of `parent` (TRL's GRPOConfig, or Unsloth's generated one).

    Why an explicit `__init__`: a plain `@dataclass` subclass gets a generated `__init__` that assigns the
    fields and never calls the parent's `__init__`. Unsloth's `UnslothGRPOConfig` does real work in its own
    `__init__` (its defaults such as `router_aux_loss_coef=0.0`, which MoE models need, and its sanity
    checks), so ours sets the ExPO fields and forwards everything else to the parent's `__init__`. Built by
    a function so tests can put it on a stand-in parent."""

    @dataclass
    class ExPGRPOConfig(parent):
        """GRPOConfig plus the ExPO knobs (see EXPO_FIELDS)."""

        sft_beta: float = field(default=EXPO_FIELDS["sft_beta"][0], metadata={"help": EXPO_FIELDS["sft_beta"][1]})
        sft_beta_schedule: str = field(default=EXPO_FIELDS["sft_beta_schedule"][0],
                                       metadata={"help": EXPO_FIELDS["sft_beta_schedule"][1]})
        sft_beta_min: float = field(default=EXPO_FIELDS["sft_beta_min"][0], metadata={"help": EXPO_FIELDS["sft_beta_min"][1]})
        positive_source: str = field(default=EXPO_FIELDS["positive_source"][0],
                                     metadata={"help": EXPO_FIELDS["positive_source"][1]})
        explain_on: str = field(default=EXPO_FIELDS["explain_on"][0], metadata={"help": EXPO_FIELDS["explain_on"][1]})
        answer_format: str = field(default=EXPO_FIELDS["answer_format"][0],
                                   metadata={"help": EXPO_FIELDS["answer_format"][1]})

        def __init__(self, *args: Any, **kwargs: Any):
            for name, (default, _) in EXPO_FIELDS.items():  # set first: the parent's __post_init__ runs ours
                object.__setattr__(self, name, kwargs.pop(name, default))
            super().__init__(*args, **same_run_kwargs(parent, kwargs))

        def __post_init__(self):
            super().__post_init__()
            for name, allowed in CHOICES.items():
                if getattr(self, name) not in allowed:
                    raise ValueError(f"ExPGRPOConfig.{name} must be one of {allowed}, got {getattr(self, name)!r}")
            if self.sft_beta < 0 or self.sft_beta_min < 0:
                raise ValueError("sft_beta and sft_beta_min must be >= 0")
            answer_format(self.answer_format)  # a ValueError naming the formats when the spec is none of them

    ExPGRPOConfig.__qualname__ = ExPGRPOConfig.__name__  # the Trainer pickles its args: find it at module level
    ExPGRPOConfig.__module__ = __name__
    return ExPGRPOConfig


def same_run_kwargs(parent: type, kwargs: dict[str, Any]) -> dict[str, Any]:
    """The arguments to hand the parent config so that one `ExPGRPOConfig(...)` is the same run on TRL's
    GRPOConfig (CI) and on Unsloth's generated one (GPU users), and fits the hardware:
    - no bf16/fp16 given: what the hardware trains best, as `expo-lite train` chooses (bf16 on a GPU with native
      bf16, fp16 on older GPUs, neither on CPU). TRL's own default is bf16=True everywhere, which on a CPU
      emulates bf16 matmuls (a GRPO step ~9x slower here);
    - `epsilon_high` not given: equal to `epsilon` (TRL's meaning of None); Unsloth would read None next to an
      explicit loss_type 'dapo' as "use DAPO's 0.28";
    - whole prompt groups per generation batch, refused as TRL refuses them (Unsloth's config silently sets
      per_device_train_batch_size to num_generations instead);
    - on Unsloth's class, TRL's default for every argument whose Unsloth default differs (unsloth_trainers.py)."""
    from ..models.precision import gpu_has_native_bf16, mixed_precision

    kwargs = dict(kwargs)
    trl_defaults = {f.name: f.default for f in fields(trl_class(parent) or parent)}
    if "bf16" not in kwargs and "fp16" not in kwargs:
        on_gpu = torch.cuda.is_available() and not kwargs.get("use_cpu", False)
        kwargs.update(mixed_precision(torch.bfloat16 if gpu_has_native_bf16() else torch.float16, on_gpu))
    if kwargs.get("epsilon_high") is None:
        kwargs["epsilon_high"] = kwargs.get("epsilon", trl_defaults["epsilon"])
    kwargs.update(trl_defaults_for(parent, set(kwargs)))
    if kwargs.get("steps_per_generation") is None and kwargs.get("generation_batch_size") is None:
        per_device = kwargs.get("per_device_train_batch_size", trl_defaults["per_device_train_batch_size"])
        accumulation = kwargs.get("gradient_accumulation_steps", trl_defaults["gradient_accumulation_steps"])
        groups = kwargs.get("num_generations", trl_defaults["num_generations"])
        world = distributed.world_size()  # what Unsloth's config reads (WORLD_SIZE), before any process group
        if (per_device * accumulation * world) % groups:
            raise ValueError(
                f"per_device_train_batch_size ({per_device}) x gradient_accumulation_steps ({accumulation}) x "
                f"{world} process(es) = {per_device * accumulation * world} rollouts per generation batch is not a "
                f"multiple of num_generations ({groups}): each generation batch holds whole groups")
    return kwargs


ExPGRPOConfig = build_config_class(GRPOConfig)


def check_trainer_matches_model(trainer_class: type, model: Any, processes: int) -> None:
    """Unsloth's rebuilt GRPOTrainer needs one process; an Unsloth model on a GPU needs that trainer underneath
    ours. (On CPU, Unsloth's CPU backend patches no TRL trainer, so its models train on TRL's own.)"""
    unsloth_parent = is_unsloth_class(trainer_class)
    if unsloth_parent and processes > 1:
        raise RuntimeError(
            f"Unsloth's GRPO trainer with {processes} processes: its kernels are single-GPU and its gradient "
            f"all-reduce deadlocks with the SFT term under DDP. Use model.backend: hf for multi-GPU."
        )
    unsloth_model = getattr(model, "expo_backend", None) == "unsloth" or hasattr(unwrap(model), "for_inference")
    if torch.cuda.is_available() and unsloth_model and not unsloth_parent:
        raise RuntimeError(
            "ExPGRPOTrainer sits on TRL's plain GRPOTrainer but the model is an Unsloth model: "
            "expo_lite.algorithms.grpo was imported before unsloth. Restart the kernel and call load_model(...) before "
            "`from expo_lite.algorithms.grpo import ...` (Unsloth must patch TRL first)."
        )


def check_generation_batch(args: Any, dataset: Any) -> None:
    """TRL's sampler hands out whole generation batches of `generation_batch_size / num_generations` distinct
    prompts and drops an incomplete one: with fewer prompts than one batch takes, the trainer would train 0
    steps and report success. Refused here, with the numbers (expo-lite train checks the same before loading)."""
    try:
        prompts = len(dataset)
    except TypeError:  # an IterableDataset: its length is unknown up front
        return
    needed = args.generation_batch_size // args.num_generations
    if prompts < needed:
        world = args.generation_batch_size // (args.per_device_train_batch_size * args.steps_per_generation)
        raise ValueError(
            f"train_dataset has {prompts} prompt(s) but one generation batch takes {needed}: "
            f"per_device_train_batch_size ({args.per_device_train_batch_size}) x {world} process(es) x "
            f"steps_per_generation ({args.steps_per_generation}) = {args.generation_batch_size} rollouts / "
            f"num_generations ({args.num_generations}). The trainer would run 0 steps; add prompts or lower "
            f"per_device_train_batch_size / gradient_accumulation_steps."
        )


class ExPGRPOTrainer(GRPOTrainer):
    """TRL's GRPOTrainer with ExPO's positive samples. Dataset rows need `prompt` and `answer`; the
    engine also reads `question`, `problem_id` and (for expert_cot) `solution`."""

    def __init__(self, *args: Any, explain_config: ExplainConfig | None = None,
                 prompt_config: PromptConfig | None = None,
                 on_explanations: Callable[[list[Explanation]], None] | None = None, **kwargs: Any):
        given = init_arguments(type(self), args, kwargs)
        model, args_, tokenizer = given.get("model"), given.get("args"), given.get("processing_class")
        check_trainer_matches_model(type(self), model, distributed.world_size())
        if args_ is not None and given.get("train_dataset") is not None:
            check_generation_batch(args_, given["train_dataset"])
        if isinstance(model, torch.nn.Module):  # what Unsloth's trainer does to a model, made harmless
            ensure_mode_methods(model, type(self))
            if args_ is not None:
                keep_float32(model, args_, type(self))
        requested = (bool(args_.bf16), bool(args_.fp16)) if args_ is not None else None
        with kept_padding_side(tokenizer):
            super().__init__(*args, **kwargs)
        if requested is not None and is_unsloth_class(type(self)):
            note_precision_change(requested, self.args)
        self.explain_config = explain_config or ExplainConfig()
        self.prompt_config = prompt_config or PromptConfig()
        self.on_explanations = on_explanations
        self._positives = Positives()  # this generation batch's, read by sft_term
        self._last_group_solved: list[bool] = []
        self._previous_batch_unsolved = True  # explain_on unsolved: the first batch rides along
        self.explained_questions = 0  # total questions sent to the explanation engine (for tests and logs)

    def train(self, *args: Any, **kwargs: Any) -> Any:
        with kept_padding_side(self.processing_class):  # Unsloth's models set it to 'right' for training
            return super().train(*args, **kwargs)

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
        if self.expo_active or self.model.training:  # plain GRPO too: its all-wrong curve, read-only
            # Rewards of the whole generation batch (all ranks). A group is solved when any rollout earns a
            # positive total reward; with the binary verifier reward, when any rollout is correct.
            weights = self.reward_weights.to(rewards_per_func.device)
            totals = (rewards_per_func * weights.unsqueeze(0)).nansum(dim=1)
            groups = totals.view(-1, self.num_generations)
            self._last_group_solved = (groups > 0).any(dim=1).tolist()
        return rewards_per_func

    def _generate_and_score_completions(self, inputs):
        """TRL's generation and scoring of the batch (with our explanation tries riding in its decode when that
        is the plan), then this batch's positives: the one value the SFT term reads."""
        self._last_group_solved = []  # filled by _calculate_rewards for this batch
        self._ridden: list[tuple[list[int], bool]] | None = None
        if not (self.expo_active and self.model.training):
            output = super()._generate_and_score_completions(inputs)
            if self.model.training and self._last_group_solved:  # plain GRPO: the same count ExPO's arms log,
                self._log_all_wrong(self._last_group_solved)  # so their curves compare
            return output
        args, tok = self.args, self.processing_class
        groups = self._local_groups(inputs)
        problems = [self._problem(row) for _, row in groups]
        explaining = args.positive_source == "self_explanation"
        rows = explanation_rows(tok, problems, args.answer_format, self.explain_config, self.prompt_config) if explaining else []
        if explaining and self._explain_with_rollouts():
            with self._riding_along(rows) as ridden:
                output = super()._generate_and_score_completions(inputs)
            self._ridden = ridden
        else:
            output = super()._generate_and_score_completions(inputs)
        solved = self._solved(groups)
        keep = groups_to_explain(solved, [g for g, _ in groups], args.explain_on)
        kept = [p for p, k in zip(problems, keep, strict=True) if k]
        records = self._explanations(kept, keep, rows) if explaining and kept else []
        examples = valid_targets(records) if explaining else expert_targets(tok, kept, args.answer_format,
                                                                            self.prompt_config)
        self._positives = Positives(split_for_accumulation(examples, args.steps_per_generation),
                                    int(self._gather_sum(sum(len(c) for _, c in examples))))
        self._report(solved, records, examples)
        return output

    def _explain_with_rollouts(self) -> bool:
        """Whether this batch's explanation tries ride in TRL's rollout call (one decode for both; see
        `explain.sampling` in ExplainConfig and sampling.joint_generate), or get their own call."""
        mode = self.explain_config.sampling
        if self.args.positive_source != "self_explanation" or mode == "separate":
            return False
        if getattr(self, "use_vllm", False) or getattr(self.args, "use_transformers_paged", False) or getattr(
                self.args, "use_transformers_continuous_batching", False):
            return False  # TRL does not decode through model.generate then
        if not joint_compatible(self.generation_config, self.explain_config.top_p):
            return False
        if mode == "with_rollouts" or self.args.explain_on == "all":
            return True
        # explain_on unsolved: which groups are unsolved is known only after the rollouts are scored. Riding
        # along costs ~1/G more decode every step; a call of its own costs nothing when all groups are solved
        # and a whole decode (a full pass of latency-bound steps) when some are not. So: ride along while the
        # previous generation batch had an unsolved group. Measured on CPU (benchmarks/step_time.py, G=4, step time
        # vs GRPO, positives trained at every explained step): all groups solved 0.94x (riding along: 1.10x); none
        # solved 1.20x (a second call: 1.43x). Not measured on a GPU.
        return self._previous_batch_unsolved

    @contextmanager
    def _riding_along(self, rows: list[Row]) -> Iterator[list[tuple[list[int], bool]]]:
        """For the duration of TRL's generation, the model's `generate` also decodes the explanation tries'
        `rows` (the object TRL's unwrap_model_for_generation yields: the model inside any DDP wrapper)."""
        tok = self.processing_class
        target = self.accelerator.unwrap_model(self.model_wrapped)
        had_own = "generate" in vars(target)
        original = target.generate
        ridden: list[tuple[list[int], bool]] = []
        target.generate = joint_generate(original, rows, tok.pad_token_id, eos_ids(tok, target), ridden)
        try:
            yield ridden
        finally:
            if had_own:
                target.generate = original
            else:
                del target.generate
        if len(ridden) != len(rows):
            raise RuntimeError("TRL did not generate through model.generate; set explain.sampling: separate")

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

    @staticmethod
    def _problem(row: dict[str, Any]) -> Problem:
        level = row.get("level")  # the dataset writes -1 for no level (one integer column); records say None
        return Problem(str(row.get("problem_id", "")), row["question"], str(row["answer"]), row.get("solution") or None,
                       level if level is not None and level >= 0 else None, None,
                       json.loads(row["context"]) if row.get("context") else {})

    def _solved(self, groups: list[tuple[int, dict[str, Any]]]) -> list[bool]:
        """This batch's solved flag per group (all processes), as _calculate_rewards recorded them."""
        solved = self._last_group_solved
        if groups and len(solved) <= groups[-1][0]:
            raise RuntimeError(
                "ExPGRPOTrainer did not see this batch's rewards: the parent trainer no longer calls "
                "_calculate_rewards(). This TRL/Unsloth version is not supported; see pyproject.toml for tested ones."
            )
        self._previous_batch_unsolved = not all(solved)
        return solved

    def _explanations(self, kept: list[Problem], keep: list[bool], rows: list[Row]) -> list[Explanation]:
        """Judged self-explanations of the `kept` problems: from the tries that rode in TRL's decode (the other
        groups' tries are dropped), or sampled now in a call of their own."""
        args, tok = self.args, self.processing_class
        self.explained_questions += len(kept)
        model = self.accelerator.unwrap_model(self.model)
        with self.accelerator.autocast():  # Unsloth strips accelerate's autocast wrapper off the forward
            if self._ridden is None:
                return explain(model, tok, kept, args.answer_format, self.explain_config, self.prompt_config)
            samples = [Generation(list(r.prompt_ids), ids, tok.decode(ids, skip_special_tokens=True), cut)
                       for r, (ids, cut) in zip(rows, self._ridden, strict=True)]
            tries = [t for t, k in zip(group_tries(samples, self.explain_config.num_tries), keep, strict=True) if k]
            return judge(model, tok, kept, tries, args.answer_format, self.explain_config, self.prompt_config)

    def _report(self, solved: list[bool], records: list[Explanation], examples: list[Any]) -> None:
        """The batch's ExPO metrics, and every process's explanation records to the one writer."""
        explaining = self.args.positive_source == "self_explanation"
        if explaining:
            everyone = self._gather_records(records)
            if everyone and self.on_explanations is not None and self.accelerator.is_main_process:
                self.on_explanations(everyone)  # one writer for explanations.jsonl, every rank's records
        metrics = self._metrics["train"]
        positives = self._gather_sum(len(examples))
        self._log_all_wrong(solved)
        metrics["expo/positives"].append(float(positives))
        metrics["expo/positive_tokens"].append(self._positives.tokens / max(positives, 1))
        metrics["expo/sft_beta"].append(self.current_sft_beta())
        if explaining:
            tried, valid, *refused = self._gather_sums([len(records), sum(r.valid for r in records)] + [
                sum(t == reason for r in records for t in r.try_reasons) for reason in REASONS])
            metrics["expo/explained"].append(tried)
            if tried:
                metrics["expo/explain_valid_rate"].append(valid / tried)
            for reason, count in zip(REASONS, refused, strict=True):  # tries each check refused (explain.py)
                metrics[f"expo/refused/{reason}"].append(count)

    def _log_all_wrong(self, solved: list[bool]) -> None:
        """The fraction of this batch's groups with no correct rollout (every rank's groups)."""
        self._metrics["train"]["expo/all_wrong_frac"].append(sum(not s for s in solved) / max(len(solved), 1))

    def _gather_records(self, records: list[Explanation]) -> list[Explanation]:
        for r in records:
            r.rank = self.accelerator.process_index
        return distributed.gather(records)

    def _gather_sum(self, value: float) -> float:
        return self._gather_sums([value])[0]

    def _gather_sums(self, values: list[float]) -> list[float]:
        """Each value summed over every process (one collective for all of them)."""
        if self.accelerator.num_processes == 1:
            return [float(v) for v in values]
        t = torch.tensor([float(v) for v in values], device=self.accelerator.device)
        return [float(x) for x in self.accelerator.reduce(t, reduction="sum").tolist()]

    # ------------------------------------------------------------------ loss

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        loss = super().compute_loss(model, inputs, return_outputs=return_outputs, num_items_in_batch=num_items_in_batch)
        term = self.sft_term(model, loss.device)
        # Added, never multiplied: Unsloth's GRPO loss is an autograd Function whose backward ignores its
        # grad_output (the gradient is computed in forward), so scaling `loss` would not reach the GRPO part.
        return loss if term is None else loss + term

    def sft_term(self, model: Any, device: Any = None) -> torch.Tensor | None:
        """beta_t * (this micro-batch's summed token NLL of the positives) / (positive tokens of the whole
        generation batch) * (the accumulation / world-size factor in the module docstring), or None."""
        if not (self.expo_active and model.training):
            return None
        spg = self.args.steps_per_generation
        beta = self.current_sft_beta()
        batch = collate(self._positives.chunk(self._step), self.processing_class.pad_token_id, device=device)
        if batch is None or self._positives.tokens == 0 or beta == 0:
            return None
        scale = spg / self.current_gradient_accumulation_steps * self.accelerator.num_processes
        with self.accelerator.autocast():
            summed = nll_sum(model, batch)
        self._metrics["train"]["expo/sft_loss"].append(float(summed.detach()) / batch.num_tokens)  # this chunk's mean
        return beta * summed / self._positives.tokens * scale
