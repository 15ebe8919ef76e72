"""The trainer arguments our recipes and a hand-built ExPGRPOConfig resolve to, as JSON, on whichever stack runs
it: imported by the lane (Unsloth's generated configs over TRL 1.15) and run by the CI stack's python (stock TRL
1.16) in a subprocess, so test_stack_config.py can compare the two."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from expo_lite.config import recipe_file, recipe_names

REPO = Path(__file__).resolve().parents[2]
RECIPES = [recipe_file(name) for name in recipe_names()]


def _plain(value):
    return value if isinstance(value, int | float | str | bool | type(None)) else str(value)


def resolved() -> dict[str, dict]:
    from expo_lite.algorithms.grpo import ExPGRPOConfig
    from expo_lite.config import load_config
    from expo_lite.recipes.dpo import dpo_args
    from expo_lite.recipes.train import grpo_args
    from expo_lite.run.rundir import RunDir

    out = {}
    for path in RECIPES:
        cfg = load_config(path)
        if cfg.algo.name == "exp_dpo":
            args = dpo_args(cfg, Path("runs/resolved"))
        else:
            args = grpo_args(cfg, RunDir(Path("runs/resolved")))
        out[str(path.relative_to(REPO))] = {k: _plain(v) for k, v in args.to_dict().items()}
    hand = ExPGRPOConfig(output_dir="runs/resolved")  # what a notebook user writes
    out["hand-built ExPGRPOConfig(output_dir=...)"] = {k: _plain(v) for k, v in hand.to_dict().items()}
    return out


if __name__ == "__main__":
    print("RESOLVED " + json.dumps(resolved()))
    sys.exit(0)
