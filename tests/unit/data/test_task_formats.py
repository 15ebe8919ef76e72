"""Tasks in other answer formats: local files in the hub schemas of ARC, MMLU, AQuA and TriviaQA, the embedded
countdown task, a user check's columns, and the error when the data and the format disagree."""

from __future__ import annotations

import json
import time

import pytest

from expo_lite.config import TaskConfig
from expo_lite.data.tasks import TaskError, load_task
from expo_lite.verify.formats import answer_format

from helpers import write_jsonl

ARC = [  # allenai/ai2_arc, ARC-Challenge: choices {text, label}, answerKey (some rows use digit labels)
    {"id": "Mercury_7175875", "question": "An astronomer observes that a planet rotates faster after a meteorite "
     "impact. Which is the most likely effect of this increase in rotation?",
     "choices": {"text": ["Planetary density will decrease.", "Planetary years will become longer.",
                          "Planetary days will become shorter.", "Planetary gravity will become stronger."],
                 "label": ["A", "B", "C", "D"]}, "answerKey": "C"},
    {"id": "NYSEDREGENTS_2015_4_8", "question": "Which tool is used to measure the mass of a rock?",
     "choices": {"text": ["balance", "ruler", "thermometer", "graduated cylinder"], "label": ["1", "2", "3", "4"]},
     "answerKey": "1"},
]
MMLU = [  # cais/mmlu: question, subject, choices (list), answer (0-based index)
    {"question": "Find the degree for the given field extension Q(sqrt(2), sqrt(3), sqrt(18)) over Q.",
     "subject": "abstract_algebra", "choices": ["0", "4", "2", "6"], "answer": 1},
]
AQUA = [  # deepmind/aqua_rat: question, options ["A)21", ...], rationale, correct
    {"question": "Two friends plan to walk along a 43-km trail, starting at opposite ends at the same time. If "
     "Friend P's rate is 15% faster than Friend Q's, how many kilometers will Friend P have walked when they pass?",
     "options": ["A)21", "B)21.5", "C)22", "D)22.5", "E)23"], "rationale": "If Q complete x kilometers, then P "
     "completes 1.15x kilometers. x + 1.15x = 43, 2.15x = 43, x = 43/2.15 = 20, then P will have walked "
     "1.15*20 = 23 km.", "correct": "E"},
]
TRIVIA = [  # mandarjoshi/trivia_qa, rc.nocontext: answer {value, aliases, normalized_value, ...}
    {"question_id": "tc_33", "question": "Which Lloyd Webber musical premiered in the US on 10th December 1993?",
     "answer": {"value": "Sunset Boulevard", "aliases": ["Sunset Blvd", "West Sunset Boulevard", "Sunset Boulevard"],
                "normalized_value": "sunset boulevard"}},
]


def _task(tmp_path, rows, fmt, **extra):
    return load_task(TaskConfig(name="local", path=str(write_jsonl(tmp_path / "train.jsonl", rows)),
                                answer_format=fmt, **extra))


def test_arc_rows_keep_their_labels_and_options(tmp_path):
    data = _task(tmp_path, ARC, "choice", columns={"answer": "answerKey", "options": "choices"})
    first, second = data.problems
    assert (first.id, first.answer, second.answer) == ("Mercury_7175875", "C", "1")
    assert first.context["labels"] == ["A", "B", "C", "D"] and second.context["labels"] == ["1", "2", "3", "4"]
    fmt = answer_format(data.answer_format)
    assert fmt.are_correct(["Faster rotation means shorter days. The answer is (C).", "The answer is 1."],
                           [p.answer for p in data.problems], [p.verify_context() for p in data.problems]) == [True, True]


def test_mmlu_index_answers_become_labels(tmp_path):
    (row,) = _task(tmp_path, MMLU, "choice", columns={"options": "choices"}).problems
    assert row.answer == "B" and row.context["options"] == ["0", "4", "2", "6"] and row.context["subject"] == "abstract_algebra"


def test_aqua_options_are_split_into_labels_and_texts(tmp_path):
    (row,) = _task(tmp_path, AQUA, "choice", columns={"answer": "correct", "solution": "rationale"}).problems
    assert row.answer == "E" and row.context["options"] == ["21", "21.5", "22", "22.5", "23"]
    assert row.solution.startswith("If Q complete x kilometers")
    assert answer_format("choice").found_answer("So P walks 23 km.\nE) 23", row.verify_context()) == "E"


def test_triviaqa_answers_bring_their_aliases(tmp_path):
    (row,) = _task(tmp_path, TRIVIA, "exact", columns={"id": "question_id"}).problems
    assert (row.id, row.answer) == ("tc_33", "Sunset Boulevard") and "Sunset Blvd" in row.context["aliases"]
    assert answer_format("exact").are_correct(["The answer is Sunset Blvd."], [row.answer], [row.verify_context()]) == [True]


def test_a_csv_cell_may_hold_a_json_list(tmp_path):
    path = tmp_path / "train.csv"
    path.write_text('question,answer,aliases\n"Capital of France?",Paris,"[""Paris, France""]"\n', encoding="utf-8")
    (row,) = load_task(TaskConfig(name="local", path=str(path), answer_format="exact")).problems
    assert row.context["aliases"] == ["Paris, France"]


def test_data_and_format_that_disagree_name_the_column_and_the_formats(tmp_path):
    gsm8k_like = [{"question": f"q{i}", "answer": f"Some steps.\n#### {i + 3}"} for i in range(4)]
    with pytest.raises(TaskError) as err:
        _task(tmp_path, gsm8k_like, "choice")
    text = str(err.value)
    assert "column 'answer'" in text and "'choice'" in text and "boxed, hash, choice, exact, countdown, program" in text
    mostly_bad = ARC + [{**ARC[0], "id": f"x{i}", "answerKey": "Z"} for i in range(3)]
    with pytest.raises(TaskError, match="disagree.*3 of 5 rows"):
        _task(tmp_path, mostly_bad, "choice", columns={"answer": "answerKey", "options": "choices"})
    with pytest.raises(TaskError, match="column 'aliases'.*expected a list"):
        _task(tmp_path, [{"question": "q", "answer": "a", "aliases": 3}], "exact")


def test_the_embedded_countdown_task(tmp_path):
    data = load_task(TaskConfig(name="countdown", num_problems=5, levels=[1, 3, 5]))
    assert data.answer_format == "countdown" and len(data.problems) == 15
    fmt = answer_format("countdown")
    for p in data.problems:
        assert fmt.gold_answer(p.answer, p.context) == p.answer and p.solution and p.type == "countdown"
        assert all(str(n) in p.question for n in p.context["numbers"]) and str(p.context["target"]) in p.question
    test = load_task(TaskConfig(name="countdown", num_problems=5, levels=[1], split="test")).problems
    assert not {p.id for p in test} & {p.id for p in data.problems}
    local = [{"question": "Reach 10 from 2, 3, 5.", "answer": "2 * 5", "numbers": "[2, 5]", "target": 10}]
    (row,) = _task(tmp_path, local, "countdown").problems
    assert row.context == {"numbers": [2, 5], "target": 10}


@pytest.fixture
def user_checks(tmp_path, monkeypatch):
    """A user's module of checks in the working directory, where `task.program: module:function` finds it."""
    from expo_lite.verify.formats import program

    name = f"my_checks_{time.monotonic_ns()}"  # the check's child imports each module name once
    (tmp_path / f"{name}.py").write_text("def is_prime_above(answer, gold, row):\n"
                                         "    n = int(answer)\n"
                                         "    return n > row['min'] and all(n % d for d in range(2, n))\n")
    monkeypatch.chdir(tmp_path)
    program.CHECKS.close()  # the next call starts a child in this working directory
    yield name
    program.CHECKS.close()


def test_a_program_check_gets_the_other_columns(tmp_path, user_checks):
    rows = [{"question": "Name a prime above 10.", "answer": "11", "min": 10, "meta": {"source": "hand"}}]
    data = _task(tmp_path, rows, "program", program=f"{user_checks}:is_prime_above")
    assert data.answer_format == f"program:{user_checks}:is_prime_above"
    assert data.problems[0].context == {"min": 10, "meta": {"source": "hand"}}
    assert json.loads(json.dumps(data.problems[0].verify_context()))["min"] == 10


def test_program_needs_its_function_and_a_function_needs_program():
    with pytest.raises(ValueError, match="needs task.program"):
        TaskConfig(answer_format="program")
    with pytest.raises(ValueError, match="set task.answer_format: program"):
        TaskConfig(program="my_checks:check")


@pytest.mark.parametrize(("rows", "columns", "shown"), [
    (ARC, {"answer": "answerKey", "options": "choices"},
     ["(A) Planetary density will decrease.", "(B) Planetary years will become longer.",
      "(C) Planetary days will become shorter.", "(D) Planetary gravity will become stronger."]),
    (MMLU, {"options": "choices"}, ["(A) 0", "(B) 4", "(C) 2", "(D) 6"]),
    (AQUA, {"answer": "correct", "solution": "rationale"}, ["(A) 21", "(B) 21.5", "(C) 22", "(D) 22.5", "(E) 23"]),
])
def test_the_model_sees_every_option_with_its_label(tmp_path, rows, columns, shown):
    """`expo-lite data` prints P(q) as training builds it: the options are in it, each under the question with its
    label, in P(q) and in the hinted P_x alike (the hint adds only the answer)."""
    from typer.testing import CliRunner

    from expo_lite.cli import app
    from expo_lite.config import PromptConfig
    from expo_lite.data.prompts import user_text

    path = write_jsonl(tmp_path / "train.jsonl", rows)
    sets = ["task.name=local", f"task.path={path}", "task.answer_format=choice",
            *(f"task.columns.{k}={v}" for k, v in columns.items())]
    result = CliRunner().invoke(app, ["data", *sum((["--set", s] for s in sets), [])])
    assert result.exit_code == 0, result.output
    printed = result.output
    assert rows[0]["question"][:40] in printed
    for line in shown:
        assert line in printed
    (row, *_) = _task(tmp_path, rows, "choice", columns=columns).problems
    plain = user_text(row.question, "choice", PromptConfig(), context=row.context)
    hinted = user_text(row.question, "choice", PromptConfig(), answer=row.answer, context=row.context)
    assert all(line in plain and line in hinted for line in shown)
    assert plain.index(shown[-1]) < plain.index("Think step by step")  # the options come before the instruction


def test_options_the_question_already_lists_are_not_shown_twice_and_the_layout_is_configurable():
    from expo_lite.config import PromptConfig
    from expo_lite.data.prompts import user_text

    context = {"options": ["carbon dioxide", "oxygen"], "labels": ["A", "B"]}
    listed = "Which gas do plants absorb?\nA) carbon dioxide\nB) oxygen"
    assert user_text(listed, "choice", PromptConfig(), context=context).count("carbon dioxide") == 1
    bare = "Which gas do plants absorb?"
    assert "A. carbon dioxide\nB. oxygen" in user_text(bare, "choice", PromptConfig(option="{label}. {text}"), context=context)
    assert "carbon dioxide" not in user_text(bare, "choice", PromptConfig(option=""), context=context)
    with pytest.raises(ValueError, match="prompt.option must contain"):
        PromptConfig(option="{text}")


def test_a_countdown_row_whose_question_lacks_its_numbers_shows_them(tmp_path):
    from expo_lite.config import PromptConfig
    from expo_lite.data.prompts import user_text

    rows = [{"question": "Reach the target with the given numbers.", "answer": "(3 + 5) * 7 - 2",
             "numbers": [2, 3, 5, 7], "target": 54}]
    (row,) = _task(tmp_path, rows, "countdown").problems
    assert "Numbers: 2, 3, 5, 7. Target: 54." in user_text(row.question, "countdown", PromptConfig(), context=row.context)
    stated = "Using the numbers 2, 3, 5 and 7, write an expression that equals 54."
    assert user_text(stated, "countdown", PromptConfig(), context=row.context).count("54") == 1


ARC_STYLE = [{"question": q, "options": opts, "answer": a} for q, opts, a in [
    ("Which gas do plants absorb from the air?", ["carbon dioxide", "oxygen", "nitrogen", "helium"], "A"),
    ("What do bees make?", ["milk", "honey", "silk", "wax paper"], "B"),
    ("Which is a mammal?", ["shark", "frog", "whale", "trout"], "C"),
]]


def test_a_filter_inherited_from_a_recipe_that_empties_the_task_is_named_with_its_fix(tmp_path, monkeypatch):
    """The new user's config from the issue: `base: demo` brings task.levels [1, 2], which a file without levels
    cannot meet. The error names the filter, where it came from, what the rows hold and what to set; `data`,
    `train` and `explain` load the task the same way and say the same."""
    from typer.testing import CliRunner

    from expo_lite.cli import app

    monkeypatch.chdir(tmp_path)  # the user's folder: task.path is read from where the command runs
    write_jsonl(tmp_path / "arc.jsonl", ARC_STYLE)
    (tmp_path / "mine.yaml").write_text(
        "base: demo\ntask: {name: local, path: arc.jsonl, answer_format: choice,\n"
        "       columns: {question: question, answer: answer, options: options}}\n")
    for command in ("data", "explain", "train"):
        result = CliRunner().invoke(app, [command, str(tmp_path / "mine.yaml")])
        assert result.exit_code == 2, (command, result.output)
        said = " ".join(result.output.split())
        assert ("3 rows read, 3 usable, none left after the filter task.levels: [1, 2] (from base: demo) kept 0 of "
                "3 rows: the rows have no level; set task.levels: null to keep every row") in said, (command, said)
    (tmp_path / "mine.yaml").write_text(
        "base: demo\ntask: {name: local, path: arc.jsonl, answer_format: choice, levels: null,\n"
        "       columns: {question: question, answer: answer, options: options}}\n")
    result = CliRunner().invoke(app, ["data", str(tmp_path / "mine.yaml")])
    assert result.exit_code == 0, result.output
    assert "selected 3" in result.output and "(A) carbon dioxide" in result.output
    # the generator's keys demo sets do nothing for a file: said, not hidden
    assert "task.num_problems" not in result.output  # demo does not set it; only keys a base set are noted


def test_a_filter_that_keeps_some_rows_says_how_many_and_a_base_key_unused_by_the_task_is_noted(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rows = [{**r, "level": lv} for r, lv in zip(ARC_STYLE, [1, 3, 2], strict=True)]
    write_jsonl(tmp_path / "arc.jsonl", rows)
    (tmp_path / "base.yaml").write_text("task: {name: arithmetic, num_problems: 50, levels: [1, 2]}\n")
    (tmp_path / "mine.yaml").write_text("base: base.yaml\ntask: {name: local, path: arc.jsonl, answer_format: choice}\n")
    from expo_lite.config import load_config

    cfg = load_config(tmp_path / "mine.yaml")
    assert cfg.task.origin("task.levels") == "base: base.yaml" and cfg.task.origin("task.path") == ""
    data = load_task(cfg.task)
    assert [p.level for p in data.problems] == [1, 2]
    assert data.filters[0].describe() == ("task.levels: [1, 2] (from base: base.yaml) kept 2 of 3 rows: the rows' "
                                          "levels are 1, 2, 3")
    assert data.notes == ["task.num_problems (from base: base.yaml) is not used by the local task"]
    assert load_config(tmp_path / "mine.yaml", ["task.levels=[1]"]).task.origin("task.levels") == ""  # --set is yours


def test_a_check_that_cannot_judge_is_refused_when_the_task_loads_naming_what_is_missing(tmp_path, user_checks):
    """Every command loads the task first (data, explain, train, eval): a module or function that does not exist,
    or a check that answers none of the first rows' own gold answers, stops it there with the reason."""
    rows = [{"question": "Name a prime above 10.", "answer": "11", "min": 10},
            {"question": "Name a prime above 20.", "answer": "23", "min": 20}]
    with pytest.raises(ValueError, match="No module named 'no_such_module'") as missing:
        _task(tmp_path, rows, "program", program="no_such_module:check")
    assert "working directory" in str(missing.value) and "no_such_module.py" in str(missing.value)
    with pytest.raises(ValueError, match=r"has no 'is_prime'; its functions: is_prime_above"):
        _task(tmp_path, rows, "program", program=f"{user_checks}:is_prime")
    (tmp_path / "broken_checks.py").write_text("def check(answer, gold, row):\n    return row['nope']\n")
    with pytest.raises(ValueError, match=r"no verdict on the first 2 rows' own gold answers \(local-0: KeyError"):
        _task(tmp_path, rows, "program", program="broken_checks:check")


def test_program_may_be_named_in_the_form_expo_lite_data_shows():
    cfg = TaskConfig(answer_format="program:my_checks:check")
    assert (cfg.answer_format, cfg.program) == ("program", "my_checks:check")
    assert TaskConfig(answer_format="program:a:b", program="a:b").program == "a:b"
    with pytest.raises(ValueError, match="name two checks"):
        TaskConfig(answer_format="program:a:b", program="a:c")


CSV_MCQ = ("question,A,B,C,D,answer\n"  # the MMLU release's csv layout, with a header
           "Which gas do plants absorb from the air?,oxygen,carbon dioxide,nitrogen,helium,B\n"
           "Which planet is largest?,Mars,Venus,Jupiter,,C\n")


def test_csv_options_given_as_columns_are_read_in_label_order_and_shown(tmp_path):
    from expo_lite.config import PromptConfig
    from expo_lite.data.prompts import user_text

    path = tmp_path / "train.csv"
    path.write_text(CSV_MCQ, encoding="utf-8")
    first, second = load_task(TaskConfig(name="local", path=str(path), answer_format="choice",
                                         columns={"options": ["A", "B", "C", "D"]})).problems
    assert first.context == {"options": ["oxygen", "carbon dioxide", "nitrogen", "helium"]} and first.answer == "B"
    assert second.context == {"options": ["Mars", "Venus", "Jupiter"]}  # an empty last cell is no option
    shown = user_text(first.question, "choice", PromptConfig(), context=first.context)
    assert "(B) carbon dioxide" in shown and "(D) helium" in shown
    with pytest.raises(ValueError, match="only columns.options may list"):
        TaskConfig(columns={"answer": ["x", "y"]})
    with pytest.raises(TaskError, match=r"task.columns.options \(one column per option\): missing column\(s\) \['E'\]"):
        load_task(TaskConfig(name="local", path=str(path), answer_format="choice", columns={"options": ["A", "E"]}))


def test_choice_rows_without_options_are_refused_and_unmapped_option_columns_are_named(tmp_path):
    """Gold letters alone show the model nothing to choose from: such rows are not usable, and when the file's
    option columns were left unmapped the error says how to map them. A gold letter that is not one of the row's
    labels is refused too."""
    path = tmp_path / "train.csv"
    path.write_text(CSV_MCQ, encoding="utf-8")
    with pytest.raises(TaskError, match=r"the row has no options .*the columns A, B, C, D look like options: map them "
                                        r"with task.columns.options: \[A, B, C, D\]"):
        load_task(TaskConfig(name="local", path=str(path), answer_format="choice"))
    listed = {"question": "Which is a mammal?\n(A) trout\n(B) whale\n(C) shark", "answer": "B"}
    rows = [listed, {**listed, "answer": "E"}, {"question": "Pick one.", "answer": "A"},
            {"question": "Which is largest?", "options": ["1", "3", "2", "0"], "answer": "E"}]
    data = _task(tmp_path, [*rows, listed, listed], "choice")
    assert [p.answer for p in data.problems] == ["B", "B", "B"]  # options listed in the question are options
    assert data.skipped == {"gold answer not usable as choice: 'E' is not one of its labels A, B, C (nor a 0-based "
                            "option index)": 1,
                            "gold answer not usable as choice: the row has no options and its question lists none "
                            "(map its options column with task.columns.options (one list column, or several: "
                            "[A, B, C, D]))": 1,
                            "gold answer not usable as choice: 'E' is not one of its labels A, B, C, D (nor a "
                            "0-based option index)": 1}


def test_an_empty_list_cell_is_an_empty_list_and_a_bad_one_names_its_row(tmp_path):
    path = tmp_path / "train.csv"
    path.write_text('question,answer,aliases\n"Capital of France?",Paris,\n"Capital of Peru?",Lima,Lima city\n',
                    encoding="utf-8")
    with pytest.raises(TaskError, match=r"row local-1 \(row 2 of the data\): column 'aliases' holds str 'Lima city'"):
        load_task(TaskConfig(name="local", path=str(path), answer_format="exact"))
    path.write_text('question,answer,aliases\n"Capital of France?",Paris,\n', encoding="utf-8")
    (row,) = load_task(TaskConfig(name="local", path=str(path), answer_format="exact")).problems
    assert row.context == {"aliases": []}
