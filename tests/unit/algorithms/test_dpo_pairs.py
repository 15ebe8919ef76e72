"""ExP-DPO's preference pairs (algorithms/dpo_pairs.py): built right, skips counted, real rollouts, never cut."""

from __future__ import annotations

import json

from expo_lite.algorithms.dpo_pairs import (
    SKIP_NO_CHOSEN,
    SKIP_NO_REJECTED,
    PairSampling,
    assemble_pairs,
    build_pairs,
)
from expo_lite.core.sampling import Generation
from expo_lite.data.prompts import standard_prompt, user_text
from expo_lite.data.tasks import Problem, load_task
from expo_lite.models.loader import load_model
from expo_lite.verify.answers import is_correct

from helpers import dpo_config, load_tiny


def test_pairs_are_built_right_and_skips_are_counted(tiny_llama, tmp_path):
    cfg = dpo_config(tiny_llama, tmp_path)
    model, tok = load_model(cfg)
    problems = [
        Problem("a", "Tom has 3 apples and buys 4 more. How many?", "7", "3 + 4 = 7.", 1),
        Problem("b", "What is 17 + 25?", "42", None, 2),  # no expert solution -> no chosen
        Problem("c", "What is 2 + 2?", "4", "2 + 2 = 4.", 1),  # every rollout right -> nothing to reject
    ]
    prompts = [standard_prompt(tok, p.question, "hash", cfg.prompt) for p in problems]
    ids = tok(" x", add_special_tokens=False)["input_ids"]

    def gen(text, truncated=False):
        return Generation([], ids, text, truncated)

    rollouts = [
        [gen("3 + 4 = 8\n#### 8"), gen("so many apples", truncated=True), gen("3 + 4 = 34\n#### 34")],
        [gen("#### 41")],
        [gen("2 + 2 = 4\n#### 4"), gen("#### 4")],
    ]
    chosen = ["3 + 4 = 7.\n#### 7", None, "2 + 2 = 4.\n#### 4"]
    result = assemble_pairs(model, tok, problems, prompts, rollouts, chosen, "hash", PairSampling.from_config(cfg))
    assert result.skipped == {SKIP_NO_CHOSEN: 1, SKIP_NO_REJECTED: 1}
    assert result.rollouts == 6 and result.correct_rollouts == 2
    (pair,) = result.pairs
    assert pair.problem_id == "a" and is_correct(pair.chosen, "7") and not is_correct(pair.rejected, "7")
    assert pair.rejected in ("3 + 4 = 8\n#### 8", "3 + 4 = 34\n#### 34")  # a finished wrong answer, not the cut-off one
    assert pair.prompt == [{"role": "user", "content": user_text(problems[0].question, "hash", cfg.prompt)}]
    assert "correct final answer" not in json.dumps(pair.prompt)
    assert pair.chosen_mean_logprob < 0 and pair.rejected_mean_logprob < 0


def test_build_pairs_samples_real_rollouts(tiny_llama, tmp_path):
    cfg = dpo_config(tiny_llama, tmp_path)
    model, tok = load_model(cfg)
    problems = load_task(cfg.task).problems
    result = build_pairs(model, tok, problems, "hash", PairSampling.from_config(cfg))
    assert result.rollouts == len(problems) * 2
    assert len(result.pairs) + sum(result.skipped.values()) == len(problems)
    for pair in result.pairs:
        assert is_correct(pair.chosen, pair.answer) and not is_correct(pair.rejected, pair.answer)


def test_pairs_too_long_for_max_seq_length_are_left_out_and_counted_never_cut(tiny_llama, tmp_path):
    """TRL cuts the end of a pair longer than its max_length (the chosen answer line); Unsloth's DPOTrainer lowers
    max_length to the model's max_seq_length. Each pair is trained whole or left out and counted, and the trainer's
    max_length is the longest pair trained."""
    from expo_lite.algorithms.dpo_pairs import Pair, fitting_pairs, pair_lengths

    model, tok = load_tiny(tiny_llama, load_in_4bit=False)
    prompt = [{"role": "user", "content": "What is 2 + 2?"}]
    short = Pair("a", 0, "q", "4", 1, prompt, "2 + 2 = 4. #### 4", "5", "expert_cot", -1.0, -1.0)
    long = Pair("b", 0, "q", "4", 1, prompt, "two " * 300 + "#### 4", "5", "expert_cot", -1.0, -1.0)
    lengths = pair_lengths(tok, [short, long])
    templated = tok.apply_chat_template(prompt + [{"role": "assistant", "content": short.chosen}], tokenize=False)
    assert lengths[0] == len(tok(templated, add_special_tokens=False)["input_ids"]) and lengths[1] > 300
    kept, skipped, longest = fitting_pairs(tok, [short, long], max_seq_length=200)
    assert kept == [short] and skipped == 1 and longest == lengths[0]
    assert fitting_pairs(tok, [long], max_seq_length=200) == ([], 1, 0)
