"""The replication's design rule, its report (intervals, paired comparisons, relative paths) and the SDFT arm
run through TRL's own trainer."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from replicate import choose_levels, rel  # noqa: E402
from replicate_report import comparisons, outcome_table, pilot_table, write_report  # noqa: E402

from expo_lite.stats import mcnemar_exact, wilson_interval  # noqa: E402


def pilot_row(questions, solved, valid):
    return {"questions": questions, "pass": solved / questions, "solved": solved, "greedy": 0.0, "greedy_solved": 0,
            "valid": valid, "valid_rate": valid / questions}


def test_design_rule_trains_where_the_base_mostly_fails_but_can_explain():
    pilot = {"1": pilot_row(16, 14, 12), "2": pilot_row(16, 6, 5), "3": pilot_row(16, 2, 3), "4": pilot_row(16, 0, 2),
             "5": pilot_row(16, 0, 0)}
    # L1 is solved too often, L5 is never explained: L4 (pass 0) and L3 (pass 12.5%) come first
    assert choose_levels(pilot, max_base_pass=0.5, min_valid=0.1, max_levels=2) == [3, 4]
    assert choose_levels(pilot, max_base_pass=0.5, min_valid=0.1, max_levels=3) == [2, 3, 4]
    assert choose_levels(pilot, max_base_pass=0.5, min_valid=0.5, max_levels=2) == []


def results(ids, greedy, correct, level=3, n=4):
    return [{"problem_id": i, "level": level, "type": None, "n": n, "correct": c, "greedy_correct": g}
            for i, g, c in zip(ids, greedy, correct, strict=True)]


def test_report_has_intervals_paired_comparisons_and_no_machine_paths(tmp_path):
    ids = [f"q{i:02d}" for i in range(10)]
    outcomes = {
        "base": {"arm": "base", "seed": 0, "unsolved": results(ids, [0] * 10, [0] * 10), "held_out": results(ids, [0] * 10, [1] + [0] * 9)},
        "grpo": {"arm": "grpo", "seed": 0, "unsolved": results(ids, [1] + [0] * 9, [1, 0] * 5), "held_out": results(ids, [0] * 10, [0] * 10)},
        "exp-grpo": {"arm": "exp-grpo", "seed": 0, "unsolved": results(ids, [1] * 7 + [0] * 3, [2] * 8 + [0] * 2),
                     "held_out": results(ids, [1, 1] + [0] * 8, [1] * 3 + [0] * 7)},
    }
    rows = comparisons(outcomes, k=4)
    assert {(r["a"], r["b"]) for r in rows} == {("exp-grpo", "grpo")}  # the other comparisons' arms did not run
    greedy = next(r["result"] for r in rows if r["outcome"] == "unsolved" and r["metric"] == "greedy")
    assert greedy.difference == pytest.approx(0.6) and (greedy.only_a, greedy.only_b) == (6, 0)
    assert greedy.p_value == pytest.approx(mcnemar_exact([1] * 7 + [0] * 3, [1] + [0] * 9)) == pytest.approx(2 / 64)
    assert greedy.low > 0  # 6 questions only ExP-GRPO solved, none the other way: the interval excludes 0

    table = outcome_table(outcomes, k=4)
    low, high = wilson_interval(7, 10)
    assert f"| ExP-GRPO | 70.0 [{100 * low:.1f}, {100 * high:.1f}] |" in table

    design = {"levels": [3], "train_questions": 16, "unsolved": 10, "held_out": 10, "grpo_steps": 4, "seeds": [0],
              "eval_seed": 1, "pilot_seed": 2, "mdd": {"unsolved": {"0.0": 0.5, "0.05": None}, "held_out": {"0.0": 0.5, "0.05": None}}}
    pilot = {str(lv): pilot_row(16, 2, 3) for lv in range(1, 6)}
    report = write_report(tmp_path, pilot=pilot, design=design, outcomes=outcomes, timings={"grpo": {"train_s": 1, "eval_s": 2}},
                          failures={}, settings={"out": rel(tmp_path)}, k=4, pilot_s=60, total_s=120, runs="runs/replicate/x")
    text = report.read_text()
    for needle in ("## Pilot", "Minimum detectable difference", "| unsolved | 10 | 50.0 points | not detectable |",
                   "exp-grpo vs grpo", "exact McNemar p", "![outcomes](outcomes.png)", "| grpo | 1 | 2 |"):
        assert needle in text
    assert str(tmp_path) not in text and "/tmp" not in text  # report paths are relative
    assert (tmp_path / "outcomes.png").read_bytes()[:4] == b"\x89PNG"
    assert "| 3 | 16 | 12.5 [" in pilot_table(pilot, 4)


@pytest.mark.slow
def test_sdft_arm_trains_through_trls_own_trainer_and_leaves_a_loadable_adapter(tiny_llama, tmp_path):
    import torch
    from sdft_arm import train_sdft

    from expo_lite.config import load_config
    from expo_lite.data.tasks import answer_format, load_task
    from expo_lite.models.loader import load_adapter_weights, load_model

    cfg = load_config(None, [f"model.name={tiny_llama}", "model.backend=hf", "model.load_in_4bit=false", "task.levels=[1]",
                             "task.num_problems=8", "algo.num_generations=2", "train.per_device_train_batch_size=4",
                             "train.max_steps=2", "train.max_completion_length=8", "train.learning_rate=1e-2"])
    logs = train_sdft(cfg, load_task(cfg.task).problems, answer_format(cfg.task), tmp_path / "adapter", tmp_path / "work")
    assert logs["step"] == 2 and "sdft/distillation_loss" in logs
    fresh, _ = load_model(cfg)
    before = {n: p.clone() for n, p in fresh.named_parameters() if "lora_B" in n}
    load_adapter_weights(fresh, tmp_path / "adapter")
    after = dict(fresh.named_parameters())
    assert any(not torch.equal(before[n], after[n]) for n in before)  # the distillation moved the adapter


def test_one_evaluation_pass_gives_each_set_its_own_questions_in_order(tiny_llama):
    from replicate import evaluate_model

    from expo_lite.config import load_config
    from expo_lite.data.tasks import load_task
    from expo_lite.models.loader import load_model

    cfg = load_config(None, [f"model.name={tiny_llama}", "model.backend=hf", "model.load_in_4bit=false",
                             "task.levels=[1,2]", "task.num_problems=9", "eval.n=2", "eval.k=2", "eval.max_new_tokens=4"])
    model, tokenizer = load_model(cfg)
    problems = load_task(cfg.task).problems
    sets = {"unsolved": problems[:13], "held_out": problems[13:]}  # 13 + 5: the first decode holds both sets
    out = evaluate_model(model, tokenizer, sets, cfg, seed=3)
    assert {name: [r["problem_id"] for r in rows] for name, rows in out.items()} == \
        {name: [p.id for p in ps] for name, ps in sets.items()}
