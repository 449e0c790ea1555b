"""Is a difference between two rankers larger than the noise of the judged queries?

An evaluation set is a sample of the questions an organisation will ask, so a
mean over its queries is an estimate, and two methods can differ by chance
alone. The unit of sampling is the query: queries are drawn, the documents
and people judged for each are not resampled. Both procedures below therefore
resample queries, never individual judgments.

- ``bootstrap_interval``: the 95% percentile bootstrap interval of a mean
  (Efron & Tibshirani 1993). The queries are drawn with replacement as many
  times as there are queries, the mean recomputed, ``samples`` times; the
  interval holds the central 95% of those means. Read it as the range the
  figure would plausibly take on another set of queries like these. It is
  wide when queries disagree and when there are few of them.
- ``paired_test``: a two-sided paired randomisation test of the mean
  difference of two systems on the same queries, as recommended for IR
  evaluation (Smucker, Allan & Carterette 2007). Under the null hypothesis the
  two systems are exchangeable, so on each query the sign of their difference
  is a coin flip. The p-value is the share of sign assignments whose mean
  difference is at least as far from zero as the observed one: enumerated
  exactly when there are no more assignments than ``samples``, otherwise
  estimated from ``samples`` random ones, counting the observed assignment
  (Phipson & Smyth 2010), so it is never 0. Enumerated, it equals
  ``scipy.stats.permutation_test(..., permutation_type="samples")`` on the
  mean difference; it is written as one matrix product instead because the
  comparison of every method on every set runs hundreds of these tests, and
  scipy's generic resampling is some twenty times slower at it.

Pairing matters: the hard queries are hard for every system, so the
difference on each query varies far less than either system's score, and the
paired test sees differences that two separate intervals would hide.

``compare`` puts both together for one method against a baseline; a
difference with p >= 0.05 is ``within noise``. With many methods compared,
about one in twenty differences that are pure noise still reach p < 0.05; no
correction for multiple comparisons is made.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

SAMPLES = 10_000
LEVEL = 0.95
ALPHA = 0.05
#: Elements per block of resampled values, bounding the memory of one call (~32 MB).
_BLOCK = 1 << 22

Values = Sequence[float] | npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Comparison:
    """One method's figure on a set of queries, against a baseline on the same queries.

    Attributes:
        mean: the mean over the queries.
        low: the lower end of its bootstrap confidence interval.
        high: the upper end.
        delta: mean minus the baseline's mean (0 for the baseline itself).
        p_value: two-sided paired randomisation test of delta (1 for the baseline).
        significant: p_value < ALPHA; otherwise the difference is within noise.
    """

    mean: float
    low: float
    high: float
    delta: float
    p_value: float
    significant: bool

    def figure(self) -> str:
        """The mean and its interval: ``0.457 [0.41, 0.50]``."""
        return f"{self.mean:.3f} [{self.low:.2f}, {self.high:.2f}]"

    def difference(self) -> str:
        """The difference to the baseline and its p-value, ``*`` when significant."""
        p = "p<0.001" if self.p_value < 0.001 else f"p={self.p_value:.3f}"
        if self.significant:
            return f"{self.delta:+.3f}* ({p})"
        return f"{self.delta:+.3f} ({p}, within noise)"

    def to_dict(self) -> dict[str, float | bool]:
        """Plain values for JSON, rounded to four decimals (the p-value to five)."""
        return {
            "mean": round(self.mean, 4),
            "low": round(self.low, 4),
            "high": round(self.high, 4),
            "delta": round(self.delta, 4),
            "p_value": round(self.p_value, 5),
            "significant": self.significant,
        }


def bootstrap_interval(
    values: Values, *, samples: int = SAMPLES, seed: int = 0, level: float = LEVEL
) -> tuple[float, float]:
    """The percentile bootstrap confidence interval of the mean, queries resampled.

    Args:
        values: one score per query.
        samples: how many resamples of the queries.
        seed: seeds the resampling; the same seed gives the same interval.
        level: the interval's coverage, between 0 and 1.

    Returns:
        (low, high), the (1 - level) / 2 and (1 + level) / 2 quantiles of the
        resampled means.

    Raises:
        ValueError: no values, fewer than one sample, or a level outside (0, 1).
    """
    scores = _vector(values)
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1, not {level}")
    _check_samples(samples)
    n = len(scores)
    rng = np.random.default_rng(seed)
    means = np.empty(samples)
    step = max(1, _BLOCK // n)
    for start in range(0, samples, step):
        stop = min(start + step, samples)
        means[start:stop] = scores[rng.integers(0, n, size=(stop - start, n))].mean(axis=1)
    low, high = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    return float(low), float(high)


def paired_test(a: Values, b: Values, *, samples: int = SAMPLES, seed: int = 0) -> float:
    """The two-sided p-value of the mean difference of two systems on the same queries.

    Args:
        a: one system's score per query.
        b: the other's, on the same queries in the same order.
        samples: how many random sign assignments; all of them are enumerated
            when there are no more than this (up to 13 queries for 10,000).
        seed: seeds the random assignments; the same seed gives the same p-value.

    Returns:
        The probability, if the systems were exchangeable, of a mean difference
        at least as large in magnitude as the observed one; 1 for identical systems.

    Raises:
        ValueError: no queries, a different number of queries, or fewer than one sample.
    """
    first, second = _vector(a), _vector(b)
    if first.shape != second.shape:
        raise ValueError(f"paired scores need the same queries: {len(first)} against {len(second)}")
    _check_samples(samples)
    differences = first - second
    n = len(differences)
    observed = abs(differences.sum())
    # Sums equal up to rounding count as equal: identical systems must give p = 1.
    threshold = observed - 1e-9 * max(1.0, float(np.abs(differences).sum()))
    if n < 63 and 1 << n <= samples:
        patterns = np.arange(1 << n, dtype=np.int64)[:, None] >> np.arange(n) & 1
        sums = (1 - 2 * patterns).astype(np.float64) @ differences
        return float(np.count_nonzero(np.abs(sums) >= threshold) / len(sums))
    rng = np.random.default_rng(seed)
    extreme = 0
    step = max(1, _BLOCK // n)
    for start in range(0, samples, step):
        stop = min(start + step, samples)
        signs = rng.integers(0, 2, size=(stop - start, n), dtype=np.int8) * 2 - 1
        extreme += int(np.count_nonzero(np.abs(signs @ differences) >= threshold))
    return (extreme + 1) / (samples + 1)


def compare(
    values: Values,
    baseline: Values,
    *,
    samples: int = SAMPLES,
    seed: int = 0,
    level: float = LEVEL,
) -> Comparison:
    """A method's mean and interval, and its paired difference to a baseline.

    Args:
        values: the method's score per query.
        baseline: the baseline's score on the same queries in the same order;
            the method itself gives delta 0 and p-value 1.
        samples: resamples of the interval and of the test.
        seed: seeds both.
        level: the interval's coverage.

    Returns:
        The comparison; with no queries, every figure 0 and p-value 1 (nothing
        was measured, so nothing differs).
    """
    scores, reference = _vector(values, empty=True), _vector(baseline, empty=True)
    if not len(scores) and not len(reference):
        return Comparison(0.0, 0.0, 0.0, 0.0, 1.0, False)
    low, high = bootstrap_interval(scores, samples=samples, seed=seed, level=level)
    p_value = paired_test(scores, reference, samples=samples, seed=seed)
    return Comparison(
        mean=float(scores.mean()),
        low=low,
        high=high,
        delta=float(scores.mean() - reference.mean()),
        p_value=p_value,
        significant=p_value < ALPHA,
    )


def against(
    systems: Mapping[str, Mapping[str, Mapping[str, float]]],
    baseline: str,
    *,
    samples: int = SAMPLES,
    seed: int = 0,
) -> dict[str, dict[str, Comparison]]:
    """``compare`` for every system and measure against one of the systems.

    Args:
        systems: system -> measure -> query -> value, every system judged on
            the same queries (as ``pipelines.evaluate.per_query`` gives them).
        baseline: the system the others are compared with.
        samples: resamples of each interval and test.
        seed: seeds them all.

    Returns:
        system -> measure -> comparison; empty when the baseline is not among
        the systems.

    Raises:
        KeyError: a system lacks a query or measure of the baseline's.
    """
    if baseline not in systems:
        return {}
    reference = systems[baseline]
    return {
        system: {
            measure: compare(
                [by_query[q] for q in reference[measure]],
                list(reference[measure].values()),
                samples=samples,
                seed=seed,
            )
            for measure, by_query in measures.items()
        }
        for system, measures in systems.items()
    }


def _vector(values: Values, *, empty: bool = False) -> npt.NDArray[np.float64]:
    vector = np.asarray(values, dtype=np.float64)
    if vector.ndim != 1:
        raise ValueError(f"expected one score per query, got an array of shape {vector.shape}")
    if not empty and not len(vector):
        raise ValueError("no scores: at least one query is needed")
    return vector


def _check_samples(samples: int) -> None:
    if samples < 1:
        raise ValueError(f"samples must be at least 1, not {samples}")
