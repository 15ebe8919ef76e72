"""The TrainingArguments both recipes share, from the config's `train` and `model` sections.

One mapping so ExP-GRPO and ExP-DPO cannot drift apart on precision, optimizer or checkpointing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..config import TrainConfig


def common_training_kwargs(t: TrainConfig, output_dir: Path, model_dtype: Any = None, *, gradient_checkpointing: bool,
                           report_to: list[str] | None = None) -> dict[str, Any]:
    """From the `train` section, model.gradient_checkpointing and log.report_to. `model_dtype`: the dtype the loaded
    model computes in; the bf16/fp16 flags follow it (precision.py)."""
    import torch

    from ..models.precision import mixed_precision

    on_gpu = torch.cuda.is_available()
    return dict(
        output_dir=str(output_dir),
        run_name=t.run_name,
        learning_rate=t.learning_rate,
        per_device_train_batch_size=t.per_device_train_batch_size,
        gradient_accumulation_steps=t.gradient_accumulation_steps,
        warmup_steps=t.warmup_ratio,  # transformers 5: a float in [0, 1) is a ratio of the total steps
        lr_scheduler_type=t.lr_scheduler_type,
        optim=t.optim,
        weight_decay=t.weight_decay,
        adam_beta1=t.adam_beta1,
        adam_beta2=t.adam_beta2,
        max_grad_norm=t.max_grad_norm,
        logging_steps=t.logging_steps,
        save_steps=t.save_steps,
        save_total_limit=2,
        seed=t.seed,
        **mixed_precision(model_dtype or torch.float32, on_gpu),
        use_cpu=not on_gpu,
        # A NaN/inf step loss must reach StopOnNonFiniteLoss; the default filter logs the running mean instead.
        logging_nan_inf_filter=False,
        gradient_checkpointing=gradient_checkpointing,
        gradient_checkpointing_kwargs={"use_reentrant": False},
        # Every LoRA parameter is used in every forward, so DDP's search for unused ones is pure overhead.
        # (Measured: the 2-process SFT test passes with it on as well; this is for speed, not correctness.)
        ddp_find_unused_parameters=False,
        report_to=report_to or "none",
        disable_tqdm=True,
    )
