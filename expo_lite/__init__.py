"""expo-lite: ExPO (Self-Explanation Policy Optimization) for small reasoning models on one GPU.

The package is layered; each layer imports only from the ones below it (checked by import-linter, see
pyproject.toml):

    cli, testing                  the command line; tiny models and the trainer contract for tests
    tools/                        doctor, data, explain, report, merge, recipes
    recipes/                      expo-lite train (ExP-GRPO, baselines, ExP-DPO rounds), expo-lite eval
    run/                          run directory, callbacks, dashboard, memory planner
    algorithms/                   self-explanations, the SFT term, ExP-GRPO, DPO pairs
    core/                         batched sampling, log-probs, processes
    models/                       loading (Unsloth | transformers + peft), the embedded model, precision
    data/                         tasks and the prompts P(q), P_x(q, a*)
    verify/                       final-answer extraction and math-verify
    config, interrupts, io, progress, quiet, stats    the foundation every layer may use

Everything a notebook needs is importable from here (`from expo_lite import load_model, ExPGRPOTrainer`).
Heavy modules (torch, transformers, trl, unsloth) are imported lazily, on first use of a name, so
`import expo_lite` and the CLI's `--help` stay fast, importing us never imports unsloth behind the user's
back, and `ExPGRPOTrainer` is looked up after `load_model` has let Unsloth patch TRL.
"""

from __future__ import annotations

from typing import Any

from .quiet import silence_known_noise

silence_known_noise()  # before torch, transformers or bitsandbytes are imported (see quiet.py)

__version__ = "0.1.0"

_EXPORTS = {
    "ExpoConfig": "config",
    "load_config": "config",
    "ConfigError": "config",
    "load_model": "models.loader",
    "ModelLoadError": "models.loader",
    "generate": "core.sampling",
    "load_task": "data.tasks",
    "explain": "algorithms.explain",
    "ExPGRPOConfig": "algorithms.grpo",
    "ExPGRPOTrainer": "algorithms.grpo",
    "train_exp_dpo": "recipes.dpo",
    "run_training": "recipes.train",
    "evaluate": "recipes.evaluate",
    "run_eval": "recipes.evaluate",
    "pass_at_k": "recipes.evaluate",
    "write_report": "tools.report",
    "plan_memory": "run.planner",
    "merge_adapter": "tools.export",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        import importlib

        module = importlib.import_module(f".{_EXPORTS[name]}", __name__)
        return getattr(module, name)
    raise AttributeError(f"module 'expo_lite' has no attribute {name!r}")
