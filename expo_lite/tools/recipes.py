"""`expo-lite recipes`: the YAML recipes shipped inside the package, listed, copied to edit, located.

A recipe is a config (configs/ at the top of the repository; expo_lite/configs is a link to it, so the files
are package data and `pip install expo-lite` has them too) whose name can be given wherever a config path can:
`expo-lite train qwen2.5-3b`, `base: qwen2.5-3b` in your own YAML.
The accelerate launch configs for several GPUs sit beside them (`accelerate/ddp`): `recipes path` prints a
file's location for `accelerate launch --config_file`.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from ..config import RECIPES_DIR, config_file, load_config, recipe_file, recipe_names


@dataclass(frozen=True)
class Recipe:
    name: str
    model: str
    task: str
    algorithm: str
    purpose: str  # the first comment line of its YAML


def _purpose(path: Path) -> str:
    """The first sentence of the YAML's opening comment, however many lines it spans (never cut mid-sentence)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    start = next((k for k, line in enumerate(lines) if line.startswith("#")), len(lines))
    words = []
    for line in lines[start:]:
        text = line.lstrip("#").strip()
        if not line.startswith("#") or not text:
            break
        words.append(text)
    paragraph = " ".join(words)
    end = _SENTENCE_END_RE.search(paragraph)
    return paragraph[: end.start() + 1] if end else paragraph


_SENTENCE_END_RE = re.compile(r"(?<!e\.g)(?<!i\.e)[.!?](?=\s|$)")


def describe(name: str) -> Recipe:
    cfg = load_config(name)
    task = cfg.task.name + (f" levels {','.join(map(str, cfg.task.levels))}" if cfg.task.levels else "")
    algo = cfg.algo.name + (f" ({cfg.algo.mode}, {cfg.algo.positive_source})" if cfg.algo.name == "exp_dpo" else "")
    return Recipe(name, cfg.model.name, task, algo, _purpose(config_file(name)))


def list_recipes() -> list[Recipe]:
    return [describe(name) for name in recipe_names()]


def launcher_configs() -> list[str]:
    """accelerate's launch configs shipped beside the recipes (names for `recipes path` / `recipes cp`)."""
    return sorted(p.relative_to(RECIPES_DIR).with_suffix("").as_posix() for p in (RECIPES_DIR / "accelerate").glob("*.yaml"))


def recipe_path(name: str) -> Path:
    path = recipe_file(name)
    if path is None:
        config_file(name)  # raises ConfigError with the close names
        raise FileNotFoundError(f"{name} is a file, not a shipped recipe")
    return path


def copy_recipe(name: str, dest: Path | None = None) -> Path:
    """Copy a shipped recipe (as written: its `base:` names another recipe, which resolves from anywhere) to
    `dest` (a file, or a folder to put `<name>.yaml` in; default: the current folder). Never overwrites."""
    source = recipe_path(name)
    target = Path(dest) if dest is not None else Path.cwd()
    if target.is_dir():
        target = target / source.name
    if target.exists():
        raise FileExistsError(f"{target} exists; give another destination (nothing was copied)")
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    return target


def render(recipes: list[Recipe], launchers: list[str], out) -> None:
    """One line per recipe (name, algorithm, task, model) and its purpose under it: plain text, so it reads the
    same on a terminal, in a notebook and piped into grep."""
    widths = [max(len(getattr(r, f)) for r in recipes) for f in ("name", "algorithm", "task")]
    out.write("Recipes: expo-lite train NAME | expo-lite recipes cp NAME [DEST] to edit one\n\n")
    for r in recipes:
        cells = (r.name.ljust(widths[0]), r.algorithm.ljust(widths[1]), r.task.ljust(widths[2]), r.model)
        out.write("  ".join(cells).rstrip() + "\n")
        out.write(f"    {r.purpose}\n")
    out.write("\naccelerate launch configs (expo-lite recipes path NAME): " + ", ".join(launchers) + "\n")
