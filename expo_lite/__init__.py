"""expo-lite: ExPO (Self-Explanation Policy Optimization) for small reasoning models on one GPU.

Heavy modules (torch, transformers, trl, unsloth) are imported lazily so `import expo_lite` and the
CLI's `--help` stay fast, and so importing us never imports unsloth behind the user's back.
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
    "load_model": "model",
    "ModelLoadError": "model",
    "generate": "sampling",
    "load_task": "tasks",
    "explain": "explain",
    "ExPGRPOConfig": "grpo",
    "ExPGRPOTrainer": "grpo",
    "train_exp_dpo": "dpo",
    "run_training": "train",
    "evaluate": "evaluate",
    "run_eval": "evaluate",
    "pass_at_k": "evaluate",
    "write_report": "report",
    "plan_memory": "planner",
    "merge_adapter": "export",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        import importlib

        module = importlib.import_module(f".{_EXPORTS[name]}", __name__)
        return getattr(module, name)
    raise AttributeError(f"module 'expo_lite' has no attribute {name!r}")
