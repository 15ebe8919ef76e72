"""A wheel built from the project holds the recipes and works without the repository."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile

import pytest

from expo_lite.config import recipe_names

from helpers import REPO


@pytest.mark.slow
def test_a_wheel_holds_the_recipes_and_works_without_the_repository(tmp_path):
    """Build the wheel from a copy of the project, unpack it as pip would into site-packages, and run the
    commands from a folder that is not the repository."""
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    # as the repository lays it out: the recipes in configs/, expo_lite/configs a link to them
    shutil.copytree(REPO / "expo_lite", src / "expo_lite", ignore=shutil.ignore_patterns("__pycache__"), symlinks=True)
    shutil.copytree(REPO / "configs", src / "configs")
    assert (src / "expo_lite" / "configs").is_symlink()
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", str(src),
                            "-w", str(tmp_path / "dist")], capture_output=True, text=True, timeout=600)
    assert built.returncode == 0, built.stderr[-2000:]
    wheel = next((tmp_path / "dist").glob("expo_lite-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    shipped = sorted(n for n in names if n.startswith("expo_lite/configs/"))
    assert len(shipped) == len(recipe_names()) + 2, shipped  # every recipe + the two accelerate configs
    site = tmp_path / "site-packages"
    zipfile.ZipFile(wheel).extractall(site)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    code = "import sys, expo_lite; print('FROM', expo_lite.__file__); from expo_lite.cli import app; app(sys.argv[1:])"
    for argv, expect in ((["recipes"], "qwen2.5-3b"), (["config", "qwen2.5-3b"], "Qwen/Qwen2.5-3B-Instruct"),
                         (["plan", "qwen2.5-3b"], "24 GB")):
        out = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=300,
                             cwd=elsewhere, env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"})
        assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
        assert f"FROM {site}" in out.stdout and expect in out.stdout, (argv, out.stdout[-1500:])


def test_the_recipes_are_one_folder_at_the_top_of_the_repository_and_in_the_package():
    """configs/ is where a newcomer looks; expo_lite/configs, what the package reads and a wheel holds, is a link to
    it, so the two can never differ."""
    assert (REPO / "expo_lite" / "configs").is_symlink()
    assert (REPO / "expo_lite" / "configs").resolve() == (REPO / "configs").resolve()
    assert {p.stem for p in (REPO / "configs").glob("*.yaml")} <= set(recipe_names())
