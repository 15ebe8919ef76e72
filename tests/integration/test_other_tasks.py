"""Other tasks through the command line: the embedded countdown task trained with ExP-GRPO and offline ExP-DPO
on the embedded model, `expo-lite data` on it, and a user's `program` check that raises, hangs and returns
garbage on some rows - reported, and the commands go on."""

from __future__ import annotations

import json
import textwrap

import pytest
from typer.testing import CliRunner

from expo_lite.cli import app
from expo_lite.verify.formats import answer_format

from helpers import write_jsonl

runner = CliRunner()


@pytest.mark.slow
def test_exp_grpo_on_countdown_through_expo_lite_train(embedded_model, tmp_path):
    result = runner.invoke(app, [
        "train", "countdown", "--no-tui", "--set", f"train.output_dir={tmp_path}", "--set", "train.max_steps=2",
        "--set", "train.max_completion_length=32", "--set", "train.per_device_train_batch_size=4",
        "--set", "algo.num_generations=2", "--set", "explain.max_new_tokens=64", "--set", "explain.num_tries=1",
    ])
    assert result.exit_code == 0, result.output
    run = tmp_path / "countdown"
    steps = [m for m in map(json.loads, (run / "metrics.jsonl").read_text().splitlines()) if "expo/sft_beta" in m]
    assert [m["step"] for m in steps] == [1, 2] and all("rewards/correctness/mean" in m for m in steps)
    explanations = [json.loads(x) for x in (run / "explanations.jsonl").read_text().splitlines()]
    assert explanations and all(e["problem_id"].startswith("countdown-") for e in explanations)
    assert (run / "adapter" / "adapter_config.json").is_file()


@pytest.mark.slow
def test_offline_exp_dpo_on_countdown_through_expo_lite_train(embedded_model, tmp_path):
    """The pairs' mechanics on countdown. The 135M model writes no countdown explanation whose work reaches the
    target (read one by one: "2 + 7 (the answer is 7) / 2 * 4 ... The final answer is $\\boxed{7 - (4 - 2)}$"),
    so the reach check would leave no chosen side at all; it is switched off here, and its refusals are tested in
    tests/unit/algorithms/test_reach_checks.py."""
    result = runner.invoke(app, [
        "train", "countdown", "--no-tui", "--set", "algo.name=exp_dpo", "--set", "task.levels=[1]",
        "--set", "task.num_problems=8", "--set", "algo.num_generations=2", "--set", "train.max_completion_length=48",
        "--set", "explain.num_tries=4", "--set", "explain.max_new_tokens=128", "--set", "explain.reach_check=off",
        "--set", "train.per_device_train_batch_size=2", "--set", f"train.output_dir={tmp_path}",
    ])
    assert result.exit_code == 0, result.output
    run = tmp_path / "countdown"
    pairs = [json.loads(x) for x in (run / "pairs_round0.jsonl").read_text().splitlines()]
    fmt = answer_format("countdown")
    assert pairs and all(p["chosen_source"] == "self_explanation" for p in pairs)
    for p in pairs:  # the chosen side reaches the target with the row's numbers; the rejected one does not
        numbers = [int(n) for n in p["question"].split("numbers ")[1].split(", write")[0].replace(" and", ",").split(", ")]
        target = int(p["question"].split("equals ")[1].split(".")[0])
        row = {"numbers": numbers, "target": target}
        assert fmt.are_correct([p["chosen"], p["rejected"]], [p["answer"]] * 2, [row, row]) == [True, False]
    assert (run / "adapter" / "adapter_config.json").is_file()


def test_expo_lite_data_describes_the_countdown_task():
    result = runner.invoke(app, ["data", "--set", "task.name=countdown", "--set", "task.num_problems=3"])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "task countdown" in text and "embedded generator" in text and "answer format: countdown" in text
    assert "any such expression is right" in text and "rows read 15" in text


CHECK = '''
def by_mode(answer, gold, row):
    if row["mode"] == "raise":
        raise RuntimeError("cannot judge " + answer)
    if row["mode"] == "hang":
        while True:
            pass
    if row["mode"] == "garbage":
        return "maybe"
    if row["mode"] == "wrong":
        return False
    return answer.strip() == gold.strip()
'''


def test_a_program_check_is_tried_on_every_gold_answer_before_training(tmp_path, monkeypatch):
    """`expo-lite data` runs the check on every row's own gold answer: the rows it judged wrong and the calls
    that gave no verdict are listed apart; a check that cannot be imported is an error with exit 2."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "task_checks.py").write_text(textwrap.dedent(CHECK))
    rows = [{"question": f"Q{i}?", "answer": f"a{i}", "mode": mode}
            for i, mode in enumerate(["ok", "raise", "hang", "garbage", "ok", "wrong"])]
    write_jsonl(tmp_path / "train.jsonl", rows)
    from expo_lite.verify.formats import program

    data = ["data", "--set", "task.name=local", "--set", f"task.path={tmp_path / 'train.jsonl'}"]
    program.CHECKS.close()  # a child in this working directory, where task_checks.py is
    try:
        result = runner.invoke(app, [*data, "--set", "task.answer_format=program", "--set", "task.program=task_checks:by_mode"])
        missing = runner.invoke(app, [*data, "--set", "task.answer_format=program:task_checks:by_row"])
    finally:
        program.CHECKS.close()
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "your check on each row's own gold answer: 2 of 6 right; judged wrong 1: local-5; no verdict 3: " in text
    assert "local-1: RuntimeError: cannot judge a1" in text and "local-2: no verdict within" in text
    assert "local-3: TypeError: returned str 'maybe', not True or False" in text
    assert missing.exit_code == 2, missing.output
    assert "task.program task_checks:by_row: AttributeError: module 'task_checks'" in " ".join(missing.output.split())


@pytest.mark.slow
def test_explain_on_a_users_multiple_choice_file_names_the_options(embedded_model, tmp_path, monkeypatch):
    """A user's ARC-style file (question, options as a list, a letter answer) through `expo-lite explain`: the
    model is shown the options, so its tries name them by label and text ("The correct answer is (A), which is
    carbon dioxide"), which it could not do from the question alone."""
    import re

    monkeypatch.chdir(tmp_path)
    rows = [("Which gas do plants absorb from the air?", ["carbon dioxide", "oxygen", "nitrogen", "helium"], "A"),
            ("What do bees make?", ["milk", "honey", "silk", "wax paper"], "B"),
            ("Which is a mammal?", ["shark", "frog", "whale", "trout"], "C"),
            ("Which planet is closest to the Sun?", ["Venus", "Earth", "Mars", "Mercury"], "D")]
    write_jsonl(tmp_path / "arc.jsonl", [{"question": q, "options": o, "answer": a} for q, o, a in rows])
    (tmp_path / "mine.yaml").write_text("base: demo\ntask: {name: local, path: arc.jsonl, answer_format: choice, "
                                        "levels: null, columns: {options: options}}\n")
    result = runner.invoke(app, ["explain", "mine.yaml", "--set", "explain.num_tries=2",
                                 "--set", f"train.output_dir={tmp_path / 'runs'}"])
    assert result.exit_code == 0, result.output
    records = [json.loads(x) for x in (tmp_path / "runs" / "demo-explain" / "explanations.jsonl").read_text().splitlines()]
    assert len(records) == 4 and all(len(r["try_texts"]) == 2 for r in records)
    named = [(r["problem_id"], label) for r, (_, options, _) in zip(records, rows, strict=True) for text in r["try_texts"]
             for label, option in zip("ABCD", options, strict=True)
             if re.search(rf"\(?{label}\)?\W{{0,3}}(?:which is )?{re.escape(option)}|{re.escape(option)}\W{{0,3}}\({label}\)",
                          text, re.IGNORECASE)]
    assert named, [r["try_texts"] for r in records]
