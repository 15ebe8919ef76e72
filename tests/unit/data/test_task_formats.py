"""Tasks in other answer formats: local files in the hub schemas of ARC, MMLU, AQuA and TriviaQA, the embedded
countdown task, a user check's columns, and the error when the data and the format disagree."""

from __future__ import annotations

import json

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


def test_a_program_check_gets_the_other_columns(tmp_path):
    rows = [{"question": "Name a prime above 10.", "answer": "11", "min": 10, "meta": {"source": "hand"}}]
    data = _task(tmp_path, rows, "program", program="my_checks:is_prime_above")
    assert data.answer_format == "program:my_checks:is_prime_above"
    assert data.problems[0].context == {"min": 10, "meta": {"source": "hand"}}
    assert json.loads(json.dumps(data.problems[0].verify_context()))["min"] == 10


def test_program_needs_its_function_and_a_function_needs_program():
    with pytest.raises(ValueError, match="needs task.program"):
        TaskConfig(answer_format="program")
    with pytest.raises(ValueError, match="set task.answer_format: program"):
        TaskConfig(program="my_checks:check")
