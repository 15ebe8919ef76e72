"""The package's layers (expo_lite/__init__.py draws them; pyproject.toml's [tool.importlinter] states them):
checked by import-linter on the code as it is, and shown to catch a lower layer importing a higher one."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from helpers import REPO

LINT = [str(Path(sys.executable).parent / "lint-imports"), "--no-cache", "--config", str(REPO / "pyproject.toml")]


def lint(package_parent: Path) -> subprocess.CompletedProcess:
    env = {"PYTHONPATH": str(package_parent), "PATH": "/usr/bin:/bin"}
    return subprocess.run(LINT, capture_output=True, text=True, timeout=300, cwd=package_parent, env=env)


def test_every_layer_imports_only_from_the_layers_below_it():
    out = lint(REPO)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    assert "1 kept, 0 broken" in out.stdout


def test_a_lower_layer_importing_a_higher_one_breaks_the_contract(tmp_path):
    """The same check on a copy of the package where the verifier (layer 1) reaches up into a recipe."""
    shutil.copytree(REPO / "expo_lite", tmp_path / "expo_lite", ignore=shutil.ignore_patterns("__pycache__"))
    extraction = tmp_path / "expo_lite" / "verify" / "extraction.py"
    extraction.write_text(extraction.read_text() + "\n\ndef _reach_up():\n    from ..recipes import train  # noqa\n")
    out = lint(tmp_path)
    assert out.returncode != 0 and "0 kept, 1 broken" in out.stdout, out.stdout[-3000:]
    assert "expo_lite.verify.extraction -> expo_lite.recipes.train" in out.stdout
