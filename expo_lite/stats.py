"""Statistics for comparing methods on a small set of questions, where a point estimate alone misleads.

Every accuracy gets a 95% Wilson score interval (it stays inside [0, 1] and is sane at 0 or n successes,
unlike the normal approximation). Two methods evaluated on the *same* questions are compared paired:

- the mean per-question difference with a percentile bootstrap interval that resamples questions (so it
  works for greedy 0/1 outcomes and for fractional pass@k values alike);
- for 0/1 outcomes, the exact McNemar test: only the discordant questions (solved by one method, not by
  the other) carry information, and under "no difference" each is equally likely to go either way, so
  the p-value is a two-sided binomial test on them.

With several training seeds per method, `paired_over_seeds` keeps each question's seeds together: the
bootstrap resamples questions (a question's seeds are not independent draws), and the p-value is the
exact sign test over questions of the seed-averaged difference, which is McNemar's exact test when there
is one seed. `holm` adjusts a report's whole family of p-values (Holm's step-down: family-wise error
rate at alpha, no independence assumed).

`minimum_detectable_difference` says before a run how large a paired difference the sizes used can
detect (80% power at alpha 0.05, by simulating the exact McNemar test), so a null result can be read as
"smaller than X" rather than "no effect". The heavy lifting is scipy's (binomtest, bootstrap).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """The Wilson score interval of a proportion; (0, 1) when there is nothing to estimate from (n = 0)."""
    from scipy.stats import binomtest

    if not 0 <= successes <= n:
        raise ValueError(f"a proportion needs 0 <= successes <= n, got {successes}/{n}")
    if n == 0:
        return 0.0, 1.0
    ci = binomtest(successes, n).proportion_ci(confidence_level=confidence, method="wilson")
    return float(ci.low), float(ci.high)


def _discordant(a: Sequence[float], b: Sequence[float]) -> tuple[int, int]:
    """For paired 0/1 outcomes: how many pairs only A got right, and how many only B."""
    only_a = sum(1 for x, y in zip(a, b, strict=True) if x and not y)
    only_b = sum(1 for x, y in zip(a, b, strict=True) if y and not x)
    return only_a, only_b


def _sign_test(up: int, down: int) -> float:
    """Two-sided exact binomial test of `up` vs `down` at 1/2 (1.0 when both are 0: nothing to test)."""
    from scipy.stats import binomtest

    return 1.0 if up + down == 0 else float(binomtest(up, up + down, 0.5).pvalue)


def mcnemar_exact(a: Sequence[bool], b: Sequence[bool]) -> float:
    """Two-sided exact McNemar p-value for paired 0/1 outcomes (1.0 when no question is discordant)."""
    _check_paired(a, b)
    return _sign_test(*_discordant(a, b))


@dataclass(frozen=True)
class PairedDifference:
    """mean(a - b) over paired questions, its bootstrap interval, and (0/1 outcomes only) McNemar's p."""

    difference: float
    low: float
    high: float
    questions: int
    only_a: int | None = None  # discordant counts, for 0/1 outcomes
    only_b: int | None = None
    p_value: float | None = None


def paired_difference(a: Sequence[float], b: Sequence[float], *, resamples: int = 10_000,
                      confidence: float = 0.95, seed: int = 0) -> PairedDifference:
    """Paired comparison of two methods' per-question scores (greedy 0/1 or pass@k in [0, 1])."""
    _check_paired(a, b)
    diff = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    low, high = _bootstrap_mean(diff, resamples, confidence, seed)
    binary = all(x in (0, 1) for x in (*a, *b))
    extra = {}
    if binary:
        only_a, only_b = _discordant(a, b)
        extra = {"only_a": only_a, "only_b": only_b, "p_value": _sign_test(only_a, only_b)}
    return PairedDifference(float(diff.mean()), low, high, len(diff), **extra)


def paired_over_seeds(a: Sequence[Sequence[float]], b: Sequence[Sequence[float]], *, resamples: int = 10_000,
                      confidence: float = 0.95, seed: int = 0) -> PairedDifference:
    """Paired comparison when each method trained under several seeds: `a[s][q]` is method A's score on
    question q after training with seed s, and `b[s][q]` method B's with the same seed (same questions, same
    order). The difference is the mean over seeds and questions; its interval resamples questions with all
    their seeds; p is the exact two-sided sign test over the questions whose seed-mean difference is not 0.
    For 0/1 scores, only_a / only_b count the discordant (question, seed) pairs."""
    if len(a) != len(b) or not len(a):
        raise ValueError(f"a paired comparison over seeds needs the same seeds on both sides, got {len(a)} and {len(b)}")
    for sa, sb in zip(a, b, strict=True):
        _check_paired(sa, sb)
    if len({len(s) for s in a}) != 1:
        raise ValueError(f"every seed must score the same questions, got {sorted({len(s) for s in a})} questions")
    diff = (np.asarray(a, dtype=float) - np.asarray(b, dtype=float)).mean(axis=0)  # per question, over seeds
    low, high = _bootstrap_mean(diff, resamples, confidence, seed)
    p = _sign_test(int((diff > 0).sum()), int((diff < 0).sum()))
    extra = {}
    flat_a, flat_b = [x for s in a for x in s], [y for s in b for y in s]
    if all(x in (0, 1) for x in (*flat_a, *flat_b)):
        only_a, only_b = _discordant(flat_a, flat_b)
        extra = {"only_a": only_a, "only_b": only_b}
    return PairedDifference(float(diff.mean()), low, high, len(diff), p_value=p, **extra)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the order given: the i-th smallest p is multiplied by (m - i + 1),
    made non-decreasing along that order and capped at 1. Reject where adjusted p <= alpha."""
    m = len(p_values)
    adjusted = [1.0] * m
    running = 0.0
    for rank, i in enumerate(sorted(range(m), key=lambda j: p_values[j])):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def minimum_detectable_difference(questions: int, *, background: float = 0.0, alpha: float = 0.05,
                                  power: float = 0.8, simulations: int = 2000, seed: int = 0) -> float | None:
    """The smallest paired gain d (fraction of questions) that the exact McNemar test detects with
    probability >= `power` at level `alpha`, when method A solves a fraction `background` + d of the questions
    B fails and B solves a fraction `background` of those A fails (background = run-to-run noise flips).
    Searched on a grid of 1/questions steps; None when even d = 1 - 2*background is not detectable."""
    from scipy.stats import binomtest

    rng = np.random.default_rng(seed)
    # the exact test's verdict depends only on the discordant counts: precompute rejection per (only_a, total)
    reject = {}
    for total in range(questions + 1):
        for only_a in range(total + 1):
            reject[only_a, total] = total > 0 and binomtest(only_a, total, 0.5).pvalue <= alpha
    for step in range(1, questions + 1):
        d = step / questions
        p_a, p_b = background + d, background
        if p_a + p_b > 1:
            return None
        counts = rng.multinomial(questions, [p_a, p_b, 1 - p_a - p_b], size=simulations)
        hits = sum(reject[int(x), int(x + y)] and x > y for x, y, _ in counts)
        if hits / simulations >= power:
            return d
    return None


def _check_paired(a: Sequence[float], b: Sequence[float]) -> None:
    if len(a) != len(b) or not len(a):
        raise ValueError(f"a paired comparison needs the same questions on both sides, got {len(a)} and {len(b)} scores")


def mean_interval(values: Sequence[float], confidence: float = 0.95, seed: int = 0) -> tuple[float, float]:
    """The interval of a mean accuracy over questions: Wilson when every value is 0 or 1 (a proportion),
    else a percentile bootstrap over questions (fractional pass@k values)."""
    if not len(values):
        return 0.0, 1.0
    if all(v in (0, 1) for v in values):
        return wilson_interval(int(sum(values)), len(values), confidence)
    return _bootstrap_mean(np.asarray(values, dtype=float), 10_000, confidence, seed)


def _bootstrap_mean(values: np.ndarray, resamples: int, confidence: float, seed: int) -> tuple[float, float]:
    """Percentile bootstrap interval of a mean over questions; without spread every resample gives the same
    mean (scipy would warn and return nan), so the interval is that value."""
    from scipy.stats import bootstrap

    if np.all(values == values[0]):
        return float(values[0]), float(values[0])
    res = bootstrap((values,), np.mean, n_resamples=resamples, confidence_level=confidence, method="percentile",
                    rng=np.random.default_rng(seed))
    return float(res.confidence_interval.low), float(res.confidence_interval.high)
