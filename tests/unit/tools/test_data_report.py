"""`expo-lite data` (tools/data_report.py) and the grading convention it states."""

from __future__ import annotations

from helpers import MATH_ROWS, REPO, write_jsonl


def test_data_command_shows_what_training_would_load(tmp_path, tiny_llama):
    from typer.testing import CliRunner

    from expo_lite.cli import app

    path = write_jsonl(tmp_path / "train.jsonl", MATH_ROWS)
    result = CliRunner().invoke(app, ["data", "--set", "task.name=math", "--set", f"task.path={path}",
                                      "--set", f"model.name={tiny_llama}"], terminal_width=200)
    assert result.exit_code == 0, result.output
    out = result.output
    assert f"rows read {len(MATH_ROWS)} | usable 6 | skipped 2 | selected 6" in out and "1 with unknown level" in out
    assert "no \\boxed{} answer in the solution" in out and "math-3" in out  # reason with its example row
    assert "answer format: boxed" in out and "last \\boxed{}" in out
    assert "Counting & Probability" in out and "unknown" in out  # per type and per level tables
    # the real chat-templated P(q) of the first problem, as the model will see it
    assert "sample chat-templated P(q) for math-0 (gold answer: \\frac{3}{4})" in out
    assert "<|im_start|>user\nWhat is $\\frac{1}{2}+\\frac{1}{4}$?" in out and "<|im_start|>assistant" in out

    filtered = CliRunner().invoke(app, ["data", "--set", "task.name=math", "--set", f"task.path={path}",
                                        "--set", "task.levels=[4]", "--set", f"model.name={tiny_llama}"],
                                  terminal_width=200)
    assert filtered.exit_code == 0 and "selected 2" in filtered.output
    assert "filter: task.levels: [4] kept 2 of 6 rows: the rows' levels are 2, 3, 4, 5" in filtered.output


def test_the_grading_convention_is_one_and_stated_as_the_code_applies_it(tmp_path, tiny_llama):
    """`expo-lite data` on a GSM8K-style (#### N) task, the own-task guide and the verifier say the same thing: the
    first style present wins whatever the task's format, so `#### 5` then `\\boxed{7}` answers 7."""
    from typer.testing import CliRunner

    from expo_lite.cli import app
    from expo_lite.verify.answers import extract_final_answer, is_correct
    from expo_lite.verify.extraction import GRADING

    both = "Half of 10 is 5.\n#### 5\nOn second thought the total is $\\boxed{7}$."
    assert extract_final_answer(both) == "7" and is_correct(both, "7") and not is_correct(both, "5")
    path = write_jsonl(tmp_path / "train.jsonl", [{"question": "What is 2 + 3?", "answer": "2 + 3 = 5\n#### 5"}])
    out = CliRunner().invoke(app, ["data", "--set", "task.name=gsm8k", "--set", f"task.path={path}",
                                   "--set", f"model.name={tiny_llama}"], terminal_width=400).output
    assert "answer format: hash (what the prompt asks for)" in out and GRADING in " ".join(out.split())
    assert "its last \\boxed{} (MATH / Minerva), its first `#### N`" in GRADING  # boxed before hash, as applied
    guide = " ".join((REPO / "docs" / "own-task.md").read_text().split())
    assert "first style present wins, the same for every task" in guide


def test_data_command_exits_2_when_nothing_is_usable(tmp_path):
    from typer.testing import CliRunner

    from expo_lite.cli import app

    path = write_jsonl(tmp_path / "train.jsonl", [{"problem": "p", "solution": "no box", "level": "Level 1", "type": "A"}])
    result = CliRunner().invoke(app, ["data", "--set", "task.name=math", "--set", f"task.path={path}"])
    assert result.exit_code == 2
    assert "no usable problems" in result.output and "no \\boxed{} answer in the solution" in result.output
