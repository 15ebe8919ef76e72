"""The reach check on real text of every task the recipes train, both ways: human solutions are kept, the same solutions
ending in another problem's answer are refused, and the embedded model's own tries are classified as labelled by
reading them (tests/data/positives/). GSM8K (benchmarks/data/gsm8k, and every training row in gsm8k-train) and MATH
(benchmarks/data/math: four subjects, all levels). `benchmarks/positive_checks.py` prints the same tables with their
rates; docs/method.md holds them."""

from __future__ import annotations

import sys
from collections import Counter, defaultdict

import pytest

from expo_lite.algorithms.explain import REASONS, VALID, check_explanation
from expo_lite.config import ExplainConfig
from expo_lite.testing import build_tokenizer

from helpers import REPO

sys.path.insert(0, str(REPO / "benchmarks"))

from positive_checks import (  # noqa: E402
    gsm8k_problems,
    human_set,
    judge_each,
    labelled_set,
    math_human_set,
    math_problems,
    math_swapped_set,
    statement_kind,
    swapped_set,
)

DERIVATION = ExplainConfig(reach_check="derivation")
REFUSED = ("unreached", "false_equation")  # the derivation test's two refusals


@pytest.fixture(scope="module")
def tokenizer():
    return build_tokenizer()


def derivation_verdicts(tokenizer, tries, fmt="hash"):
    return [check_explanation(text, False, p.answer, DERIVATION, tokenizer, fmt, p.verify_context())[0]
            for p, text in tries]


def test_the_default_for_gsm8k_and_math_is_the_derivation_test():
    from expo_lite.algorithms.explain import reach_tests

    assert reach_tests(ExplainConfig(), "hash") == (True, False)  # formats whose reasoning computes
    assert reach_tests(ExplainConfig(), "boxed") == (True, False)
    assert reach_tests(ExplainConfig(), "choice") == (False, True)  # prose: only the likelihood can judge
    assert reach_tests(ExplainConfig(reach_check="answer_gain"), "hash") == (False, True)
    assert reach_tests(ExplainConfig(reach_check="off"), "hash") == (False, False)


def test_gsm8k_human_solutions_are_kept_and_swapped_answers_refused(tokenizer):
    problems = gsm8k_problems()
    human = Counter(derivation_verdicts(tokenizer, human_set(problems)))
    # the seven are GSM8K's own slips: five answers no step computes (test_computed.py names them) and two false
    # equations written on the way ("6*2.5 = $18.00", "4000 + 2040 = 6120")
    assert human == {"ok": 393, "unreached": 5, "false_equation": 2}
    swapped = swapped_set(problems)
    assert len(swapped) == 400
    assert Counter(derivation_verdicts(tokenizer, swapped)) == {"unreached": 398, "false_equation": 2}


def test_every_gsm8k_training_solution_goes_through_the_check(tokenizer):
    """All 7,473 rows, human and swapped: no exception, and the rates of docs/method.md. The 15 false equations, read
    one by one, are GSM8K's own slips ("Mathews made $4200+$3000 = $8600", "22 - 16 = 16", "So he played 14*20=140")."""
    problems = gsm8k_problems(REPO / "benchmarks" / "data" / "gsm8k-train")
    assert len(problems) == 7473
    human = Counter(derivation_verdicts(tokenizer, human_set(problems)))
    assert human == {"ok": 7387, "unreached": 71, "false_equation": 15}
    swapped = Counter(derivation_verdicts(tokenizer, swapped_set(problems)))
    assert swapped["ok"] <= 3 and set(swapped) <= {"ok", *REFUSED}


def test_the_embedded_models_tries_are_classified_as_labelled(tokenizer):
    """Every rationalisation is refused (most for not reaching the hint, some first for writing false arithmetic on
    the way: "175 - 2 * 75 = 175 - 125 = 20") and every derivation whose steps are written is kept. A derivation
    whose last step is done in the head ("3 x 8 = 24 ... There are 21 stickers left") is refused: the text never
    computes its answer (labelled `written: false`; docs/method.md counts them against precision). The
    rationalisation that writes the hint into a true equation ("If 48 shells took up 16 x 3 = 48 shells") is refused
    for the false one it wrote before it ("Alan collected 16 - 3 = 8 shells")."""
    rows = labelled_set()
    verdicts = derivation_verdicts(tokenizer, [(p, text) for p, text, _ in rows])
    outcome = ["refused" if v in REFUSED else v for v in verdicts]
    wrong = [(p.id, label, verdict, text[:58]) for (p, text, label), verdict, seen in zip(rows, verdicts, outcome, strict=True)
             if seen != {"derivation": "ok", "rationalisation": "refused"}.get(label, seen)]
    assert wrong == []
    assert Counter(label for *_, label in rows) == {"rationalisation": 45, "derivation": 11,
                                                   "derivation (unwritten)": 2}
    unwritten = [v for (_, _, label), v in zip(rows, verdicts, strict=True) if "unwritten" in label]
    assert unwritten == ["unreached", "unreached"]


def test_math_human_solutions_are_kept_at_every_level(tokenizer):
    """MATH's human-written solutions, each a try of its own question: at least 97% kept at every level (98.0-99.6%
    when measured), and every one of the 3,681 goes through the check without an exception. Those refused, read one by
    one, are mostly MATH's own slips ("$-\\frac{2}{1}=\\boxed{2}$") and counts in words before a bare "The answer
    is $\\boxed{1}$"."""
    problems = math_problems()
    assert len(problems) == 3681
    verdicts = derivation_verdicts(tokenizer, math_human_set(problems), "boxed")
    assert set(verdicts) <= {VALID, *REASONS}
    by_level: dict = defaultdict(Counter)
    for p, verdict in zip(problems, verdicts, strict=True):
        by_level[p.level][verdict == VALID] += 1
    for level in (1, 2, 3, 4, 5):
        assert by_level[level][True] / sum(by_level[level].values()) >= 0.97, (level, by_level[level])


def test_math_swapped_answers_are_refused_where_a_chain_ends_in_them(tokenizer):
    """The same solutions ending in another problem's answer of the same subject: refused when the answer ends an `=`
    chain whose member before it can be valued or whose variable the reasoning's equations give (81.3% of those
    chains when measured; the rest name something sympy cannot value, `\\frac{XZ}{XY}`, `f(1000)`, `m + n`, or a
    variable whose equations are not written as `=` chains). Stated in
    words ("Therefore, the graph has $\\boxed{2}$ asymptotes"), a swapped answer is kept by the text test: what it
    cannot tell apart is the answer gain's to judge (docs/method.md)."""
    swapped = math_swapped_set(math_problems())
    assert len(swapped) >= 3600
    verdicts = derivation_verdicts(tokenizer, swapped, "boxed")
    assert set(verdicts) <= {VALID, *REASONS}
    chains = [v for (p, _), v in zip(swapped, verdicts, strict=True) if statement_kind(p.solution) == "chain"]
    assert len(chains) > 0.65 * len(swapped)
    assert sum(v in REFUSED for v in chains) / len(chains) >= 0.80


@pytest.mark.slow
def test_the_answer_gain_keeps_every_derivation_of_the_embedded_model(embedded_model):
    """The likelihood test (`reach_check: answer_gain`, one config key away): on the labelled tries it refuses only
    rationalisations and keeps every derivation, those with a step done in the head too; on human solutions the
    answer is likelier after the reasoning than as a bare reply."""
    model, tok, _, _ = embedded_model
    rows = labelled_set()
    results = judge_each(model, tok, [(p, text) for p, text, _ in rows], "answer_gain")
    refused = Counter(label for (_, _, label), (v, _) in zip(rows, results, strict=True) if v == "unreached")
    kept = Counter(label for (_, _, label), (v, _) in zip(rows, results, strict=True) if v == "ok")
    assert set(refused) == {"rationalisation"} and refused["rationalisation"] >= 20  # 25 of 45 when measured
    assert kept["derivation"] == 11 and kept["derivation (unwritten)"] == 2
    human = judge_each(model, tok, human_set(gsm8k_problems(limit=16)), "answer_gain")
    assert sum(v == "ok" for v, _ in human) >= 15 and all(g is not None for _, g in human)
