"""The GPU smoke kit's CPU dry run (benchmarks/gpu_smoke.py --dry-run)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from helpers import REPO


@pytest.mark.slow
def test_gpu_smoke_dry_run():
    """`benchmarks/gpu_smoke.py --dry-run` on the CPU: every check that needs no CUDA passes; the GPU-only
    ones say skip and why. (Its GPU mode is `make gpu-smoke`.)"""
    out = subprocess.run([sys.executable, "benchmarks/gpu_smoke.py", "--dry-run", "--tiny", "--learn-steps", "4",
                          "--json"], capture_output=True, text=True, timeout=900, cwd=REPO,
                         env={**os.environ, "PYTHONPATH": str(REPO)})
    report = json.loads(out.stdout.strip().splitlines()[-1])
    status = {r["check"]: r["status"] for r in report["results"]}
    assert out.returncode == 0 and report["failed"] == [], out.stdout[-3000:]
    for check in ("float32 run", "rewards per group", "SFT forward sees logits", "state across an explanation call",
                  "state around the trainer",
                  "gradient = GRPO part + SFT part", "learns in 4 steps", "online ExP-DPO, 2 rounds"):
        assert status[check] == "pass", (check, status)
    assert status["class hierarchy"] == "skip" and status["peak memory vs planner"] == "skip"
    assert set(report["phases"]) == {"rollouts + explanation tries", "checking + scoring tries", "loss forward",
                                     "step (all)"}
    assert "| gradient = GRPO part + SFT part | pass | cosine 1.0" in out.stdout
