"""The replication's statistics against published or closed-form values."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import binomtest

from expo_lite.stats import (
    holm,
    mcnemar_exact,
    minimum_detectable_difference,
    paired_difference,
    paired_over_seeds,
    wilson_interval,
)


@pytest.mark.parametrize(("k", "n", "low", "high"), [
    (81, 263, 0.2553, 0.3662),  # Newcombe (1998), Statistics in Medicine 17:857, Table I, method 3
    (15, 148, 0.0624, 0.1605),  # ibid.
    (0, 20, 0.0, 0.1611),  # ibid.
    (1, 29, 0.0061, 0.1718),  # ibid.
    (5, 10, 0.2366, 0.7634),
])
def test_wilson_interval_matches_published_values(k, n, low, high):
    lo, hi = wilson_interval(k, n)
    assert lo == pytest.approx(low, abs=1e-4) and hi == pytest.approx(high, abs=1e-4)


def test_wilson_interval_closed_form_and_edges():
    z = 1.959963984540054
    for k, n in [(3, 7), (12, 50), (49, 50)]:
        p = k / n
        centre, half = (p + z * z / (2 * n)) / (1 + z * z / n), z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
        assert wilson_interval(k, n) == pytest.approx((centre - half, centre + half), abs=1e-9)
    assert wilson_interval(0, 10)[0] == 0.0 and wilson_interval(10, 10)[1] == pytest.approx(1.0)
    assert wilson_interval(0, 0) == (0.0, 1.0)
    with pytest.raises(ValueError, match="successes"):
        wilson_interval(11, 10)


def test_mcnemar_exact_is_a_binomial_test_on_the_discordant_questions():
    # 1 question only A solves, 8 only B solves, 3 both, 4 neither: p = 2 * P(X <= 1 | 9, 1/2) = 20/512
    a = [1] + [0] * 8 + [1] * 3 + [0] * 4
    b = [0] + [1] * 8 + [1] * 3 + [0] * 4
    assert mcnemar_exact(a, b) == pytest.approx(20 / 512)
    assert mcnemar_exact(b, a) == pytest.approx(20 / 512)  # two-sided
    assert mcnemar_exact([1, 1, 0], [1, 1, 0]) == 1.0  # no discordant question
    # 6 discordant all one way: 2 / 64 < 0.05; 5: 2 / 32 > 0.05 (why MDD needs at least 6)
    assert mcnemar_exact([1] * 6, [0] * 6) == pytest.approx(2 / 64)
    assert mcnemar_exact([1] * 5, [0] * 5) == pytest.approx(2 / 32)
    with pytest.raises(ValueError, match="same questions"):
        mcnemar_exact([1, 0], [1])


def test_paired_bootstrap_interval_brackets_the_mean_like_the_normal_interval_for_many_questions():
    rng = np.random.default_rng(1)
    a = rng.random(400) < 0.45
    b = rng.random(400) < 0.30
    res = paired_difference(a.astype(int).tolist(), b.astype(int).tolist())
    diff = a.astype(float) - b.astype(float)
    se = diff.std(ddof=1) / math.sqrt(len(diff))
    assert res.difference == pytest.approx(diff.mean())
    assert res.low == pytest.approx(diff.mean() - 1.96 * se, abs=0.01)
    assert res.high == pytest.approx(diff.mean() + 1.96 * se, abs=0.01)
    assert res.only_a == int((a & ~b).sum()) and res.only_b == int((b & ~a).sum())
    assert res.p_value == pytest.approx(mcnemar_exact(a.tolist(), b.tolist()))


def test_paired_difference_of_fractional_scores_and_without_spread():
    res = paired_difference([0.5, 1.0, 0.25], [0.5, 0.0, 0.25])
    assert res.difference == pytest.approx(1 / 3) and res.p_value is None  # pass@k values: no McNemar
    assert 0.0 <= res.low <= res.difference <= res.high <= 1.0
    same = paired_difference([1, 0, 1], [1, 0, 1])
    assert (same.difference, same.low, same.high, same.p_value) == (0.0, 0.0, 0.0, 1.0)


def test_paired_bootstrap_is_reproducible_from_its_seed():
    a, b = [1, 0, 1, 1, 0, 1, 0, 0], [0, 0, 1, 0, 0, 1, 1, 0]
    assert paired_difference(a, b, seed=3) == paired_difference(a, b, seed=3)


def test_minimum_detectable_difference_matches_the_binomial_calculation():
    """Without background flips, McNemar rejects at 0.05 once >= 6 questions go A's way (and none B's):
    the MDD is the smallest d on the 1/n grid with P(Binomial(n, d) >= 6) >= 0.8."""
    from scipy.stats import binom

    for n in (20, 40):
        expected = next(s / n for s in range(1, n + 1) if binom.sf(5, n, s / n) >= 0.8)
        got = minimum_detectable_difference(n, simulations=4000)
        assert abs(got - expected) <= 1 / n + 1e-12
    noisy = minimum_detectable_difference(40, background=0.05)
    assert noisy is not None and noisy > minimum_detectable_difference(40)  # noise flips cost power
    assert minimum_detectable_difference(4) is None  # 4 questions can never reach p < 0.05


def test_holm_matches_the_step_down_by_hand():
    # sorted: 0.01 (x4 = 0.04), 0.02 (x3 = 0.06), 0.03 (x2 = 0.06), 0.5 (x1 = 0.5); returned in the order given
    assert holm([0.03, 0.5, 0.01, 0.02]) == pytest.approx([0.06, 0.5, 0.04, 0.06])
    # monotone along the sorted order: 0.04 x 3 = 0.12 first, then 0.05 x 2 = 0.10 is raised to 0.12
    assert holm([0.05, 0.04, 0.9]) == pytest.approx([0.12, 0.12, 0.9])
    assert holm([0.6, 0.7]) == [1.0, 1.0] and holm([]) == []


def test_paired_over_seeds_is_mcnemar_with_one_seed_and_a_sign_test_over_questions_with_several():
    a, b = [1, 1, 1, 1, 1, 0, 0, 1], [0, 0, 0, 0, 0, 0, 1, 1]
    one = paired_over_seeds([a], [b])
    assert one.p_value == pytest.approx(mcnemar_exact(a, b)) and (one.only_a, one.only_b) == (5, 1)
    assert one.difference == pytest.approx(paired_difference(a, b).difference)
    # three seeds: q0 better in 3 seeds, q1 in 2 and worse in 1 (mean > 0), q2 tied on average -> 2 up, 0 down
    sa = [[1, 1, 0], [1, 0, 1], [1, 1, 0]]
    sb = [[0, 0, 0], [0, 1, 0], [0, 0, 1]]
    res = paired_over_seeds(sa, sb)
    assert res.difference == pytest.approx((3 / 3 + 1 / 3 + 0) / 3)
    assert res.p_value == pytest.approx(binomtest(2, 2, 0.5).pvalue) == pytest.approx(0.5)
    assert (res.only_a, res.only_b, res.questions) == (6, 2, 3)
    assert res.low <= res.difference <= res.high
    with pytest.raises(ValueError, match="same seeds"):
        paired_over_seeds([a, a], [b])
    with pytest.raises(ValueError, match="same questions"):
        paired_over_seeds([a, a[:4]], [b, b[:4]])
