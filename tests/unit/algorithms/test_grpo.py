"""ExP-GRPO on TRL's GRPOTrainer: reduction to plain GRPO, the ExPO effect, explain_on, the beta
schedules, and the exact SFT gradient under gradient accumulation."""

from __future__ import annotations

import copy

import pytest
import torch
from trl import GRPOConfig, GRPOTrainer

from expo_lite.algorithms.explain import completion_ids_for, training_target
from expo_lite.algorithms.grpo import ExPGRPOConfig, ExPGRPOTrainer
from expo_lite.algorithms.schedules import beta_at
from expo_lite.algorithms.sft import collate, nll_sum
from expo_lite.config import ExplainConfig, ExpoConfig, PromptConfig
from expo_lite.core.logprobs import score_completions
from expo_lite.data.prompts import standard_prompt
from expo_lite.data.tasks import load_task
from expo_lite.models.loader import load_model
from expo_lite.recipes.train import build_prompt_dataset
from expo_lite.verify.answers import correctness_reward

from helpers import CPU_ARGS, load_tiny, lora_state

COMMON = dict(**CPU_ARGS, logging_steps=1, disable_tqdm=True, seed=0, beta=0.0, temperature=1.0, max_grad_norm=1e9,
              gradient_checkpointing=False)


def tiny(model_dir, r=4):
    return load_tiny(model_dir, load_in_4bit=False, gradient_checkpointing=False, lora={"r": r, "alpha": 8})


def dataset_for(tokenizer, n, levels=(1,), fmt="hash"):
    cfg = ExpoConfig.model_validate({"task": {"levels": list(levels), "num_problems": n}})
    problems = load_task(cfg.task).problems[:n]
    return build_prompt_dataset(problems, fmt, cfg.prompt, cfg.train.max_prompt_length, tokenizer)[0], problems


def alternating_reward(completions, **_):
    """Rewards with variance inside every group make advantages non-zero, so the weights really move (the
    peaked tiny model samples near-identical completions, so a reward of the text alone would not)."""
    return [float(i % 2) for i in range(len(completions))]


def zero_reward(completions, **_):
    return [0.0 for _ in completions]


# ------------------------------------------------------------------------------------- reduction


def test_positive_source_none_is_exactly_trl_grpo(tiny_llama, tmp_path):
    runs = {}
    for name, trainer_cls, config_cls, extra in [
        ("trl", GRPOTrainer, GRPOConfig, {}),
        ("ours", ExPGRPOTrainer, ExPGRPOConfig, {"positive_source": "none", "sft_beta": 0.04}),
    ]:
        model, tok = tiny(tiny_llama)
        data, _ = dataset_for(tok, 6)
        args = config_cls(output_dir=str(tmp_path / name), max_steps=3, per_device_train_batch_size=4,
                          num_generations=2, max_completion_length=8, learning_rate=5e-3, **COMMON, **extra)
        trainer = trainer_cls(model=model, reward_funcs=[alternating_reward], args=args, train_dataset=data, processing_class=tok)
        trainer.train()
        losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
        runs[name] = (losses, lora_state(model))
    (trl_losses, trl_w), (our_losses, our_w) = runs["trl"], runs["ours"]
    assert len(trl_losses) == 3 and our_losses == trl_losses
    initial_b = [n for n in trl_w if "lora_B" in n]
    assert any(trl_w[n].abs().sum() > 0 for n in initial_b), "weights should have moved for the test to mean anything"
    assert trl_w.keys() == our_w.keys() and all(torch.equal(trl_w[n], our_w[n]) for n in trl_w)



def test_a_dataset_smaller_than_one_generation_batch_is_refused_by_the_trainer(tiny_llama, tmp_path):
    """TRL's sampler drops an incomplete generation batch: 3 prompts for a batch of 4 would train 0 steps and
    report success. The trainer itself refuses, so notebook users who build it by hand are told too."""
    model, tok = tiny(tiny_llama)
    data, _ = dataset_for(tok, 3)
    args = ExPGRPOConfig(output_dir=str(tmp_path), max_steps=1, per_device_train_batch_size=8, num_generations=2,
                         **COMMON)
    with pytest.raises(ValueError, match=r"train_dataset has 3 prompt\(s\) but one generation batch takes 4: "
                                         r"per_device_train_batch_size \(8\) x 1 process\(es\)"):
        ExPGRPOTrainer(model=model, reward_funcs=[zero_reward], args=args, train_dataset=data, processing_class=tok)


# ------------------------------------------------------------------------------------- the ExPO effect


@pytest.mark.slow
def test_all_wrong_batch_grpo_learns_nothing_expo_learns_the_explanation(embedded_model, tmp_path):
    _, tok, _, _ = embedded_model
    results = {}
    for source in ("none", "self_explanation"):
        model, tok = load_model(ExpoConfig.model_validate({"model": {"backend": "hf"}, "lora": {"r": 8, "alpha": 16}}))
        data, _ = dataset_for(tok, 2)
        captured = []
        args = ExPGRPOConfig(
            output_dir=str(tmp_path / source), max_steps=1, per_device_train_batch_size=4, num_generations=2,
            # 4 tokens cannot hold a final answer: every rollout is wrong, every group has zero advantage
            max_completion_length=4, learning_rate=5e-4, positive_source=source, sft_beta=0.04, **COMMON)
        trainer = ExPGRPOTrainer(
            model=model, reward_funcs=[correctness_reward], args=args, train_dataset=data, processing_class=tok,
            # greedy explanations: the embedded model explains these level-1 questions validly at temperature 0
            # (measured), so the test does not depend on sampling luck
            explain_config=ExplainConfig(num_tries=1, max_new_tokens=96, temperature=0.0),
            on_explanations=captured.extend)
        before = lora_state(model)
        torch.manual_seed(1)
        trainer.train()
        log = trainer.state.log_history[0]
        assert log["frac_reward_zero_std"] == 1.0 and log["reward"] == 0.0
        results[source] = (model, before, lora_state(model), captured, log)

    model, before, after, _, _ = results["none"]
    assert all(torch.equal(before[n], after[n]) for n in before), "plain GRPO must not move on an all-wrong batch"

    model, before, after, captured, log = results["self_explanation"]
    valid = [r for r in captured if r.valid]
    assert valid, f"no valid self-explanation in {[r.try_reasons for r in captured]}: the test cannot show the effect"
    assert log["expo/all_wrong_frac"] == 1.0 and log["expo/positives"] == len(valid)
    assert any(not torch.equal(before[n], after[n]) for n in before), "ExP-GRPO must update on an all-wrong batch"
    prompts, completions = [r.prompt_ids for r in valid], [r.completion_ids for r in valid]
    trained = score_completions(model, prompts, completions, tok.pad_token_id)
    with model.disable_adapter():  # LoRA B starts at zero: the adapter-free model is the pre-step policy
        initial = score_completions(model, prompts, completions, tok.pad_token_id)
    for t, i in zip(trained, initial, strict=True):
        assert t.mean_logprob > i.mean_logprob


# ------------------------------------------------------------------------------------- explain_on


@pytest.mark.parametrize(("explain_on", "expected"), [("unsolved", 2), ("all", 4)])
def test_explain_on_unsolved_explains_only_all_wrong_groups(tiny_llama, tmp_path, explain_on, expected):
    model, tok = tiny(tiny_llama)
    data, problems = dataset_for(tok, 4)
    solved_ids = {problems[0].id, problems[2].id}

    def half_solved(completions, problem_id, **_):
        return [1.0 if pid in solved_ids else 0.0 for pid in problem_id]

    args = ExPGRPOConfig(output_dir=str(tmp_path), max_steps=1, per_device_train_batch_size=8, num_generations=2,
                         max_completion_length=4, learning_rate=1e-3, explain_on=explain_on, **COMMON)
    trainer = ExPGRPOTrainer(model=model, reward_funcs=[half_solved], args=args, train_dataset=data, processing_class=tok,
                             explain_config=ExplainConfig(num_tries=1, max_new_tokens=6))
    trainer.train()
    assert trainer.explained_questions == expected
    log = trainer.state.log_history[0]
    assert log["expo/all_wrong_frac"] == 0.5 and log["expo/explained"] == expected


def test_plain_grpo_logs_the_all_wrong_fraction_its_curves_are_compared_on(tiny_llama, tmp_path):
    """positive_source none: TRL's trainer with one read-only metric added, the same count the ExPO arms log."""
    model, tok = tiny(tiny_llama)
    data, problems = dataset_for(tok, 4)
    solved_ids = {problems[1].id}

    def one_solved(completions, problem_id, **_):
        return [1.0 if pid in solved_ids else 0.0 for pid in problem_id]

    args = ExPGRPOConfig(output_dir=str(tmp_path), max_steps=1, per_device_train_batch_size=8, num_generations=2,
                         max_completion_length=4, learning_rate=1e-3, positive_source="none", **COMMON)
    trainer = ExPGRPOTrainer(model=model, reward_funcs=[one_solved], args=args, train_dataset=data, processing_class=tok)
    trainer.train()
    log = trainer.state.log_history[0]
    assert log["expo/all_wrong_frac"] == 0.75  # 3 of the 4 groups have no correct rollout
    assert trainer.explained_questions == 0 and not any(k.startswith("expo/") and k != "expo/all_wrong_frac" for k in log)


# ------------------------------------------------------------------------------------- beta schedule


@pytest.mark.parametrize(
    ("schedule", "first", "middle", "last"),
    [("constant", 0.04, 0.04, 0.04), ("linear", 0.04, 0.025, 0.01), ("cosine", 0.04, 0.025, 0.01)],
)
def test_beta_schedules(schedule, first, middle, last):
    values = [beta_at(s, 11, 0.04, schedule, 0.01) for s in range(11)]
    assert values[0] == pytest.approx(first) and values[5] == pytest.approx(middle) and values[10] == pytest.approx(last)
    if schedule == "cosine":  # cosine stays above linear in the first half
        assert values[2] > beta_at(2, 11, 0.04, "linear", 0.01)
    with pytest.raises(ValueError, match="constant, linear or cosine"):
        beta_at(0, 10, 0.04, "step")


def test_config_rejects_unknown_choices(tmp_path):
    with pytest.raises(ValueError, match="positive_source must be one of"):
        ExPGRPOConfig(output_dir=str(tmp_path), positive_source="gold", **COMMON)


# ------------------------------------------------------------------------------------- exact SFT gradient


def expected_sft_step(model, tok, problems, beta, lr):
    """w - lr * beta * grad(mean token NLL of the expert targets), computed by hand."""
    ref = copy.deepcopy(model)
    ref.train()
    examples = []
    for p in problems:
        prompt = tok(standard_prompt(tok, p.question, "hash", PromptConfig()), add_special_tokens=False)["input_ids"]
        examples.append((prompt, completion_ids_for(tok, training_target(p.solution, p.answer, "hash"))))
    batch = collate(examples, tok.pad_token_id)
    (beta * nll_sum(ref, batch) / batch.num_tokens).backward()
    return {n: p.detach() - lr * p.grad for n, p in ref.named_parameters() if "lora_" in n and p.grad is not None}


@pytest.mark.parametrize(("batch", "accumulation"), [(4, 1), (2, 2)])
def test_sft_term_gives_the_exact_gradient_with_accumulation(tiny_llama, tmp_path, batch, accumulation):
    model, tok = tiny(tiny_llama)
    torch.manual_seed(0)
    for n, p in model.named_parameters():  # non-zero LoRA B so every LoRA matrix gets a gradient
        if "lora_B" in n:
            p.data.normal_(0, 0.05)
    data, problems = dataset_for(tok, 2)
    beta, lr = 0.5, 0.1
    expected = expected_sft_step(model, tok, problems, beta, lr)
    args = ExPGRPOConfig(output_dir=str(tmp_path), max_steps=1, per_device_train_batch_size=batch,
                         gradient_accumulation_steps=accumulation, num_generations=2, max_completion_length=4,
                         learning_rate=lr, optim="sgd", lr_scheduler_type="constant", weight_decay=0.0,
                         positive_source="expert_cot", sft_beta=beta, shuffle_dataset=False, **COMMON)
    assert args.steps_per_generation == accumulation
    trainer = ExPGRPOTrainer(model=model, reward_funcs=[zero_reward], args=args, train_dataset=data, processing_class=tok)
    trainer.train()
    after = lora_state(model)
    assert expected and set(expected) <= set(after)
    for n, value in expected.items():
        torch.testing.assert_close(after[n], value, rtol=1e-4, atol=1e-6)


# ------------------------------------------------------------------------------------- hidden-states mode


class HiddenStatesAsLogits(torch.nn.Module):
    """Stands in for Unsloth's GPU mode (UNSLOTH_RETURN_HIDDEN_STATES=1), where `.logits` holds the final
    hidden states and `.hidden_states` is passed through; it cannot run on CPU, so the same output contract
    is reproduced from the real model."""

    def __init__(self, model):
        super().__init__()
        self.model = model
        self.config = model.config

    def forward(self, input_ids, attention_mask, use_cache=False, output_hidden_states=False, **_):
        out = self.model(input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=True, use_cache=False)
        return type(out)(logits=out.hidden_states[-1], hidden_states=out.hidden_states if output_hidden_states else None)

    def get_output_embeddings(self):
        return self.model.get_output_embeddings()


def reference_nll(model, batch) -> torch.Tensor:
    """The plain way: full-vocab logits, log_softmax, gather - what the SFT term must equal."""
    logits = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask).logits[:, :-1].float()
    lp = logits.log_softmax(-1).gather(-1, batch.input_ids[:, 1:].unsqueeze(-1)).squeeze(-1)
    return -(lp * batch.loss_mask[:, 1:]).sum()


def test_sft_nll_is_right_whether_logits_or_hidden_states_come_back(tiny_llama):
    model, tok = tiny(tiny_llama)
    model.eval()
    examples = [(tok("What is 3 + 4?")["input_ids"], tok(" 3 + 4 = 7")["input_ids"] + [tok.eos_token_id]),
                (tok("Half of 8?")["input_ids"], tok(" 4")["input_ids"] + [tok.eos_token_id])]
    batch = collate(examples, tok.pad_token_id)
    base = model.get_base_model()
    with torch.no_grad():
        expected = reference_nll(base, batch)
        from_logits = nll_sum(base, batch)
        from_hidden = nll_sum(HiddenStatesAsLogits(base), batch)
    torch.testing.assert_close(from_logits, expected, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(from_hidden, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.gpu
def test_sft_nll_under_unsloth_hidden_states_mode_on_gpu(tiny_llama, monkeypatch):
    """On a GPU: the real Unsloth model with UNSLOTH_RETURN_HIDDEN_STATES=1 gives the same SFT NLL."""
    import unsloth  # noqa: F401

    model, tok = load_model(ExpoConfig.model_validate({"model": {"name": str(tiny_llama), "backend": "unsloth"}}))
    examples = [(tok("What is 3 + 4?")["input_ids"], tok(" 3 + 4 = 7")["input_ids"] + [tok.eos_token_id])]
    batch = collate(examples, tok.pad_token_id, device="cuda")
    with torch.no_grad():
        plain = nll_sum(model, batch)
        monkeypatch.setenv("UNSLOTH_RETURN_HIDDEN_STATES", "1")
        hidden = nll_sum(model, batch)
    torch.testing.assert_close(plain.float(), hidden.float(), rtol=1e-2, atol=1e-2)


def test_the_training_rows_level_reads_back_as_the_problems_level(tiny_llama):
    """The prompt dataset stores "no level" as -1 (one integer column); the problem the trainer explains, and the
    explanation records it writes, say None as `expo-lite explain` does - and keep a real level as it is."""
    from expo_lite.data.tasks import Problem

    tok = load_tiny(tiny_llama)[1]
    problems = [Problem("gsm8k-0", "What is 2 + 3?", "5", "2 + 3 = 5", None, None),
                Problem("math-0", "What is $1+1$?", "2", "$1+1=\\boxed{2}$", 3, "Algebra")]
    dataset, _ = build_prompt_dataset(problems, "hash", PromptConfig(), 512, tok)
    assert dataset["level"] == [-1, 3]
    assert [ExPGRPOTrainer._problem(row).level for row in dataset] == [None, 3]
