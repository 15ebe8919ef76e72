"""The replication's design rule (U / U0 from the pilot, equal updates), the GSM8K copy it reads, its report
(seed-paired comparisons, Holm, the design kept verbatim, relative paths) and the SDFT arm through TRL's trainer."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from replicate import (  # noqa: E402
    SETTINGS,
    pilot_and_held_out,
    question_sets,
    rel,
    schedule,
    split_unsolved,
    write_question_file,
)
from replicate_report import (  # noqa: E402
    comparisons,
    curve_table,
    design_markdown,
    outcome_table,
    signal_table,
    write_report,
)

from expo_lite.stats import holm, paired_over_seeds  # noqa: E402


def pilot_rows(spec):
    """(level, solved, explained) triples -> the pilot's per-question records."""
    return [{"problem_id": f"L{lv}-{i:02d}", "level": lv, "solved": s, "greedy": s, "explained": e}
            for i, (lv, s, e) in enumerate(spec)]


def test_design_rule_trains_on_unsolved_explainable_questions_and_keeps_unexplainable_ones_as_control():
    rows = pilot_rows([(1, True, True), (1, False, True), (1, False, True), (1, False, False), (4, False, True),
                       (4, False, False), (4, True, False), (5, False, False)])
    train, control = split_unsolved(rows, max_train=10, max_control=10)
    assert train == ["L1-01", "L4-04", "L1-02"]  # levels in turn; solved L1-00 is out though it was explained
    assert control == ["L1-03", "L4-05", "L5-07"]
    # a cap takes the levels in turn instead of filling up from the first level
    assert split_unsolved(rows, max_train=2, max_control=2) == (["L1-01", "L4-04"], ["L1-03", "L4-05"])
    assert split_unsolved(pilot_rows([(1, True, True)]), 4, 4) == ([], [])


def test_every_arm_gets_the_same_number_of_updates_and_sees_each_question_epochs_times():
    s = replace(SETTINGS["arithmetic"], questions_per_step=4, epochs=3)
    assert schedule(8, s) == {"questions_per_step": 4, "steps_per_epoch": 2, "steps": 6}
    assert schedule(7, s)["steps"] == 6  # the last step of an epoch wraps into the next pass
    assert schedule(3, s) == {"questions_per_step": 3, "steps_per_epoch": 1, "steps": 3}


def test_gsm8k_setting_reads_the_committed_copy_with_real_solutions_and_holds_out_unseen_rows(tmp_path):
    from expo_lite.config import load_config
    from expo_lite.data.tasks import load_task

    setting = replace(SETTINGS["gsm8k"], held_out_per_level=5)  # the default design holds none out: ask for 5
    cfg = load_config(None, list(setting.task))
    pilot, held_out_for = pilot_and_held_out(cfg, setting)
    held_out = held_out_for([])
    assert len(pilot) == setting.pilot_per_level and len(held_out) == setting.held_out_per_level
    assert not {p.id for p in pilot} & {p.id for p in held_out}
    first = pilot[0]  # the first line of GSM8K's training split, its human solution without calculator marks
    assert first.question.startswith("Natalia sold clips to 48 of her friends") and first.answer == "72"
    assert "<<" not in first.solution and "48/2 = 24" in first.solution
    # a design's sets are rebuilt from their ids (how a --resume gets the same questions)
    design = {"train_ids": [pilot[3].id, pilot[1].id], "control_ids": [pilot[0].id], "held_out_ids": [p.id for p in held_out]}
    sets = question_sets(cfg, setting, design)
    assert {k: [p.id for p in v] for k, v in sets.items()} == \
        {"train": design["train_ids"], "control": design["control_ids"], "held_out": design["held_out_ids"]}
    with pytest.raises(SystemExit, match="held-out questions differ"):
        question_sets(cfg, setting, {**design, "held_out_ids": design["held_out_ids"][::-1]})
    # the arms train on a question file in MATH-500's schema: it reads back as the same problems
    path = write_question_file(pilot[:3], tmp_path / "train.jsonl")
    again = load_task(load_config(None, ["task.name=math", f"task.path={path.parent}", "task.split=train",
                                         "task.levels=null", "task.answer_format=hash"]).task).problems
    assert [(p.id, p.question, p.answer, p.solution) for p in again] == \
        [(p.id, p.question, p.answer, p.solution) for p in pilot[:3]]


def results(ids, greedy, correct, n=4):
    return [{"problem_id": i, "level": 3, "type": None, "n": n, "correct": c, "greedy_correct": g}
            for i, g, c in zip(ids, greedy, correct, strict=True)]


def arm(name, seed, greedy, curve=()):
    ids = [f"q{i:02d}" for i in range(len(greedy))]
    return {"arm": name, "seed": seed, "train": results(ids, greedy, greedy), "control": results(ids[:2], [0, 0], [0, 0]),
            "held_out": results(ids, greedy, greedy), "curve": list(curve), "train_s": 1.0, "eval_s": 2.0}


def test_report_pairs_seeds_adjusts_the_whole_family_and_keeps_the_design_verbatim(tmp_path):
    curve = [{"step": s, "reward": 0.1 * s, "expo/all_wrong_frac": 1 - 0.1 * s, "expo/sft_loss": 1.0,
              "grad_norm": 0.1 * (s % 2), "expo/positives": s % 3} for s in (1, 2, 3, 4)]
    outcomes = {"arithmetic": {
        "base": arm("base", 0, [0] * 6),
        **{f"grpo@seed{s}": arm("grpo", s, [0, 0, 0, 0, 0, s % 2], [{"step": i, "reward": 0.0} for i in (1, 2, 3, 4)])
           for s in (0, 1, 2)},
        **{f"exp-grpo@seed{s}": arm("exp-grpo", s, [1, 1, 1, 0, s % 2, 0], curve) for s in (0, 1, 2)},
    }}
    rows = comparisons(outcomes, k=4)
    assert {(r["a"], r["b"]) for r in rows} == {("exp-grpo", "grpo")}  # the other arms did not run
    train_greedy = next(r for r in rows if r["set"] == "train" and r["metric"] == "greedy")
    expect = paired_over_seeds([[1, 1, 1, 0, s % 2, 0] for s in (0, 1, 2)], [[0, 0, 0, 0, 0, s % 2] for s in (0, 1, 2)])
    assert train_greedy["result"] == expect and train_greedy["seeds"] == [0, 1, 2]
    # q0-q2 better in every seed, q4 better in seed 1, q5 worse in seed 1: 4 questions up, 1 down
    assert expect.p_value == pytest.approx(0.375)
    assert [r["holm_p"] for r in rows] == pytest.approx(holm([r["result"].p_value for r in rows]))
    assert len(rows) == 6  # U, U0, held-out x greedy, pass@4

    table = outcome_table(outcomes["arithmetic"], k=4)
    assert "| ExP-GRPO | 3 | 55.6 [" in table and "| base | – | 0.0 [" in table
    curves = curve_table(outcomes["arithmetic"], steps_per_epoch=2)
    assert "| ExP-GRPO | 0.15 ± 0.00 | 0.35 ± 0.00 | 0.85 ± 0.00 | 0.65 ± 0.00 | 1.00 ± 0.00 | 1.00 ± 0.00 |" in curves
    assert "| GRPO | 0.00 ± 0.00 | 0.00 ± 0.00 | – | – | – | – |" in curves
    # counts over 4 steps x 3 seeds: updates at odd steps; (0.9 + 0.8 + 0.7 + 0.6) x 3 questions; 1+2+0+1 positives
    signal = signal_table(outcomes["arithmetic"], questions_per_step=3)
    assert "| ExP-GRPO | 6 / 12 | 27 / 36 | 12 / 36 |" in signal
    assert "| GRPO | – | – | – |" in signal  # curves without those keys (an older run) count nothing

    design = {"setting": {"max_new_tokens": 64, "max_train": 8, "max_control": 8, "epochs": 2}, "steps": 4,
              "steps_per_epoch": 2, "questions_per_step": 3, "sizes": {"train": 6, "control": 2, "held_out": 6},
              "train_ids": [f"q{i:02d}" for i in range(6)], "control_ids": [], "arms": ["grpo", "exp-grpo"],
              "seeds": [0, 1, 2], "generations": 4, "k": 4, "lr": 1e-4, "pilot_tries": 4, "eval_seed": 1, "pilot_seed": 2,
              "mdd": {n: {"0.0": 0.5, "0.05": None} for n in ("train", "control", "held_out")}}
    pilot = {"per_question": pilot_rows([(3, False, True)] * 6), "seconds": 60,
             "diagnostic": {"valid_rate": 1.0, "nll_self_explanation": 0.9, "nll_expert": 1.35,
                            "nll_ratio_expert_over_self": 1.5, "paired_questions": 6, "paired_nll_ratio": 1.4}}
    text = design_markdown("arithmetic", design, pilot)
    (tmp_path / "design.md").write_text(text)
    (tmp_path / "design.json").write_text('{"design_written": "2026-12-01 22:00:00"}')
    report = write_report(tmp_path, designs={"arithmetic": design}, outcomes=outcomes,
                          failures={}, options={"k": 4, "out": rel(tmp_path)}, total_s=120, runs="runs/replicate/x")
    out = report.read_text()
    assert text in out and "written to `design.md` at 2026-12-01 22:00:00" in out
    for needle in ("ratio expert/self 1.50", "| U (trained on) | 6 | 50.0 points | not detectable |",
                   "ExP-GRPO vs GRPO", "Holm p", "Holm over all 6 tests", "![training curves](curves_arithmetic.png)"):
        assert needle in out
    assert str(tmp_path) not in out and "/tmp" not in out  # report paths are relative
    for png in ("curves_arithmetic.png", "outcomes_arithmetic.png"):
        assert (tmp_path / png).read_bytes()[:4] == b"\x89PNG"


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


@pytest.mark.slow
def test_arms_train_on_u_keep_their_curves_are_evaluated_on_every_set_and_are_skipped_when_resumed(tiny_llama, tmp_path):
    """run_arms as the design run calls it, on a tiny random model: base + two arms, one seed."""
    import argparse

    from replicate import run_arms
    from rich.console import Console

    from expo_lite.config import load_config

    config = tmp_path / "tiny.yaml"
    config.write_text(f"model:\n  name: {tiny_llama}\n  backend: hf\n  load_in_4bit: false\n")
    setting = replace(SETTINGS["arithmetic"], levels=(1,), pilot_per_level=6, held_out_per_level=2, max_new_tokens=6)
    args = argparse.Namespace(config=config, generations=2, k=2, lr=1e-3)
    problems, held_out_for = pilot_and_held_out(load_config(config, list(setting.task)), setting)
    design = {"train_ids": [p.id for p in problems[:3]], "control_ids": [problems[4].id],
              "held_out_ids": [p.id for p in held_out_for([1])], "seeds": [0], "arms": ["grpo", "exp-grpo"],
              "steps": 4, "questions_per_step": 2}
    outcomes, failures, saves = {}, {}, []
    run_arms("arithmetic", setting, design, args, tmp_path / "runs", outcomes, failures, Console(quiet=True),
             lambda: saves.append(sorted(outcomes)))
    assert not failures and saves[-1] == ["base", "exp-grpo@seed0", "grpo@seed0"]  # saved after each of the three
    for label in ("grpo@seed0", "exp-grpo@seed0"):
        o = outcomes[label]
        assert [m["step"] for m in o["curve"]] == [1, 2, 3, 4] and all("reward" in m for m in o["curve"])
        assert {k: [r["problem_id"] for r in o[k]] for k in ("train", "control", "held_out")} == \
            {"train": design["train_ids"], "control": design["control_ids"], "held_out": design["held_out_ids"]}
        assert all(r["n"] == 2 for r in o["train"]) and o["train_s"] > 0
        assert all("expo/all_wrong_frac" in m and "grad_norm" in m for m in o["curve"])
        assert o["run"] == label  # outside the repository: the directory's name, never a machine path
    assert all("expo/positives" in m for m in outcomes["exp-grpo@seed0"]["curve"])
    assert outcomes["base"]["curve"] == [] and outcomes["base"]["train_s"] == 0
    trained = sorted(p.name for p in (tmp_path / "runs" / "arithmetic").iterdir() if p.is_dir())
    assert trained == ["exp-grpo@seed0", "grpo@seed0"]
    # every arm trained on U only: the question file holds exactly U
    lines = (tmp_path / "runs" / "arithmetic" / "train.jsonl").read_text().splitlines()
    assert [json.loads(line)["unique_id"] for line in lines] == design["train_ids"]
    run_arms("arithmetic", setting, design, args, tmp_path / "runs", outcomes, failures, Console(quiet=True),
             lambda: saves.append("again"))
    assert "again" not in saves  # resumed with everything done: nothing trains or evaluates again
