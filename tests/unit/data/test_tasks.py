"""Tasks (data/tasks.py, data/arithmetic.py): the embedded generator, hub schemas from local files, filters,
skips with reasons, clear errors."""

from __future__ import annotations

import re

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from expo_lite.config import TaskConfig
from expo_lite.data.tasks import TaskError, load_task
from expo_lite.verify.answers import answers_match

from helpers import MATH_ROWS, write_jsonl

GSM8K_ROWS = [
    {"question": "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. "
     "How many clips did Natalia sell altogether in April and May?",
     "answer": "Natalia sold 48/2 = <<48/2=24>>24 clips in May.\nNatalia sold 48+24 = <<48+24=72>>72 clips.\n#### 72"},
    {"question": "A shop sells 1,200 pens a day. How many in 2 days?", "answer": "1200*2=<<1200*2=2400>>2400\n#### 2,400"},
    {"question": "Broken row", "answer": "no final marker here"},
]


# MATH-500 / PRM800K rows: `subject` instead of `type`, an integer level, and the final answer in its own column.
MATH500_ROWS = [
    {"problem": "Convert the point $(0,3)$ in rectangular coordinates to polar coordinates.",
     "solution": "We have $r = 3$ and $\\theta = \\frac{\\pi}{2}$, so $\\boxed{\\left( 3, \\frac{\\pi}{2} \\right)}$.",
     "answer": "\\left( 3, \\frac{\\pi}{2} \\right)", "subject": "Precalculus", "level": 2,
     "unique_id": "test/precalculus/807.json"},
    {"problem": "If $x^2 + y^2 = 13$ and $xy = 6$, what is $(x+y)^2$?", "solution": "... $= \\boxed{25}$.",
     "answer": "25", "subject": "Algebra", "level": 4, "unique_id": "test/algebra/1.json"},
    {"problem": "Simplify.", "solution": "It is $\\boxed{\\frac{2ab}{a^2+b^2}}$ (written unsimplified in the box).",
     "answer": "\\frac{2ab}{a^2 + b^2}", "subject": "Intermediate Algebra", "level": 5, "unique_id": "test/ia/2.json"},
]


def test_arithmetic_is_seeded_levelled_and_solved_by_its_solutions():
    cfg = TaskConfig(name="arithmetic", num_problems=30, seed=3)
    data = load_task(cfg)
    again = load_task(cfg)
    assert [p.question for p in data.problems] == [p.question for p in again.problems]
    assert {p.level for p in data.problems} == {1, 2, 3, 4, 5}
    assert len(data.problems) == 150 and data.answer_format == "hash"
    other_seed = load_task(TaskConfig(name="arithmetic", num_problems=30, seed=4))
    assert [p.question for p in other_seed.problems] != [p.question for p in data.problems]
    for p in data.problems:
        # the written solution's last equation computes the gold answer
        last = re.findall(r"= (-?\d+)", p.solution)[-1]
        assert answers_match(p.answer, last), (p.question, p.solution, p.answer)
        assert p.solution.count("=") >= {1: 1, 2: 1, 3: 2, 4: 3, 5: 4}[p.level]


def test_arithmetic_splits_are_disjoint_and_growing_keeps_earlier_problems():
    train = load_task(TaskConfig(num_problems=20), "train")
    test = load_task(TaskConfig(num_problems=20), "test")
    assert not {p.id for p in train.problems} & {p.id for p in test.problems}
    bigger = load_task(TaskConfig(num_problems=40), "train")
    assert {p.id: p.question for p in bigger.problems if int(p.id.rsplit("-", 1)[1]) < 20} == {
        p.id: p.question for p in train.problems
    }
    with pytest.raises(TaskError, match="splits train, test, validation"):
        load_task(TaskConfig(), "dev")


def test_level_filter_and_max_samples():
    data = load_task(TaskConfig(levels=[4, 5], num_problems=10, max_samples=7))
    assert len(data.problems) == 7 and {p.level for p in data.problems} <= {4, 5}


def test_gsm8k_local_jsonl_in_hub_schema(tmp_path):
    path = write_jsonl(tmp_path / "train.jsonl", GSM8K_ROWS)
    data = load_task(TaskConfig(name="gsm8k", path=str(path)))
    assert [p.answer for p in data.problems] == ["72", "2400"]
    assert "<<" not in data.problems[0].solution and "####" not in data.problems[0].solution
    assert data.problems[0].solution.startswith("Natalia sold 48/2 = 24 clips")
    assert data.skipped == {"no '#### answer' in the answer column": 1}
    assert "gsm8k-2" in data.summary()


def test_gsm8k_hub_snapshot_directory_with_parquet(tmp_path):
    folder = tmp_path / "gsm8k" / "main"
    folder.mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(GSM8K_ROWS[:2]), folder / "train-00000-of-00001.parquet")
    pq.write_table(pa.Table.from_pylist(GSM8K_ROWS[:1]), folder / "test-00000-of-00001.parquet")
    assert len(load_task(TaskConfig(name="gsm8k", path=str(tmp_path / "gsm8k"))).problems) == 2
    assert len(load_task(TaskConfig(name="gsm8k", path=str(tmp_path / "gsm8k")), "test").problems) == 1


def test_math_local_with_level_and_type_filters(tmp_path):
    path = tmp_path / "train.parquet"
    pq.write_table(pa.Table.from_pylist(MATH_ROWS), path)
    data = load_task(TaskConfig(name="math", path=str(path)))
    assert data.answer_format == "boxed"
    assert [(p.answer, p.level, p.type) for p in data.problems] == [
        ("\\frac{3}{4}", 2, "Prealgebra"), ("-2", 5, "Algebra"), ("(2, 5]", 4, "Algebra"),
        ("1, -2", 3, "Algebra"),  # both boxes of an "enter all solutions" answer
        ("x^3 + 2x^2 + x", None, "Algebra"),  # "Level ?": level unknown, kept when no level filter is set
        ("1,\\!000,\\!000", 4, "Counting & Probability"),
    ]
    assert data.skipped == {"no \\boxed{} answer in the solution": 1, "unparseable gold answer": 1}
    assert data.unknown_level == 1 and data.rows == len(MATH_ROWS) and "1 with unknown level" in data.summary()
    only = load_task(TaskConfig(name="math", path=str(path), levels=[4, 5], types=["Algebra"]))
    assert [p.level for p in only.problems] == [5, 4]
    assert only.filtered == 4 and only.unknown_level == 0


def test_math500_prm800k_schema_uses_subject_integer_level_and_answer_column(tmp_path):
    path = write_jsonl(tmp_path / "test.jsonl", MATH500_ROWS)
    data = load_task(TaskConfig(name="math", path=str(path)), "test")
    assert [(p.id, p.level, p.type) for p in data.problems] == [
        ("test/precalculus/807.json", 2, "Precalculus"), ("test/algebra/1.json", 4, "Algebra"),
        ("test/ia/2.json", 5, "Intermediate Algebra"),
    ]
    # the answer column is the gold, not a re-extraction from the solution
    assert data.problems[2].answer == "\\frac{2ab}{a^2 + b^2}" and data.problems[0].answer.startswith("\\left(")
    assert answers_match(data.problems[0].answer, "(3, \\frac{\\pi}{2})")
    algebra = load_task(TaskConfig(name="math", path=str(path), types=["Algebra", "Precalculus"], levels=[2, 4]), "test")
    assert [p.type for p in algebra.problems] == ["Precalculus", "Algebra"]


def test_types_filter_without_type_or_subject_column_is_a_clear_error(tmp_path):
    rows = [{k: v for k, v in r.items() if k != "type"} for r in MATH_ROWS[:2]]
    path = write_jsonl(tmp_path / "train.jsonl", rows)
    assert len(load_task(TaskConfig(name="math", path=str(path))).problems) == 2  # fine without task.types
    with pytest.raises(TaskError, match=r"task.types is set .* neither a 'type' column .* nor a 'subject' column"):
        load_task(TaskConfig(name="math", path=str(path), types=["Algebra"]))


def test_skip_reasons_keep_two_examples_each(tmp_path):
    rows = [{"question": f"q{i}", "answer": "no marker"} for i in range(5)] + GSM8K_ROWS[:1]
    data = load_task(TaskConfig(name="gsm8k", path=str(write_jsonl(tmp_path / "train.jsonl", rows))))
    assert data.skipped_examples == {"no '#### answer' in the answer column": ["gsm8k-0", "gsm8k-1"]}
    assert "5 no '#### answer' in the answer column (e.g. gsm8k-0, gsm8k-1)" in data.summary()


def test_local_csv_with_column_map(tmp_path):
    path = tmp_path / "mine.csv"
    path.write_text("id,prompt,target,difficulty\na1,What is 2+2?,4,1\na2,Half of 9?,\\frac{9}{2},3\n", encoding="utf-8")
    cfg = TaskConfig(name="local", path=str(path), columns={"question": "prompt", "answer": "target", "level": "difficulty"})
    data = load_task(cfg, "anything")
    assert [(p.id, p.answer, p.level) for p in data.problems] == [("a1", "4", 1), ("a2", "\\frac{9}{2}", 3)]


@pytest.mark.parametrize(
    ("name", "content", "columns", "message"),
    [
        ("x.jsonl", '{"q": "a", "answer": "1"}\n', {}, r"missing column\(s\) \['question'\].*columns \['answer', 'q'\]"),
        ("x.jsonl", "", {}, "is empty"),
        ("x.jsonl", '{"question": "a", "answer": "1"}\n{broken\n', {}, "line 2 is not valid JSON"),
        ("x.jsonl", "[1, 2]\n", {}, "row 0 is a list"),
        ("x.csv", "question,answer\nWhat?,\n", {}, "no usable problems.*unparseable gold answer"),
        ("x.csv", "question,answer\nq,1\n", {"questoin": "q"}, r"task.columns: unknown key\(s\) \['questoin'\]"),
        ("x.txt", "hello", {}, "unsupported file type '.txt'"),
    ],
)
def test_bad_local_files_name_the_problem(tmp_path, name, content, columns, message):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(TaskError, match=message):
        load_task(TaskConfig(name="local", path=str(path), columns=columns))


def test_bad_encoding_and_missing_paths(tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes("question,answer\ncaf\xe9?,1\n".encode("latin-1"))
    with pytest.raises(TaskError, match="not UTF-8"):
        load_task(TaskConfig(name="local", path=str(path)))
    with pytest.raises(TaskError, match="no such file or directory"):
        load_task(TaskConfig(name="gsm8k", path=str(tmp_path / "missing")))
    (tmp_path / "empty_dir").mkdir()
    with pytest.raises(TaskError, match="no train"):
        load_task(TaskConfig(name="math", path=str(tmp_path / "empty_dir")))
    with pytest.raises(TaskError, match="task.path is required"):
        load_task(TaskConfig(name="local"))


def test_hub_loading_offline_gives_advice(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    with pytest.raises(TaskError, match="set task.path"):
        load_task(TaskConfig(name="gsm8k", hub_id="someone/not-cached-gsm8k"))
