"""The closest peer as an arm of the replication: TRL's self-distillation fine-tuning (SDFT), run through
TRL's own `trl.experimental.sdft.SDFTTrainer`, not re-implemented.

SDFT conditions the same model on privileged context (here: the gold answer, worded as in our hint
prompt P_x) and distils that teacher's token distribution into the student on the student's own on-policy
completions of P(q). ExPO instead samples an explanation from P_x(q, a*) and trains on it as a positive
sample. Same questions, same rollouts per question (`num_generations`), same completion length, learning
rate, LoRA and steps as the GRPO arms; the teacher is the initial model (`teacher_model_kind="base"`: with
LoRA that is the adapter switched off, which equals the initial student because a fresh LoRA adds zero).

Read against trl 1.16.0 (`trl/experimental/sdft/sdft_trainer.py`, `sdft_config.py`): dataset columns
`prompt` (conversational) and `privileged_context`; `per_device_train_batch_size` counts completions, as in
GRPO; the teacher prompt is `teacher_prompt_template.format(prompt=<last user text>, privileged_context=...)`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from expo_lite.config import ExpoConfig
from expo_lite.data.tasks import Problem

TEACHER_TEMPLATE = "{prompt}\n\n{privileged_context}"  # TRL's default, kept: the question, then the context


def privileged_context(answer: str) -> str:
    return f"The correct final answer is {answer}."


def train_sdft(cfg: ExpoConfig, problems: list[Problem], fmt: str, adapter_dir: Path, work_dir: Path) -> dict[str, Any]:
    """Train the SDFT arm for `cfg.train.max_steps` steps; the LoRA adapter goes to `adapter_dir` (loadable by
    `expo_lite.models.loader.load_adapter_weights`). Returns TRL's last logged metrics."""
    from trl.experimental.sdft import SDFTConfig, SDFTTrainer

    from expo_lite.models.loader import load_model
    from expo_lite.models.precision import model_dtype
    from expo_lite.recipes.train import build_prompt_dataset
    from expo_lite.recipes.trainer_args import common_training_kwargs

    model, tokenizer = load_model(cfg)
    data, _ = build_prompt_dataset(problems, fmt, cfg.prompt, cfg.train.max_prompt_length, tokenizer)
    data = data.add_column("privileged_context", [privileged_context(a) for a in data["answer"]])
    t = cfg.train
    shared = common_training_kwargs(cfg.train, work_dir, model_dtype(model),  # optimizer, schedule, precision as ours
                                    gradient_checkpointing=cfg.model.gradient_checkpointing)
    args = SDFTConfig(
        **{**shared, "save_strategy": "no", "gradient_checkpointing": False},
        max_steps=t.max_steps, num_generations=cfg.algo.num_generations,
        max_completion_length=t.max_completion_length, max_prompt_length=t.max_prompt_length,
        temperature=t.temperature, teacher_model_kind="base", teacher_prompt_template=TEACHER_TEMPLATE,
    )
    trainer = SDFTTrainer(model=model, args=args, train_dataset=data, processing_class=tokenizer)
    trainer.train()
    model.save_pretrained(str(adapter_dir))
    logs = [m for m in trainer.state.log_history if "loss" in m]
    return logs[-1] if logs else {}
