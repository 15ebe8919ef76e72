"""One decode for rows that differ in temperature and length: greedy rows token-identical to
`model.generate`'s greedy decoding, sampled rows drawn from the same distribution (token-identical under
the same seed), every row cut at its own limit; and ExP-GRPO's explanation tries riding in TRL's rollout
call without changing what TRL sees."""

from __future__ import annotations

import pytest
import torch

from expo_lite.config import ExpoConfig
from expo_lite.core.sampling import Row, RowSampling, decode, generate

from helpers import CPU_ARGS, load_tiny

PROMPTS = ["What is 3 + 4?", "Tom has 3 apples and buys 5 more. How many?", "Half of 8?", "0 1 2 3"]


@pytest.fixture(scope="module")
def tiny(tiny_llama):
    return load_tiny(tiny_llama, load_in_4bit=False)


def _ids(tok, text):
    return tuple(tok(text, add_special_tokens=False)["input_ids"])


def test_processor_gives_transformers_own_temperature_distribution():
    from transformers.generation.logits_process import TemperatureLogitsWarper

    torch.manual_seed(0)
    scores = torch.randn(3, 50) * 4
    rows = [Row((1,), 0.7, 10), Row((1, 2), 1.3, 10), Row((1,), 0.0, 10)]
    ours = RowSampling(rows, prompt_width=2, eos_id=0)(torch.zeros(3, 2, dtype=torch.long), scores)
    for i, t in enumerate((0.7, 1.3)):
        expected = TemperatureLogitsWarper(t)(None, scores[i : i + 1])
        torch.testing.assert_close(ours[i : i + 1].softmax(-1), expected.softmax(-1))
    greedy = ours[2].softmax(-1)
    assert greedy.argmax() == scores[2].argmax() and greedy.max() == 1.0  # all mass on the argmax


def test_rows_past_their_limit_can_only_end():
    rows = [Row((1,), 1.0, 3), Row((1,), 1.0, 5)]
    scores = torch.zeros(2, 10)
    out = RowSampling(rows, prompt_width=1, eos_id=7)(torch.zeros(2, 4, dtype=torch.long), scores)  # 3 generated
    assert out[0].argmax() == 7 and torch.isinf(out[0]).sum() == 9 and not torch.isinf(out[1]).any()


def test_greedy_rows_are_token_identical_to_generate_even_beside_sampled_rows(tiny):
    model, tok = tiny
    reference = [g[0].completion_ids for g in _hf_generate(model, tok, PROMPTS, 12, sample=False)]
    greedy = [Row(_ids(tok, tok.apply_chat_template([{"role": "user", "content": p}], tokenize=False,
                                                   add_generation_prompt=True)), 0.0, 12) for p in PROMPTS]
    sampled = [Row(r.prompt_ids, 1.0, 20) for r in greedy]
    alone = [g.completion_ids for g in decode(model, tok, greedy)]
    mixed = decode(model, tok, sampled[:2] + greedy + sampled[2:])
    assert alone == reference
    assert [g.completion_ids for g in mixed[2:6]] == reference  # the greedy rows, decoded with sampled ones
    assert all(len(g.completion_ids) <= 20 for g in mixed) and all(len(g.completion_ids) <= 12 for g in mixed[2:6])


def test_sampled_rows_match_generate_under_the_same_seed(tiny):
    model, tok = tiny
    prompts = [tok.apply_chat_template([{"role": "user", "content": p}], tokenize=False, add_generation_prompt=True)
               for p in PROMPTS]
    torch.manual_seed(3)
    reference = _hf_generate(model, tok, prompts, 16, sample=True, templated=True)
    torch.manual_seed(3)
    ours = generate(model, tok, prompts, max_new_tokens=16, temperature=0.8)
    assert [g[0].completion_ids for g in ours] == [g[0].completion_ids for g in reference]
    assert [g[0].truncated for g in ours] == [g[0].truncated for g in reference]


def test_each_row_stops_at_its_own_limit(tiny):
    model, tok = tiny
    ids = _ids(tok, "0 1 2 3")
    out = decode(model, tok, [Row(ids, 1.0, 3), Row(ids, 1.0, 9), Row(ids, 0.0, 1)])
    assert [len(g.completion_ids) <= n for g, n in zip(out, (3, 9, 1), strict=True)] == [True, True, True]
    for g, n in zip(out, (3, 9, 1), strict=True):
        assert g.truncated == (tok.eos_token_id not in g.completion_ids) and (g.truncated <= (len(g.completion_ids) == n))


def test_rows_end_at_every_eos_id_of_the_models_generation_config(tiny_llama):
    """Llama-3.2-Instruct's generation config lists three EOS ids (<|end_of_text|>, <|eom_id|>, <|eot_id|>) and
    TRL's rollouts stop on all of them; a row of ours must too, not run on to the tokenizer's one EOS."""
    from expo_lite.core.sampling import eos_ids

    model, tok = load_tiny(tiny_llama, load_in_4bit=False)
    ids = _ids(tok, "0 1 2 3")
    plain = decode(model, tok, [Row(ids, 0.0, 12)])[0]
    first = plain.completion_ids[0]
    assert first != tok.eos_token_id, "the test needs a first token that is not the tokenizer's EOS"
    model.generation_config.eos_token_id = [first, tok.eos_token_id]
    assert eos_ids(tok, model) == [tok.eos_token_id, first]
    ended = decode(model, tok, [Row(ids, 0.0, 12), Row(ids, 1.0, 12)])
    assert ended[0].completion_ids == [first] and not ended[0].truncated  # greedy: the same first token, then stop
    stops = {first, tok.eos_token_id}
    assert all(not (set(g.completion_ids[:-1]) & stops) for g in ended)


def _hf_generate(model, tok, prompts, max_new, sample, templated=False):
    """model.generate on the same left-padded batch: the reference."""
    from expo_lite.core.sampling import Generation, _cut_at_eos, inference_mode

    texts = prompts if templated else [tok.apply_chat_template([{"role": "user", "content": p}], tokenize=False,
                                                               add_generation_prompt=True) for p in prompts]
    tok.padding_side = "left"
    enc = tok(texts, return_tensors="pt", padding=True, add_special_tokens=False)
    kwargs = dict(do_sample=True, temperature=0.8, top_k=0, top_p=1.0) if sample else dict(do_sample=False)
    with inference_mode(model), torch.no_grad():
        out = model.generate(**enc, max_new_tokens=max_new, pad_token_id=tok.pad_token_id,
                             eos_token_id=tok.eos_token_id, **kwargs)
    width = enc["input_ids"].shape[1]
    result = []
    for i in range(len(texts)):
        ids, cut = _cut_at_eos(out[i, width:].tolist(), tok.eos_token_id)
        result.append([Generation([], ids, tok.decode(ids, skip_special_tokens=True), cut)])
    return result


# ------------------------------------------------------------------ ExP-GRPO: explanations ride along


@pytest.mark.slow
@pytest.mark.parametrize("explain_on", ["all", "unsolved"])
def test_explanation_tries_ride_in_trls_rollout_call(tiny_llama, tmp_path, explain_on):
    """With the tries in TRL's call: one generate call per step instead of two, the same questions judged as
    with a call of their own, and TRL's rollouts (what it scores and trains on) are ordinary completions."""
    import transformers.generation.utils as gen

    from expo_lite.algorithms.grpo import ExPGRPOConfig, ExPGRPOTrainer
    from expo_lite.config import ExplainConfig
    from expo_lite.data.tasks import load_task
    from expo_lite.recipes.train import build_prompt_dataset

    def one_step(mode):
        model, tok = load_tiny(tiny_llama, load_in_4bit=False)
        cfg = ExpoConfig.model_validate({"task": {"levels": [1], "num_problems": 4}})
        data, problems = build_prompt_dataset(load_task(cfg.task).problems, "hash", cfg.prompt, cfg.train.max_prompt_length, tok)[0], load_task(cfg.task).problems
        solved_ids = {problems[0].id}

        def half_solved(completions, problem_id, **_):
            return [1.0 if pid in solved_ids else 0.0 for pid in problem_id]

        calls = {"n": 0, "rows": []}
        original = gen.GenerationMixin.generate

        def counting(self, *args, **kwargs):
            calls["n"] += 1
            calls["rows"].append(kwargs["input_ids"].shape[0])
            return original(self, *args, **kwargs)

        gen.GenerationMixin.generate = counting
        captured = []
        try:
            args = ExPGRPOConfig(output_dir=str(tmp_path / mode), max_steps=1, per_device_train_batch_size=8,
                                 num_generations=2, max_completion_length=6, explain_on=explain_on,
                                 gradient_checkpointing=False, shuffle_dataset=False, **CPU_ARGS)
            trainer = ExPGRPOTrainer(model=model, reward_funcs=[half_solved], args=args, train_dataset=data,
                                     processing_class=tok, on_explanations=captured.extend,
                                     explain_config=ExplainConfig(num_tries=2, max_new_tokens=5, sampling=mode))
            trainer.train()
        finally:
            gen.GenerationMixin.generate = original
        log = trainer.state.log_history[0]
        return {"calls": calls["n"], "rows": calls["rows"], "judged": sorted(r.problem_id for r in captured),
                "tries": [len(r.try_reasons) for r in captured], "mean_length": log["completions/mean_length"]}

    seen = {mode: one_step(mode) for mode in ("with_rollouts", "separate")}
    joint, separate = seen["with_rollouts"], seen["separate"]
    expected = 4 if explain_on == "all" else 3  # one of the 4 groups is solved
    assert joint["calls"] == 1 and joint["rows"] == [8 + 4 * 2]  # 8 rollouts + 4 questions x 2 tries, one call
    assert separate["calls"] == 2 and separate["rows"] == [8, expected * 2]
    assert joint["judged"] == separate["judged"] and len(joint["judged"]) == expected
    assert joint["tries"] == [2] * expected
    assert 1 <= joint["mean_length"] <= 6  # TRL's completions stop at its own limit, not the explanations'
