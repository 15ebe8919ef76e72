"""What many tests share: loading the suite's tiny random models, the trainer arguments of a CPU test, local files
in the hub datasets' schemas, a DPO config. A plain module (`from helpers import ...`): tests/ is on sys.path
(conftest.py), and fixtures stay in conftest.py."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from expo_lite.config import ExpoConfig
from expo_lite.models.loader import load_model

REPO = Path(__file__).resolve().parents[1]

# The trainer arguments every CPU test passes: no mixed precision (TRL's configs default to bf16, which a CPU
# emulates slowly), nothing reported or checkpointed.
CPU_ARGS = dict(use_cpu=True, bf16=False, fp16=False, report_to="none", save_strategy="no")


def load_tiny(model_dir: str | Path, lora: dict[str, Any] | None = None, **model: Any):
    """(peft model, tokenizer) of a tiny random model, through load_model with backend hf. `model` adds keys of
    the model section (load_in_4bit is `auto` = 4-bit unless given); `lora`, keys of the lora section."""
    sections: dict[str, Any] = {"model": {"name": str(model_dir), "backend": "hf", **model}}
    if lora:
        sections["lora"] = lora
    return load_model(ExpoConfig.model_validate(sections))


def lora_state(model: Any) -> dict[str, Any]:
    """A copy of every LoRA weight, by name."""
    return {n: p.detach().clone() for n, p in model.named_parameters() if "lora_" in n}


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


# MATH rows as the hub ships them (problem, solution with \boxed{}, "Level N", type), with the shapes real rows
# have: several boxes for one "enter all" answer, `1,\!000` thousands, `Level ?`, rows a loader must skip.
MATH_ROWS = [
    {"problem": "What is $\\frac{1}{2}+\\frac{1}{4}$?", "solution": "We get $\\boxed{\\frac{3}{4}}$.",
     "level": "Level 2", "type": "Prealgebra"},
    {"problem": "Solve $x^2=4$, $x<0$.", "solution": "So $x=\\boxed{-2}$.", "level": "Level 5", "type": "Algebra"},
    {"problem": "Interval?", "solution": "The set is $\\boxed{(2, 5]}$.", "level": "Level 4", "type": "Algebra"},
    {"problem": "No box", "solution": "The answer is 3.", "level": "Level 1", "type": "Algebra"},
    {"problem": "Garbage", "solution": "$\\boxed{?!}$", "level": "Level 3", "type": "Algebra"},
    {"problem": "Enter all solutions of $x^2+x-2=0$, separated by commas.",
     "solution": "$(x+2)(x-1)=0$, so $x = \\boxed{1}$ and $x = \\boxed{-2}$.", "level": "Level 3", "type": "Algebra"},
    {"problem": "Expand $x(x+1)^2$.", "solution": "$x(x^2+2x+1) = \\boxed{x^3 + 2x^2 + x}$.", "level": "Level ?",
     "type": "Algebra"},
    {"problem": "How many?", "solution": "There are $\\boxed{1,\\!000,\\!000}$ ways.", "level": "Level 4",
     "type": "Counting & Probability"},
]


def dpo_config(model_dir: str | Path, tmp_path: Path, **algo: Any) -> ExpoConfig:
    """A small offline expert-CoT ExP-DPO config on a tiny model (levels 1-2, 3 problems each)."""
    return ExpoConfig.model_validate({
        "model": {"name": str(model_dir), "backend": "hf"},
        "task": {"levels": [1, 2], "num_problems": 3},
        "algo": {"name": "exp_dpo", "positive_source": "expert_cot", "num_generations": 2, **algo},
        "train": {"output_dir": str(tmp_path), "max_completion_length": 8, "per_device_train_batch_size": 2,
                  "learning_rate": 5e-3, "save_steps": 1},
    })
