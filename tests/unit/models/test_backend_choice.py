"""Which backend loads the model (models/loader.py): Unsloth imported only by its own backend, refused with
several processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from expo_lite.models.loader import ModelLoadError, choose_backend

from helpers import REPO

CHILD_IMPORTS = r"""
import json, sys
from expo_lite.config import ExpoConfig
from expo_lite.models.loader import load_model
seen = {"before_load": "unsloth" in sys.modules}
load_model(ExpoConfig.model_validate({"model": {"name": sys.argv[1], "backend": sys.argv[2], "load_in_4bit": False}}))
seen["after_load"] = "unsloth" in sys.modules
import expo_lite.algorithms.grpo  # noqa: F401
seen["after_grpo"] = "unsloth" in sys.modules
print("RESULT " + json.dumps(seen))
"""


@pytest.mark.slow
@pytest.mark.parametrize(("backend", "imported"), [("hf", False), ("unsloth", True)])
def test_unsloth_is_imported_only_by_its_own_backend(tiny_llama, backend, imported):
    """With backend hf nothing imports unsloth (its import patches transformers, peft and TRL globally, and on
    a T4 flips the bf16 answer mid-run); with backend unsloth, load_model imports it first."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-c", CHILD_IMPORTS, str(tiny_llama), backend], capture_output=True,
                         text=True, timeout=600, env=env, cwd=REPO)
    line = next((x for x in out.stdout.splitlines() if x.startswith("RESULT ")), None)
    assert line, out.stdout[-2000:] + out.stderr[-2000:]
    seen = json.loads(line.removeprefix("RESULT "))
    assert seen == {"before_load": False, "after_load": imported, "after_grpo": imported}


def test_unsloth_with_several_processes_is_refused_and_auto_picks_hf(monkeypatch):
    monkeypatch.setattr("expo_lite.models.loader.unsloth_installed", lambda: True)
    with pytest.raises(ModelLoadError, match=r"2 processes were launched.*model.backend=hf"):
        choose_backend("unsloth", processes=2)
    assert choose_backend("unsloth", processes=1).name == "unsloth"
    monkeypatch.setattr("expo_lite.models.loader.cuda_available", lambda: True)
    assert choose_backend("auto", processes=1).name == "unsloth"
    multi = choose_backend("auto", processes=2)
    assert multi.name == "hf" and "single-GPU" in multi.reason


def test_train_refuses_unsloth_under_torchrun_before_writing_anything(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from expo_lite.cli import app

    monkeypatch.setenv("WORLD_SIZE", "2")
    result = CliRunner().invoke(app, ["train", "--no-tui", "--set", "model.backend=unsloth",
                                      "--set", f"train.output_dir={tmp_path}"])
    assert result.exit_code == 2 and "Unsloth's GRPO kernels are single-GPU" in " ".join(result.output.split())
    assert not any(tmp_path.iterdir())
