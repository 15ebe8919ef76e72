"""The weight of the SFT term over training: beta_t for ExP-GRPO's `L_GRPO + beta_t * L_SFT`.

The paper keeps beta constant (0.04 best) and proposes annealing; linear and cosine decay to
`beta_min` are offered. `step` counts optimizer steps from 0 to `total_steps - 1`, so the first step
uses `beta`, the last uses `beta_min`, and the middle step the midpoint (for both decays).
"""

from __future__ import annotations

import math


def beta_at(step: int, total_steps: int, beta: float, schedule: str = "constant", beta_min: float = 0.0) -> float:
    if schedule == "constant" or total_steps <= 1:
        return beta
    progress = min(max(step / (total_steps - 1), 0.0), 1.0)
    if schedule == "linear":
        return beta + (beta_min - beta) * progress
    if schedule == "cosine":
        return beta_min + (beta - beta_min) * 0.5 * (1.0 + math.cos(math.pi * progress))
    raise ValueError(f"beta schedule must be constant, linear or cosine; got {schedule!r}")
