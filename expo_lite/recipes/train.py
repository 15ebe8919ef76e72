"""`expo-lite train`: the ExP-GRPO recipe (and its GRPO / GRPO+SFT-GT-CoT baselines) end to end.

config -> run directory -> model (+LoRA) -> task -> dataset of P(q) prompts -> ExPGRPOTrainer -> adapter.
The three algorithms differ only in where the positive sample comes from:

    exp_grpo     self-explanations from the current policy  (positive_source: self_explanation)
    grpo         none: plain TRL GRPO                        (positive_source: none)
    grpo_sft_gt  the dataset's written solution              (positive_source: expert_cot)
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .. import interrupts
from ..config import ExpoConfig, LogConfig, PromptConfig, TrainConfig
from ..core import distributed
from ..run.rundir import RunDir, create_run_dir, last_complete_checkpoint, save_interrupted, with_run_name


def build_prompt_dataset(problems: list, fmt: str, prompts: PromptConfig, max_prompt_length: int, tokenizer: Any):
    """TRL dataset rows: conversational `prompt` = P(q), plus the columns the reward and the engine read.
    Prompts longer than `max_prompt_length` (train.max_prompt_length) tokens are dropped and counted."""
    from datasets import Dataset

    from ..data.prompts import standard_prompt, user_text

    rows, too_long = [], 0
    system = [{"role": "system", "content": prompts.system}] if prompts.system else []
    for p in problems:
        if len(tokenizer(standard_prompt(tokenizer, p.question, fmt, prompts, p.context))["input_ids"]) > max_prompt_length:
            too_long += 1
            continue
        rows.append({
            "prompt": system + [{"role": "user", "content": user_text(p.question, fmt, prompts, context=p.context)}],
            "answer": p.answer, "question": p.question, "problem_id": p.id,
            "solution": p.solution or "", "level": p.level if p.level is not None else -1,
            "context": json.dumps(p.context),  # what the answer format reads of the row (options, numbers, ...)
        })
    if not rows:
        raise ValueError(f"every prompt is longer than train.max_prompt_length={max_prompt_length} tokens")
    return Dataset.from_list(rows), too_long


def check_grpo_batch(t: TrainConfig, g: int, n_prompts: int) -> None:
    """What TRL needs of the batch, checked before anything is loaded or written. TRL samples whole
    groups of `num_generations` rollouts per generation batch and drops an incomplete last batch, so
    with fewer prompts than one generation batch holds it trains 0 steps and reports success."""
    from ..data.tasks import TaskError

    world = distributed.world_size()
    generation_batch = t.per_device_train_batch_size * world * t.gradient_accumulation_steps
    shape = (f"train.per_device_train_batch_size ({t.per_device_train_batch_size}) x {world} process(es) x "
             f"train.gradient_accumulation_steps ({t.gradient_accumulation_steps}) = {generation_batch} rollouts")
    if generation_batch % g:
        raise ValueError(f"{shape} is not a multiple of algo.num_generations ({g}); each generation batch holds "
                         f"whole groups, e.g. set train.per_device_train_batch_size to {g * max(1, t.per_device_train_batch_size // g)}")
    if n_prompts < generation_batch // g:
        raise TaskError(f"the task has {n_prompts} usable prompt(s) but one generation batch needs "
                        f"{generation_batch // g} ({shape} / {g} per prompt); add problems or lower the batch size")


def grpo_step_work(cfg: ExpoConfig) -> str:
    """What one GRPO step is about to do, for the line that says a step started (run/callbacks.StepProgress)."""
    t, a = cfg.train, cfg.algo
    prompts = t.per_device_train_batch_size * distributed.world_size() * t.gradient_accumulation_steps // a.num_generations
    work = f"sampling {a.num_generations} completions for each of {prompts} prompts (up to {t.max_completion_length} tokens)"
    if a.positive_source == "self_explanation":
        tries = cfg.explain.num_tries
        work += (f", then {tries} self-explanation tr{'y' if tries == 1 else 'ies'} for each "
                 + ("all-wrong question" if a.explain_on == "unsolved" else "question"))
    return work + ", then the update"


def grpo_args(cfg: ExpoConfig, run: RunDir, model_dtype: Any = None):
    from ..algorithms.grpo import ExPGRPOConfig
    from ..data.tasks import answer_format
    from .trainer_args import common_training_kwargs

    t, a = cfg.train, cfg.algo
    return ExPGRPOConfig(
        **common_training_kwargs(t, run.checkpoints_path, model_dtype, gradient_checkpointing=cfg.model.gradient_checkpointing,
                                 report_to=cfg.log.report_to),
        max_steps=t.max_steps,
        num_generations=a.num_generations,
        max_completion_length=t.max_completion_length,
        temperature=t.temperature,
        loss_type=a.loss_type,
        beta=a.kl_beta,
        epsilon=a.epsilon,
        epsilon_high=a.epsilon_high if a.epsilon_high is not None else a.epsilon,
        scale_rewards=a.scale_rewards,
        mask_truncated_completions=a.mask_truncated_completions,
        sft_beta=a.sft_beta,
        sft_beta_schedule=a.sft_beta_schedule,
        sft_beta_min=a.sft_beta_min,
        positive_source=a.positive_source or "none",
        explain_on=a.explain_on,
        answer_format=answer_format(cfg.task),
    )


def run_training(cfg: ExpoConfig, resume: bool = False, console: Any = None) -> RunDir:
    """Run directory, model and task, then the configured algorithm. Returns the run directory."""
    from contextlib import ExitStack
    from pathlib import Path

    from rich.console import Console

    from ..data.tasks import load_task
    from ..models.loader import choose_backend, load_model, reset_unsloth_flags
    from ..progress import make_console
    from ..run.rundir import RunLock, check_writable, is_write_failure, write_failure

    console = console or make_console()
    reset_unsloth_flags()  # a flag left over from a failed run in the same notebook kernel
    # Every input is checked before anything is written: bad data, a missing run to resume or a model
    # that cannot load must leave the output folder exactly as it was.
    task = load_task(cfg.task)
    if cfg.algo.name != "exp_dpo":
        check_grpo_batch(cfg.train, cfg.algo.num_generations, len(task.problems))
    resumed = create_run_dir(cfg, resume=True) if resume else None  # only checks that the run exists
    choose_backend(cfg.model.backend, processes=distributed.world_size())  # unsloth under torchrun: refused before
    # the processes meet (a refusal inside the model load would come after accelerate's rendezvous)
    main = distributed.is_main()
    if main:
        check_writable(Path(cfg.train.output_dir))
    if not main:
        console = Console(quiet=True)  # under torchrun one process speaks
    with ExitStack() as owned:
        if resumed is not None and main:  # before the slow model load: a second owner is refused at once
            owned.enter_context(RunLock(resumed.path))
        start = time.perf_counter()
        with distributed.main_first(), answer_oom(cfg, "while loading the model"):
            model, tokenizer = load_model(cfg)  # imports unsloth (if used) before TRL; rank 0 fills the cache first
        run = resumed or RunDir(distributed.shared_path(lambda: create_run_dir(cfg).path))
        if resumed is None and main:
            owned.enter_context(RunLock(run.path))
        cfg = with_run_name(cfg, run.path.name)  # rank 0 may have picked a free suffix (demo-2)
        console.print(
            f"[bold]expo-lite[/bold] {cfg.algo.name} (positive source: {cfg.algo.positive_source}) | {run.path}\n"
            f"model {cfg.model.name} on {model.expo_backend} (4-bit {cfg.model.use_4bit()}, LoRA r={cfg.lora.r}), "
            f"loaded in {time.perf_counter() - start:.1f}s | {task.summary()}"
        )
        dashboard = _dashboard(cfg, model, console)
        try:
            with answer_oom(cfg, "while training"):
                if cfg.algo.name == "exp_dpo":
                    _run_dpo(cfg, run, model, tokenizer, task, console, dashboard)
                else:
                    _run_grpo(cfg, run, model, tokenizer, task, console, dashboard, resume)
        except (OSError, RuntimeError) as exc:
            if not is_write_failure(exc):
                raise
            if dashboard is not None:
                dashboard.stop()
            raise write_failure(exc, run.checkpoints_path) from exc
    return run


@contextmanager
def answer_oom(cfg: ExpoConfig, during: str) -> Iterator[None]:
    """A CUDA OOM becomes GPUOutOfMemoryError with the planner's advice (checkpoints on disk are untouched)."""
    import torch

    from ..models.loader import reset_unsloth_flags
    from ..run.errors import GPUOutOfMemoryError
    from ..run.planner import gpu_total_gib, oom_message

    try:
        yield
    except torch.cuda.OutOfMemoryError as exc:
        reset_unsloth_flags()  # the OOM may have left Unsloth's loss half way; a retry must see logits
        raise GPUOutOfMemoryError(oom_message(cfg, gpu_total_gib(), during)) from exc


def _run_dpo(cfg, run, model, tokenizer, task, console, dashboard) -> None:
    from ..data.tasks import answer_format
    from .dpo import train_exp_dpo

    train_exp_dpo(cfg, run, model, tokenizer, task.problems, answer_format(cfg.task), console,
                  callbacks=[dashboard] if dashboard else None, step_lines=dashboard is None)
    console.print(f"done ({cfg.algo.mode}).\n  adapter  {run.adapter_path}\n  pairs    {run.path}/pairs_round*.jsonl\n"
                  f"  metrics  {run.metrics_path}\n  config   {run.config_path}")


def _run_grpo(cfg, run, model, tokenizer, task, console, dashboard, resume: bool) -> None:
    from transformers.trainer_callback import PrinterCallback

    from ..algorithms.grpo import ExPGRPOTrainer
    from ..data.tasks import answer_format
    from ..io import append_jsonl
    from ..models.precision import model_dtype
    from ..run.callbacks import HonourInterrupts, MetricsLogger, StepProgress, StopOnNonFiniteLoss
    from ..verify.formats.reward import correctness_reward_for

    dataset, too_long = build_prompt_dataset(task.problems, answer_format(cfg.task), cfg.prompt, cfg.train.max_prompt_length,
                                             tokenizer)
    if too_long:
        console.print(f"{too_long} prompts over train.max_prompt_length={cfg.train.max_prompt_length} tokens dropped")
        check_grpo_batch(cfg.train, cfg.algo.num_generations, len(dataset))
    nan_guard = StopOnNonFiniteLoss()

    def log_explanations(records):
        for r in records:
            append_jsonl(run.explanations_path, {"step": trainer.state.global_step, **r.to_json()})
        if dashboard is not None:
            dashboard.show_explanations(records)

    trainer = ExPGRPOTrainer(
        model=model,
        reward_funcs=[correctness_reward_for(answer_format(cfg.task))],
        args=grpo_args(cfg, run, model_dtype(model)),
        train_dataset=dataset,
        processing_class=tokenizer,
        explain_config=cfg.explain,
        prompt_config=cfg.prompt,
        on_explanations=log_explanations,
        callbacks=[MetricsLogger(run, None if dashboard else console), nan_guard, HonourInterrupts(),
                   StepProgress(console, None if dashboard else grpo_step_work(cfg), cfg.train.max_completion_length)]
        + ([dashboard] if dashboard else []),
    )
    trainer.remove_callback(PrinterCallback)  # MetricsLogger prints the readable line instead of the raw dict
    try:
        trainer.train(resume_from_checkpoint=last_complete_checkpoint(run.checkpoints_path) if resume else None)
    except KeyboardInterrupt:
        interrupts.acknowledge()  # acted on now: the save below is not interrupted by the same press
        if dashboard is not None:
            dashboard.stop()
        save_interrupted(trainer, run.adapter_path, console)
        raise
    except RuntimeError as exc:
        if not nan_guard.is_sampling_failure(exc):
            raise
        nan_guard.bad_step, nan_guard.bad_value = trainer.state.global_step, "nan/inf (sampling from the model failed)"
    nan_guard.check(last_complete_checkpoint(run.checkpoints_path))
    trainer.save_model(str(run.adapter_path))
    console.print(
        f"done: {trainer.state.global_step} steps.\n  adapter      {run.adapter_path}\n  metrics      {run.metrics_path}\n"
        f"  explanations {run.explanations_path}\n  checkpoints  {run.checkpoints_path}\n  config       {run.config_path}"
    )


def use_dashboard(log: LogConfig, console: Any) -> bool:
    """The live view on a terminal or in Jupyter; plain lines under CI, when piped, or with --no-tui."""
    import os

    return log.tui and not os.environ.get("CI") and (console.is_terminal or console.is_jupyter)


def _dashboard(cfg: ExpoConfig, model: Any, console: Any):
    if not use_dashboard(cfg.log, console):
        return None
    import torch

    from ..run.dashboard import Dashboard

    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else f"CPU x{torch.get_num_threads()}"
    return Dashboard({"algo": cfg.algo.name, "model": cfg.model.name, "backend": model.expo_backend,
                      "device": device}, console=console)


