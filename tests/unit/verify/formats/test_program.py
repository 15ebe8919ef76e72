"""`program`: a user's own check, bounded - it raises, hangs and returns garbage, and verdicts go on."""

from __future__ import annotations

import textwrap
import time

import pytest

from expo_lite.verify.formats import Item, ProgramCheckError
from expo_lite.verify.formats.program import FAILURES_IN_A_ROW_LIMIT, Program

CHECKS = '''
def same_parity(answer, gold, row):
    return int(answer) % 2 == int(gold) % 2

def in_row(answer, gold, row):
    return answer in row["accepted"]

def raises(answer, gold, row):
    raise ValueError("cannot read " + answer)

def hangs(answer, gold, row):
    while True:
        pass

def garbage(answer, gold, row):
    return "yes"

def by_mode(answer, gold, row):
    if row["mode"] == "raise":
        raise RuntimeError("bad row")
    if row["mode"] == "hang":
        import time
        time.sleep(60)
    if row["mode"] == "garbage":
        return None
    return answer == gold

def picky(answer, gold, row):
    if answer == "boom":
        raise KeyError(answer)
    return answer == gold
'''


@pytest.fixture
def checks_module(tmp_path, monkeypatch):
    """A user's module in the working directory, as `task.program: my_checks:function` finds it."""
    name = f"my_checks_{time.monotonic_ns()}"  # a fresh module per test: the child imports each name once
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(CHECKS))
    monkeypatch.chdir(tmp_path)
    from expo_lite.verify.formats import program

    program.CHECKS.close()  # the next call starts a child in this working directory
    yield name
    program.CHECKS.close()


def test_a_check_sees_the_answer_the_gold_and_the_row(checks_module):
    parity = Program(f"{checks_module}:same_parity")
    assert parity.are_correct(["So the answer is 14.", "The answer is 7.", "no answer here"], ["2", "2", "2"],
                              [{}, {}, {}]) == [True, False, False]
    row = Program(f"{checks_module}:in_row")
    assert row.judge_many([Item("b", "a", {"accepted": ["a", "b"]}), Item("c", "a", {"accepted": ["a", "b"]})]) == [True, False]
    assert parity.failures == {} and row.failures == {}


@pytest.mark.parametrize(("function", "error"), [
    ("raises", "ValueError: cannot read 5"),
    ("garbage", "TypeError: returned str 'yes', not True or False"),
    ("hangs", "no verdict within"),
    ("missing", "AttributeError"),
])
def test_no_verdict_counts_as_wrong_is_reported_and_the_next_call_works(checks_module, function, error):
    check = Program(f"{checks_module}:{function}")
    start = time.monotonic()
    assert check.judge_many([Item("5", "5", {}, row_id="row-7")]) == [False]
    assert time.monotonic() - start < 30  # the deadline, not forever
    assert sum(check.failures.values()) == 1 and error in next(iter(check.failures))
    assert check.failure_examples[0].startswith("row-7: ")
    fine = Program(f"{checks_module}:picky")  # the same child (or its replacement) still answers
    assert fine.judge_many([Item("5", "5", {}), Item("6", "5", {})]) == [True, False]


def test_the_run_stops_after_many_failures_in_a_row_not_after_a_few(checks_module):
    picky = Program(f"{checks_module}:picky")
    batch = [Item("boom", str(i), {}, row_id=f"r{i}") for i in range(FAILURES_IN_A_ROW_LIMIT - 1)]
    assert picky.judge_many([*batch, Item("1", "1", {})]) == [False] * len(batch) + [True]  # a verdict resets the run
    assert picky.failures_in_a_row == 0 and sum(picky.failures.values()) == FAILURES_IN_A_ROW_LIMIT - 1
    with pytest.raises(ProgramCheckError, match="gave no verdict 20 times in a row"):
        picky.judge_many([Item("boom", f"x{i}", {}) for i in range(FAILURES_IN_A_ROW_LIMIT)])


def test_trying_a_check_out_never_stops_however_many_fail(checks_module):
    check = Program(f"{checks_module}:raises")
    items = [Item(str(i), "1", {}) for i in range(FAILURES_IN_A_ROW_LIMIT + 5)]
    assert check.judge_counting(items) == [False] * len(items)
    assert sum(check.failures.values()) == len(items) and len(check.failure_examples) == 5


def test_a_bad_target_is_a_clear_error():
    for bad in ("my_checks", "my checks:f", ":f", "my_checks:"):
        with pytest.raises(ValueError, match="module:function"):
            Program(bad)


def test_the_grpo_reward_goes_on_through_a_check_that_raises_hangs_and_returns_garbage(checks_module):
    """TRL calls the reward with the completions and the dataset's columns; rows whose check gives no verdict
    get 0.0, the others their verdict, in bounded time, and the failures are counted (training goes on)."""
    import json

    from expo_lite.verify.formats import answer_format
    from expo_lite.verify.formats.reward import correctness_reward_for

    modes = ["ok", "raise", "hang", "garbage", "ok"]
    reward = correctness_reward_for(f"program:{checks_module}:by_mode")
    start = time.monotonic()
    scores = reward([f"Counting up, the answer is {5 if i != 4 else 6}." for i in range(5)], answer=["5"] * 5,
                    question=["q"] * 5, context=[json.dumps({"mode": m}) for m in modes],
                    problem_id=[f"r{i}" for i in range(5)], solution=[""] * 5, level=[-1] * 5)
    assert scores == [1.0, 0.0, 0.0, 0.0, 0.0] and time.monotonic() - start < 30
    check = answer_format(f"program:{checks_module}:by_mode")
    assert sum(check.failures.values()) == 3
    assert [e.split(":")[0] for e in check.failure_examples] == ["r1", "r2", "r3"]
    assert reward.__name__ == "correctness"  # TRL logs rewards/correctness/mean, the dashboard reads it
