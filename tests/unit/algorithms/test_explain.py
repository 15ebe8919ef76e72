"""The self-explanation engine: validity checks, selection under P(q), normalised targets, diagnostics."""

from __future__ import annotations

import json
import re

import pytest
import torch
from typer.testing import CliRunner

from expo_lite.algorithms.explain import REASONS, Explanation, check_explanation, explain, judge
from expo_lite.cli import app
from expo_lite.config import ExplainConfig, PromptConfig
from expo_lite.core.logprobs import SequenceScore, score_completions
from expo_lite.core.sampling import Generation
from expo_lite.data.prompts import hint_prompt, standard_prompt, user_text
from expo_lite.data.tasks import Problem
from expo_lite.testing import build_tokenizer
from expo_lite.tools.diagnostics import summarize

from helpers import load_tiny

CFG = ExplainConfig(min_reasoning_tokens=5)
PROMPTS = PromptConfig()


@pytest.fixture(scope="module")
def tokenizer():
    return build_tokenizer()


@pytest.mark.parametrize(
    ("text", "truncated", "expected"),
    [
        ("3 + 4 = 7 because we add the two counts together.\n#### 7", False, "ok"),
        ("3 + 4 = 7 because we add the two counts together.\n#### 7", True, "truncated"),
        ("We add the counts together and get a number.", False, "no_answer"),
        ("3 + 4 = 8 because we add the two counts together.\n#### 8", False, "wrong_answer"),
        ("Using the given answer, 3 + 4 = 7 once the counts are added.\n#### 7", False, "leak"),
        ("As provided, 3 + 4 = 7 once the counts are added.\n#### 7", False, "leak"),
        ("Mara was given 3 more, and 3 + 4 = 7 once the counts are added.\n#### 7", False, "ok"),  # not "as given"
        ("#### 7", False, "no_reasoning"),
        ("7.\n#### 7", False, "no_reasoning"),
        ("4=7\n#### 7", False, "too_short"),
        ("3 * 4 = 12 because we multiply the two counts together.\n#### 7", False, "unreached"),
        ("3 * 4 = 12 because we multiply the two counts, and he has 7.\n#### 7", False, "unreached"),
    ],
)
def test_each_validity_check_triggers_its_reason(tokenizer, text, truncated, expected):
    verdict, reasoning = check_explanation(text, truncated, "7", CFG, tokenizer)
    assert verdict == expected
    assert (reasoning is not None) == (expected == "ok")


@pytest.mark.parametrize(("text", "fmt", "gold", "context", "expected"), [
    # real GSM8K-style outputs of the embedded model: the answer verifies, but nothing computes it
    ("1. What is the problem?\n2. How to solve it yourself.\n3. A more precise answer is: The answer is 448000.",
     "hash", "448000", {}, "no_reasoning"),
    ("Let's think about it step by step and check the question carefully before we write the result.\n#### 72",
     "hash", "72", {}, "no_reasoning"),
    ("Natalia sold 48/2 = 24 clips in May, so she sold 48 + 24 clips in April and May together.\n#### 72",
     "hash", "72", {}, "ok"),
    ("In May she sold half of 48, that is 24 more clips, and 48 + 24 makes the total.\n#### 72", "hash", "72", {}, "ok"),
    ("We need the fraction of the cake that is left after the party: $1 - \\frac{1}{4} = \\frac{3}{4}$ of the cake.\n"
     "The final answer is $\\boxed{\\frac{3}{4}}$.", "boxed", "\\frac{3}{4}", {}, "ok"),
    ("We should think carefully about which numbers to combine and in what order.\nThe final answer is "
     "$\\boxed{9 + 8}$.", "countdown", "9 + 8", {"numbers": [9, 8], "target": 17}, "no_reasoning"),
    # prose formats reason in words: no computation needed
    ("Mercury is closest to the Sun, but Venus keeps its heat under a thick atmosphere.\nThe answer is (B).",
     "choice", "B", {"options": ["Mercury", "Venus"]}, "ok"),
])
def test_an_explanation_must_compute_something_in_formats_that_show_work(tokenizer, text, fmt, gold, context, expected):
    verdict, _ = check_explanation(text, False, gold, CFG, tokenizer, fmt, context)
    assert verdict == expected, text


EARLY = [  # (explanation of a hinted GSM8K question with gold 18, announces the answer first?) - real styles
    ("The correct final answer is 18. To solve it step by step, Janet's ducks lay 16 eggs and she uses 3 + 4 = 7, "
     "so 16 - 7 = 9 eggs are sold at $2 each: 9 * 2 = 18.\n#### 18", True),
    ("The answer is 18. To solve the problem, follow these steps: 16 - 3 - 4 = 9 eggs, 9 * 2 = 18 dollars.\n#### 18", True),
    ("HINT: The correct final answer is 18.\n\nJanet has 16 - 3 - 4 = 9 eggs left, and 9 * 2 = 18.\n#### 18", True),
    ("Sure! The answer is $18. Janet keeps 3 + 4 = 7 eggs, sells 16 - 7 = 9, and 9 * 2 = 18.\n#### 18", True),
    ("To solve this, we find how much Janet makes. The final answer is 18 dollars. First, 16 - 7 = 9 eggs; "
     "9 * 2 = 18.\n#### 18", True),
    ("Janet's ducks lay 16 eggs per day. She eats 3 and bakes with 4, so 16 - 3 - 4 = 9 eggs remain. "
     "At $2 each she makes 9 * 2 = 18 dollars. The answer is 18.\n#### 18", False),
    ("First, 9 * 2 = 18 is what 9 eggs at $2 bring, after 16 - 3 - 4 = 9 eggs are left.\n#### 18", False),
    ("Half of 36 is 18, and 18 is the number of eggs... no: 16 - 3 - 4 = 9 eggs, 9 * 2 = 18 dollars.\n#### 18", False),
    ("The answer to the first part is 9 eggs: 16 - 3 - 4 = 9. Then 9 * 2 = 18 dollars.\nThe answer is 18.", False),
    ("The answer is 9? No. We compute 16 - 3 - 4 = 9 and 9 * 2 = 18 dollars.\n#### 18", False),  # a wrong guess
    ("Janet keeps 3 + 4 = 7 eggs and sells 9, so the correct answer is 9 * 2 = 18 dollars.\n#### 18", False),
]


@pytest.mark.parametrize(("text", "early"), EARLY)
def test_an_explanation_that_announces_the_answer_first_is_no_positive(tokenizer, text, early):
    verdict, reasoning = check_explanation(text, False, "18", CFG, tokenizer, "hash")
    assert verdict == ("early_answer" if early else "ok"), text
    assert (reasoning is not None) == (not early)


@pytest.mark.parametrize(("text", "fmt", "gold", "context", "early"), [
    ("The final answer is $\\boxed{\\frac{3}{4}}$. Here is why: $\\frac{1}{2} + \\frac{1}{4} = \\frac{3}{4}$.\n"
     "The final answer is $\\boxed{\\frac{3}{4}}$.", "boxed", "\\frac{3}{4}", {}, True),
    ("We add $\\frac{1}{2} + \\frac{1}{4} = \\frac{3}{4}$ over a common denominator of 4.\n"
     "The final answer is $\\boxed{\\frac{3}{4}}$.", "boxed", "\\frac{3}{4}", {}, False),
    ("The answer is (B). Venus has a thick atmosphere that traps heat, more than any other planet.\n"
     "The answer is (B).", "choice", "B", {"options": ["Mercury", "Venus"]}, True),
    ("Mercury is closest to the Sun, but option B, Venus, keeps its heat under a thick atmosphere.\n"
     "The answer is (B).", "choice", "B", {"options": ["Mercury", "Venus"]}, False),
    ("Mercury is closest to the Sun. Venus, though farther, keeps its heat under a thick carbon dioxide atmosphere "
     "that traps it. Therefore the answer is (B). Checking: Mercury loses its heat at night.\nThe answer is (B).",
     "choice", "B", {"options": ["Mercury", "Venus"]}, False),  # a conclusion late in the reasoning
])
def test_announcing_first_in_other_formats(tokenizer, text, fmt, gold, context, early):
    verdict, _ = check_explanation(text, False, gold, CFG, tokenizer, fmt, context)
    assert verdict == ("early_answer" if early else "ok")


def test_hint_prompt_differs_from_standard_prompt_only_by_the_hint():
    plain = user_text("What is 3 + 4?", "hash", PROMPTS)
    hinted = user_text("What is 3 + 4?", "hash", PROMPTS, answer="7")
    assert "7" not in plain
    assert hinted.startswith("What is 3 + 4?\n\nThe correct final answer is 7. ")
    assert plain.split("\n\n")[1] in hinted  # the same instruction, word for word
    with pytest.raises(ValueError, match="hint_template must contain"):
        PromptConfig(hint_template="{question} {instruction}")


def test_score_completions_matches_the_model_loss(tiny_llama):
    model, tok = load_tiny(tiny_llama)
    prompt = tok("What is 3 + 4?", add_special_tokens=False)["input_ids"]
    completion = tok(" 3 + 4 = 7", add_special_tokens=False)["input_ids"]
    other = tok("Hi", add_special_tokens=False)["input_ids"]
    (score, _) = score_completions(model, [prompt, other], [completion, completion + completion], tok.pad_token_id)
    ids = torch.tensor([prompt + completion])
    labels = ids.clone()
    labels[0, : len(prompt)] = -100
    model.eval()
    with torch.no_grad():
        loss = model(input_ids=ids, labels=labels).loss
    assert score.num_tokens == len(completion)
    assert score.nll == pytest.approx(float(loss), rel=1e-4)


def test_judge_selects_most_likely_valid_try_and_normalises_it(tiny_llama):
    model, tok = load_tiny(tiny_llama)
    problems = [
        Problem("p1", "Tom has 3 apples and buys 4 more. How many?", "7", level=1),
        Problem("p2", "What is 17 + 25?", "42", level=2),
    ]

    def gen(text, truncated=False):
        return Generation([], [], text, truncated)

    samples = [
        [
            gen("Tom starts with 3 apples and buys 4 more, so 3 + 4 = 7 apples. The answer is 7."),
            gen("3 + 4 = 8 apples because he buys more.\n#### 8"),
            gen("First 3 apples, then 4 more apples: 3 + 4 = 7 in total for Tom.\n#### 7"),
        ],
        [gen("17 + 25 = 42 after adding the tens and ones.", truncated=True), gen("The given answer is 42, so 17 + 25 = 42.\n#### 42")],
    ]
    cfg = ExplainConfig(min_reasoning_tokens=5, num_tries=3)
    first, second = judge(model, tok, problems, samples, "hash", cfg, PROMPTS)

    assert first.valid and first.reason == "ok"
    assert first.try_reasons == ["ok", "wrong_answer", "ok"]
    valid_scores = [s for s in first.try_mean_logprobs if s is not None]
    assert len(valid_scores) == 2 and first.mean_logprob == max(valid_scores)
    # the target keeps the try's own text up to its answer statement: "The answer is 7." only announces the answer
    # and gives way to the format's final line; a `#### 7` line is the format's own and is kept as it stands
    chosen = first.try_mean_logprobs.index(first.mean_logprob)
    assert first.text == {0: "Tom starts with 3 apples and buys 4 more, so 3 + 4 = 7 apples.\n#### 7",
                          2: "First 3 apples, then 4 more apples: 3 + 4 = 7 in total for Tom.\n#### 7"}[chosen]
    # the target is conditioned on P(q): the hint never appears in the training prompt
    assert tok.decode(first.prompt_ids) == standard_prompt(tok, problems[0].question, "hash", PROMPTS)
    assert "correct final answer" not in tok.decode(first.prompt_ids)
    assert first.completion_ids[-1] == tok.eos_token_id
    assert tok.decode(first.completion_ids[:-1]) == first.text
    (rescored,) = score_completions(model, [first.prompt_ids], [first.completion_ids], tok.pad_token_id)
    assert rescored.mean_logprob == pytest.approx(first.mean_logprob, abs=1e-5)

    assert not second.valid and second.text is None
    assert second.try_reasons == ["truncated", "leak"] and second.reason == "leak"  # the try that got furthest


def test_an_explanation_reaching_another_solution_is_valid_and_trained_on_with_its_own(tiny_llama):
    """Countdown: the hint shows one solution; an explanation that reaches the target another valid way is judged
    right, and its training target ends with its own expression, not the hint's (which its steps do not reach)."""
    model, tok = load_tiny(tiny_llama)
    problem = Problem("c1", "Using the numbers 2, 3, 5 and 7, write an expression that equals 54.", "(3 + 5) * 7 - 2",
                      level=3, context={"numbers": [2, 3, 5, 7], "target": 54})
    other = "8 is 5 + 3, and 7 times 8 is 56; 56 minus 2 gives 54.\nThe final answer is $\\boxed{7 \\times (5 + 3) - 2}$."
    wrong = "7 times 8 is 56, and 56 minus 2 gives 54.\nThe final answer is $\\boxed{7 \\times 8 - 2}$."
    samples = [[Generation([], [], other, False), Generation([], [], wrong, False)]]
    (record,) = judge(model, tok, [problem], samples, "countdown", ExplainConfig(min_reasoning_tokens=5, num_tries=2), PROMPTS)
    assert record.valid and record.try_reasons == ["ok", "wrong_answer"]
    assert record.text.endswith("The final answer is $\\boxed{7 * (5 + 3) - 2}$.") and "(3 + 5) * 7 - 2" not in record.text
    assert user_text(problem.question, "countdown", PROMPTS).endswith("in \\boxed{}.")


def test_the_explain_tables_read_whole_at_80_columns_and_piped():
    """`expo-lite explain | less`, a narrow terminal, a notebook: every header and reason whole, nothing cut to "…"."""
    import io

    from rich.console import Console

    from expo_lite.tools.diagnostics import render_summary

    records = [Explanation(str(i), "q", "1", level, i % 2 == 0, "ok" if i % 2 == 0 else REASONS[i % len(REASONS)],
                           mean_logprob=-1.0 if i % 2 == 0 else None, answer_gain=2.0 if i % 2 == 0 else None,
                           try_reasons=[REASONS[i % len(REASONS)], "ok" if i % 2 == 0 else "truncated"])
               for i, level in enumerate([1, 1, 2, 2, 3, 3, 4, 4, 5, 5, None, 1])]
    out = io.StringIO()
    render_summary(summarize(records, [SequenceScore(-12.0, 10)] * len(records)), Console(file=out, width=80))
    text = out.getvalue()
    assert "…" not in text and max(len(line) for line in text.splitlines()) <= 80
    for reason in REASONS:
        assert len(re.findall(rf"^  {reason} ", text, re.MULTILINE)) == 2  # its row, and its line in the legend
    for column in ("level 1", "level 5", "none", "all", "refused by"):
        assert column in text
    assert "+2.00 nats" in text and "1.20" in text  # answer gain of the kept ones; NLL ratio expert/self
    no_levels = io.StringIO()  # a task without levels (GSM8K, a user's file) has one column, all of it
    render_summary(summarize([Explanation("0", "q", "1", None, False, "truncated", try_reasons=["truncated"])],
                             [None]), Console(file=no_levels, width=80))
    header = next(line for line in no_levels.getvalue().splitlines() if line.strip() and "Self-explanations" not in line)
    assert header.split() == ["all"]


def test_summary_counts_and_nll_ratio():
    def rec(level, valid, reason, lp):
        return Explanation("i", "q", "1", level, valid, reason, mean_logprob=lp)

    records = [rec(1, True, "ok", -1.0), rec(1, False, "wrong_answer", None), rec(2, True, "ok", -2.0), rec(2, False, "leak", None)]
    experts = [SequenceScore(-6.0, 2), SequenceScore(-4.0, 2), None, SequenceScore(-1.0, 1)]
    s = summarize(records, experts)
    assert s["valid"] == 2 and s["valid_rate"] == 0.5
    assert s["by_level"]["1"] == {"questions": 2, "valid": 1, "valid_rate": 0.5, "reasons": {"wrong_answer": 1},
                                  "tries": 0, "try_reasons": {}}
    assert s["reasons"] == {r: int(r in ("wrong_answer", "leak")) for r in REASONS}
    assert s["nll_self_explanation"] == pytest.approx(1.5)
    assert s["nll_expert"] == pytest.approx((3 + 2 + 1) / 3)
    assert s["nll_ratio_expert_over_self"] == pytest.approx(2.0 / 1.5)
    assert s["paired_questions"] == 1 and s["paired_nll_ratio"] == pytest.approx(3.0 / 1.0)


@pytest.mark.slow
def test_explain_on_embedded_model_gives_checked_records(embedded_model):
    model, tok, _, _ = embedded_model
    problems = [Problem(f"q{i}", f"Ana has {a} pens. Ana gets {b} more pens. How many pens does Ana have now?", str(a + b), level=1)
                for i, (a, b) in enumerate([(2, 3), (4, 1)])]
    torch.manual_seed(0)
    records = explain(model, tok, problems, "hash", ExplainConfig(num_tries=2, max_new_tokens=96), PROMPTS)
    assert len(records) == 2
    for problem, rec in zip(problems, records, strict=True):
        assert len(rec.try_reasons) == 2 and set(rec.try_reasons) <= {"ok", *REASONS}
        assert rec.valid == ("ok" in rec.try_reasons)
        assert tok.decode(rec.prompt_ids) == standard_prompt(tok, problem.question, "hash", PROMPTS)
        if rec.valid:
            assert rec.text.endswith(f"#### {problem.answer}") and rec.mean_logprob < 0
        assert hint_prompt(tok, problem.question, problem.answer, "hash", PROMPTS) != tok.decode(rec.prompt_ids)


@pytest.mark.slow
def test_explain_command_writes_records_and_summary(embedded_model, tmp_path):
    result = CliRunner().invoke(app, [
        "explain", "--limit", "2", "--set", "task.levels=[1]", "--set", "explain.num_tries=1",
        "--set", "explain.max_new_tokens=64", "--set", f"train.output_dir={tmp_path}", "--set", "train.run_name=ex",
    ])
    assert result.exit_code == 0, result.output
    lines = (tmp_path / "ex-explain" / "explanations.jsonl").read_text().splitlines()
    assert len(lines) == 2 and all(json.loads(line)["problem_id"].startswith("arith-") for line in lines)
    records = [json.loads(line) for line in lines]  # every try's text is kept, the refused ones' too
    assert all(len(r["try_texts"]) == len(r["try_reasons"]) == 1 and r["try_texts"][0] for r in records)
    assert not (tmp_path / "ex").exists()  # the training run's name is left free: `expo-lite train` lands in ex
    summary = json.loads((tmp_path / "ex-explain" / "explain_summary.json").read_text())
    assert summary["questions"] == 2 and summary["nll_expert"] > 0
    assert "mean NLL per token, self-explanations" in result.output and "  unreached " in result.output
