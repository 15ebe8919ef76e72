"""The reach check on real text, both ways: GSM8K's human solutions are kept, the same solutions ending in another
question's answer are refused, and the embedded model's own tries are classified as labelled by reading them
(tests/data/positives/). `benchmarks/positive_checks.py` prints the same table with its rates."""

from __future__ import annotations

import sys
from collections import Counter

import pytest

from expo_lite.algorithms.explain import check_explanation
from expo_lite.config import ExplainConfig
from expo_lite.testing import build_tokenizer

from helpers import REPO

sys.path.insert(0, str(REPO / "benchmarks"))

from positive_checks import gsm8k_problems, human_set, judge_each, labelled_set, swapped_set  # noqa: E402

DERIVATION = ExplainConfig(reach_check="derivation")


@pytest.fixture(scope="module")
def tokenizer():
    return build_tokenizer()


def derivation_verdicts(tokenizer, tries):
    return [check_explanation(text, False, p.answer, DERIVATION, tokenizer, "hash", p.verify_context())[0]
            for p, text in tries]


def test_the_default_for_gsm8k_is_the_derivation_test():
    from expo_lite.algorithms.explain import reach_tests

    assert reach_tests(ExplainConfig(), "hash") == (True, False)  # formats whose reasoning computes
    assert reach_tests(ExplainConfig(), "choice") == (False, True)  # prose: only the likelihood can judge
    assert reach_tests(ExplainConfig(reach_check="answer_gain"), "hash") == (False, True)
    assert reach_tests(ExplainConfig(reach_check="off"), "hash") == (False, False)


def test_human_solutions_are_kept_and_swapped_answers_refused(tokenizer):
    problems = gsm8k_problems()
    human = Counter(derivation_verdicts(tokenizer, human_set(problems)))
    assert human == {"ok": 395, "unreached": 5}  # the five are GSM8K's own slips (test_derivation.py names them)
    swapped = swapped_set(problems)
    assert len(swapped) == 400
    assert Counter(derivation_verdicts(tokenizer, swapped)) == {"unreached": 400}


def test_the_embedded_models_tries_are_classified_as_labelled(tokenizer):
    """Every rationalisation is refused and every derivation whose steps are written is kept. A derivation whose
    last step is done in the head ("3 x 8 = 24 ... There are 21 stickers left") is refused: the text never
    computes its answer (labelled `written: false`; docs/method.md counts them against precision). One
    rationalisation passes: it writes the hint into a true equation ("If 48 shells took up 16 x 3 = 48 shells")."""
    rows = labelled_set()
    verdicts = derivation_verdicts(tokenizer, [(p, text) for p, text, _ in rows])
    wrong = [(p.id, label, verdict, text[:58]) for (p, text, label), verdict in zip(rows, verdicts, strict=True)
             if verdict != {"derivation": "ok", "rationalisation": "unreached"}.get(label, verdict)]
    assert wrong == [("gsm8k-49", "rationalisation", "ok", "Alan and his friends collected 4 * 4 = 16 shells, but Ben ")]
    assert Counter(label for *_, label in rows) == {"rationalisation": 45, "derivation": 11,
                                                   "derivation (unwritten)": 2}
    unwritten = [v for (_, _, label), v in zip(rows, verdicts, strict=True) if "unwritten" in label]
    assert unwritten == ["unreached", "unreached"]


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
    assert set(refused) == {"rationalisation"} and refused["rationalisation"] >= 20  # 24 of 45 when measured
    assert kept["derivation"] == 11 and kept["derivation (unwritten)"] == 2
    human = judge_each(model, tok, human_set(gsm8k_problems(limit=16)), "answer_gain")
    assert sum(v == "ok" for v, _ in human) >= 15 and all(g is not None for _, g in human)
