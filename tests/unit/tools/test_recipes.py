"""The shipped recipes (tools/recipes.py, config.py's names): listed, copied, found by name wherever a config
is accepted."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from expo_lite.cli import app
from expo_lite.config import ConfigError, load_config, recipe_file, recipe_names


def run(*argv: str):
    return CliRunner().invoke(app, list(argv))


def test_every_recipe_is_listed_with_its_model_task_algorithm_and_purpose():
    out = run("recipes")
    assert out.exit_code == 0, out.output
    names = recipe_names()
    assert {"demo", "qwen2.5-3b", "llama-3.2-3b", "dpo/qwen2.5-3b-math-online"} <= set(names) and len(names) == 27
    for name in names:
        line = next(x for x in out.output.splitlines() if x.split() and x.split()[0] == name)
        cfg = load_config(name)
        assert cfg.model.name in line and cfg.algo.name in line and cfg.task.name in line
    assert "Qwen2.5-3B-Instruct on MATH with ExP-GRPO, 4-bit QLoRA on one 24 GB GPU." in out.output
    assert "accelerate/ddp" in out.output and "accelerate/deepspeed_zero2" in out.output
    purposes = [x.strip() for x in out.output.splitlines() if x.startswith("    ")]
    assert len(purposes) == len(names) and all(p.endswith((".", "!", "?")) for p in purposes), purposes  # never cut


def test_a_recipe_name_is_accepted_wherever_a_config_path_is(tmp_path):
    assert load_config("qwen2.5-3b") == load_config(recipe_file("qwen2.5-3b"))
    assert load_config("qwen2.5-3b.yaml") == load_config("qwen2.5-3b")
    assert run("config", "dpo/qwen2.5-3b-math-online").exit_code == 0
    mine = tmp_path / "mine.yaml"
    mine.write_text("base: qwen2.5-3b\ntrain:\n  max_steps: 7\n")  # a user's file on top of a recipe, by name
    cfg = load_config(mine)
    assert cfg.train.max_steps == 7 and cfg.model.name == "Qwen/Qwen2.5-3B-Instruct"
    local = tmp_path / "qwen2.5-3b.yaml"  # a file of the user's wins over the recipe of the same name
    local.write_text("train:\n  max_steps: 3\n")
    assert load_config(local).train.max_steps == 3


def test_an_unknown_name_says_what_is_accepted_and_what_was_meant():
    out = run("train", "qwen-3b", "--no-tui")
    text = " ".join(out.output.split())
    assert out.exit_code == 2 and "no recipe is called 'qwen-3b'" in text and "Did you mean qwen2.5-3b" in text
    with pytest.raises(ConfigError, match="expo-lite recipes"):
        load_config("dpo/nothing")
    assert recipe_file("../config.py") is None  # names cannot leave the recipes folder


def test_cp_copies_a_recipe_to_edit_and_never_overwrites(tmp_path):
    out = run("recipes", "cp", "qwen2.5-3b-grpo", str(tmp_path))
    copy = tmp_path / "qwen2.5-3b-grpo.yaml"
    assert out.exit_code == 0 and copy.read_text() == recipe_file("qwen2.5-3b-grpo").read_text()
    assert load_config(copy) == load_config("qwen2.5-3b-grpo")  # its base: is a name, so it resolves from here
    copy.write_text(copy.read_text() + "# my edit\n")
    again = run("recipes", "cp", "qwen2.5-3b-grpo", str(copy))
    assert again.exit_code == 2 and "exists" in again.output and copy.read_text().endswith("# my edit\n")
    assert run("recipes", "path", "accelerate/ddp").output.strip() == str(recipe_file("accelerate/ddp"))
