"""The GPU user's trainer stack, built on this CPU: the bootstrap of `make test-gpu-stack`.

`pip install -e ".[unsloth]"` gives GPU users unsloth 2026.10.9 over trl 1.15.0, and their `import unsloth`
rewrites TRL: at the end of its model imports `PatchFastRL()` (unsloth/models/rl.py) routes TRL's fused LM head
to unsloth_zoo's kernel, generates UnslothGRPOTrainer / UnslothDPOTrainer / ... from the installed TRL's source
and rebinds `trl.GRPOTrainer`, `trl.DPOTrainer`, ... to them; then `_patch_trl_trainer()` (unsloth/trainer.py)
wraps every TRL trainer's `__init__`, and `patch_sft_trainer()` the SFT trainer. On a machine without a GPU
driver Unsloth imports only with UNSLOTH_ALLOW_CPU=1, and then skips exactly those steps (its comments call it
"CPU-only CI"). Here they are run anyway, in the order its GPU import runs them, so that the trainer classes
under ours are the ones GPU users get. Nothing in them is replaced; what the CPU cannot run is in stand_ins.py.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

EXPECTED = {"trl": "1.15.0", "unsloth": "2026.10.9", "unsloth_zoo": "2026.10.9"}


def compile_location() -> Path:
    """Where Unsloth writes the generated trainers' source: beside the lane's venv, not in the working tree."""
    return Path(sys.prefix) / "unsloth_compiled_cache"


def build_gpu_user_stack() -> dict[str, str]:
    """Import unsloth and run its GPU-only TRL patches; return the versions. Must run before anything imports
    trl or transformers' trainers (the lane's conftest calls it first)."""
    import importlib.metadata as metadata

    os.environ["UNSLOTH_ALLOW_CPU"] = "1"  # Unsloth's own switch for driverless machines
    os.environ.setdefault("UNSLOTH_COMPILE_LOCATION", str(compile_location()))
    import unsloth  # noqa: F401

    # The three steps its GPU import runs and UNSLOTH_ALLOW_CPU=1 skips (each reads the variable when called).
    os.environ["UNSLOTH_ALLOW_CPU"] = "0"
    try:
        from unsloth.context_parallel import patch_sft_trainer
        from unsloth.models.rl import PatchFastRL
        from unsloth.trainer import _patch_trl_trainer

        PatchFastRL()  # its models import called PatchFastRL(FastLanguageModel=...) already; that part ran
        _patch_trl_trainer()
        patch_sft_trainer()
    finally:
        os.environ["UNSLOTH_ALLOW_CPU"] = "1"

    import trl

    versions = {name: metadata.version(name) for name in EXPECTED}
    wrong = {k: v for k, v in versions.items() if v != EXPECTED[k]}
    if wrong:
        raise RuntimeError(f"the GPU-user lane expects {EXPECTED}, found {versions}; rebuild it: make test-gpu-stack")
    from expo_lite.algorithms.unsloth_trainers import is_unsloth_class

    for name in ("GRPOTrainer", "GRPOConfig", "DPOTrainer", "DPOConfig"):
        if not is_unsloth_class(getattr(trl, name)):
            raise RuntimeError(f"Unsloth did not rebuild trl.{name} (got {getattr(trl, name)!r})")
    return versions
