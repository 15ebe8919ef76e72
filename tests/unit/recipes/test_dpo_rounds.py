"""ExP-DPO rounds (recipes/dpo.py): slices, online regeneration, resume, the embedded model, a round without
pairs."""

from __future__ import annotations

import json

import pytest
import torch
from transformers import TrainerCallback
from typer.testing import CliRunner

from expo_lite.algorithms.explain import completion_ids_for
from expo_lite.cli import app
from expo_lite.core.logprobs import score_completions
from expo_lite.data.prompts import standard_prompt
from expo_lite.data.tasks import load_task
from expo_lite.models.loader import load_adapter_weights, load_model
from expo_lite.recipes.dpo import _load_pairs, completed_rounds, round_slices, train_exp_dpo
from expo_lite.run.rundir import create_run_dir
from expo_lite.verify.answers import is_correct

from helpers import dpo_config


class InterruptRound(TrainerCallback):
    """Ctrl-C during the given round's first training step (counted by DPOTrainer starts)."""

    def __init__(self, round_number: int):
        self.round_number, self.starts = round_number, 0

    def on_train_begin(self, args, state, control, **kwargs):
        self.starts += 1

    def on_step_begin(self, args, state, control, **kwargs):
        if self.starts == self.round_number:
            raise KeyboardInterrupt


def test_round_slices_cover_every_question_once():
    assert [list(s) for s in round_slices(7, 3)] == [[0, 1, 2], [3, 4], [5, 6]]


def test_online_rounds_regenerate_from_the_current_policy(tiny_llama, tmp_path):
    cfg = dpo_config(tiny_llama, tmp_path, mode="online", rounds=2)
    model, tok = load_model(cfg)
    run = create_run_dir(cfg)
    train_exp_dpo(cfg, run, model, tok, load_task(cfg.task).problems, "hash")
    assert completed_rounds(run.path) == 2
    round2 = _load_pairs(run.path / "pairs_round1.jsonl")
    assert round2 and all(p.round == 1 for p in round2)

    fresh, tok = load_model(cfg)
    prompts = [tok(standard_prompt(tok, p.question, "hash", cfg.prompt), add_special_tokens=False)["input_ids"] for p in round2]
    chosen = [completion_ids_for(tok, p.chosen) for p in round2]
    initial = score_completions(fresh, prompts, chosen, tok.pad_token_id)
    load_adapter_weights(fresh, run.path / "round0" / "adapter")
    after_round1 = score_completions(fresh, prompts, chosen, tok.pad_token_id)
    for pair, before, now in zip(round2, initial, after_round1, strict=True):
        # round 2 was built with the round-1 policy (equal up to 4-bit batch-composition noise) ...
        assert pair.chosen_mean_logprob == pytest.approx(now.mean_logprob, rel=1e-4)
        # ... which round 1 really changed: far outside that noise
        assert abs(now.mean_logprob - before.mean_logprob) > 20 * abs(pair.chosen_mean_logprob - now.mean_logprob)
    rounds = [json.loads(x) for x in run.metrics_path.read_text().splitlines() if '"round_end"' in x]
    assert [r["round"] for r in rounds] == [1, 2] and all("rewards/margins" in r for r in rounds)
    assert (run.adapter_path / "adapter_config.json").is_file() and not (run.adapter_path / "ref").exists()


def test_interrupted_online_run_resumes_at_the_right_round(tiny_llama, tmp_path):
    cfg = dpo_config(tiny_llama, tmp_path, mode="online", rounds=3)
    problems = load_task(cfg.task).problems
    model, tok = load_model(cfg)
    run = create_run_dir(cfg)
    with pytest.raises(KeyboardInterrupt):
        train_exp_dpo(cfg, run, model, tok, problems, "hash", callbacks=[InterruptRound(2)])
    assert completed_rounds(run.path) == 1
    round1_pairs = (run.path / "pairs_round0.jsonl").read_text()
    round2_pairs = (run.path / "pairs_round1.jsonl").read_text()  # built before the interrupt

    model, tok = load_model(cfg)
    before = {n: p.detach().clone() for n, p in model.named_parameters() if "lora_B" in n}
    train_exp_dpo(cfg, run, model, tok, problems, "hash")
    assert completed_rounds(run.path) == 3
    assert (run.path / "pairs_round0.jsonl").read_text() == round1_pairs  # round 1 not redone
    assert (run.path / "pairs_round1.jsonl").read_text() == round2_pairs  # round 2's pairs reused, not resampled
    ends = [json.loads(x)["round"] for x in run.metrics_path.read_text().splitlines() if '"round_end"' in x]
    assert ends == [1, 2, 3]
    assert any(not torch.equal(before[n], p) for n, p in model.named_parameters() if n in before)


@pytest.mark.slow
def test_exp_dpo_offline_on_the_embedded_model(embedded_model, tmp_path):
    result = CliRunner().invoke(app, [
        "train", "--no-tui", "--set", "algo.name=exp_dpo", "--set", "task.levels=[1]", "--set", "task.num_problems=6",
        "--set", "algo.num_generations=2", "--set", "train.max_completion_length=48", "--set", "explain.num_tries=3",
        "--set", "explain.max_new_tokens=96", "--set", "train.per_device_train_batch_size=2",
        "--set", f"train.output_dir={tmp_path}",
    ])
    assert result.exit_code == 0, result.output
    run = tmp_path / "demo"
    pairs = [json.loads(x) for x in (run / "pairs_round0.jsonl").read_text().splitlines()]
    assert pairs and all(p["chosen_source"] == "self_explanation" for p in pairs)
    assert all(is_correct(p["chosen"], p["answer"]) and not is_correct(p["rejected"], p["answer"]) for p in pairs)
    assert (run / "adapter" / "adapter_config.json").is_file()
    assert json.loads((run / "round_state.json").read_text()) == {"completed_rounds": 1, "rounds": 1}


def test_a_round_without_pairs(tiny_llama, tmp_path):
    """A random model never writes a valid self-explanation: an online round with no pairs is skipped
    and recorded (the next round asks other questions); a run where no round had any pair is an error."""
    cfg = dpo_config(tiny_llama, tmp_path, mode="online", rounds=2, positive_source="self_explanation")
    cfg.explain.max_new_tokens, cfg.explain.num_tries = 8, 1
    model, tok = load_model(cfg)
    run = create_run_dir(cfg)
    with pytest.raises(ValueError, match="no preference pairs could be built.*explain.num_tries"):
        train_exp_dpo(cfg, run, model, tok, load_task(cfg.task).problems, "hash")
    assert completed_rounds(run.path) == 1  # round 1 was skipped and recorded; round 2 had nothing either
    (end,) = [json.loads(x) for x in run.metrics_path.read_text().splitlines() if '"round_end"' in x]
    assert end["round"] == 1 and end["pairs"] == 0 and end["skipped_round"] is True
    assert (run.path / "round0" / "adapter" / "adapter_config.json").is_file()  # what --resume restarts from
