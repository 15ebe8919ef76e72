"""The documentation: the README is a short front door whose links resolve, and the site under docs/ builds with
mkdocs in strict mode (a broken link or anchor fails the build, shown here), its command-line reference generated
from the program itself."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys

import pytest
import typer

from expo_lite.cli import app

from helpers import REPO


def build(root, out):
    return subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(root / "mkdocs.yml"),
                           "-d", str(out)], capture_output=True, text=True, timeout=300, cwd=root,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), "NO_MKDOCS_2_WARNING": "1",
                               "HOME": str(out.parent)})


def test_the_readme_is_a_front_door_whose_links_resolve():
    text = (REPO / "README.md").read_text()
    assert len(text.splitlines()) <= 100  # a five-minute read; the reference is docs/
    for command in ("make demo", "make test", "pip install -e \".[unsloth]\"", "expo-lite data mine.yaml"):
        assert command in text
    links = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", text)
    assert links and all((REPO / link).exists() for link in links if "://" not in link), links


def _commands(text: str) -> list[list[str]]:
    """Each `expo-lite ...` line of the text's bash blocks, as words (comments and placeholders `<...>` dropped)."""
    out = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.DOTALL):
        for line in block.splitlines():
            words = shlex.split(line, comments=True)
            if words[:1] == ["expo-lite"]:
                out.append(words)
    return out


def test_every_expo_lite_command_in_the_readme_exists_with_the_flags_shown():
    """What the README tells a user to type: the subcommand exists, each `--flag` is one of its options, each recipe
    it names is shipped, and each run directory it names is where that recipe's run goes (`train.run_name`)."""
    from expo_lite.config import load_config, recipe_names

    group = typer.main.get_command(app)
    commands = _commands((REPO / "README.md").read_text())
    assert len(commands) >= 6, commands
    recipes, run_dirs = set(recipe_names()), {f"runs/{load_config(n).train.run_name}" for n in recipe_names()}
    for words in commands:
        name, args = words[1], words[2:]
        assert name in group.commands, words
        options = {o for p in group.commands[name].params for o in p.opts + p.secondary_opts}
        assert {a.split("=")[0] for a in args if a.startswith("--")} <= options, words
        for a in (a for a in args if not a.startswith("-") and "=" not in a):
            assert a in recipes or a in run_dirs or a.endswith(".yaml"), (a, words)


@pytest.mark.slow
def test_the_docs_build_in_strict_mode_with_the_cli_reference_generated(tmp_path):
    done = build(REPO, tmp_path / "site")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    cli_page = (tmp_path / "site" / "cli" / "index.html").read_text()
    for name in typer.main.get_command(app).commands:  # every command, from the program, not written twice
        assert f"expo-lite {name}" in cli_page, name
    assert "--resume" in cli_page and "--limit" in cli_page


@pytest.mark.slow
@pytest.mark.parametrize(("broken", "named"), [("[the method](no-such-page.md)", "no-such-page.md"),
                                               ("[a section](method.md#no-such-section)", "no-such-section")])
def test_a_broken_link_or_anchor_fails_the_build(tmp_path, broken, named):
    root = tmp_path / "repo"
    shutil.copytree(REPO / "docs", root / "docs")
    shutil.copy(REPO / "mkdocs.yml", root / "mkdocs.yml")
    page = root / "docs" / "index.md"
    page.write_text(page.read_text() + f"\nSee {broken}.\n")
    done = build(root, tmp_path / "site")
    assert done.returncode != 0 and named in done.stdout + done.stderr, done.stdout[-2000:] + done.stderr[-2000:]
