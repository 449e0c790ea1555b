from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from pipelines import significance
from pipelines.significance import bootstrap_interval, paired_test

#: 20 queries on which two systems differ by +0.21 or -0.19 in turn: a mean
#: shift of 0.01 against a spread of 0.2 per query.
NOISY = np.array([0.21, -0.19] * 10)


def _width(interval: tuple[float, float]) -> float:
    return interval[1] - interval[0]


def test_the_interval_of_a_constant_is_that_constant() -> None:
    low, high = bootstrap_interval([0.5] * 30)
    assert low == pytest.approx(0.5, abs=1e-12) and high == pytest.approx(0.5, abs=1e-12)


def test_the_interval_holds_the_mean_and_is_about_two_standard_errors_each_side() -> None:
    values = np.random.default_rng(1).random(100)
    low, high = bootstrap_interval(values)
    standard_error = values.std() / np.sqrt(len(values))
    assert low < values.mean() < high
    assert _width((low, high)) == pytest.approx(2 * 1.96 * standard_error, rel=0.1)


def test_the_interval_widens_with_variance() -> None:
    base = np.random.default_rng(2).standard_normal(40)
    assert _width(bootstrap_interval(0.5 + 0.2 * base)) > 1.9 * _width(
        bootstrap_interval(0.5 + 0.1 * base)
    )


def test_the_interval_narrows_with_more_queries() -> None:
    few = np.array([0.0, 1.0] * 10)
    many = np.array([0.0, 1.0] * 250)
    # Same spread, 25 times the queries: about a fifth of the width.
    assert _width(bootstrap_interval(many)) < 0.3 * _width(bootstrap_interval(few))


def test_a_lower_level_gives_a_narrower_interval() -> None:
    values = np.random.default_rng(3).random(50)
    assert _width(bootstrap_interval(values, level=0.5)) < _width(bootstrap_interval(values))


def test_identical_systems_are_not_different() -> None:
    a = np.random.default_rng(4).random(30)
    assert paired_test(a, a.copy()) == 1.0
    assert paired_test(a[:8], a[:8].copy()) == 1.0  # enumerated exactly


def test_a_system_better_on_every_one_of_20_queries_is_significant() -> None:
    b = np.random.default_rng(5).random(20)
    assert paired_test(b + 0.05, b) < 0.001
    assert paired_test(b, b + 0.05) < 0.001, "two-sided: worse everywhere counts too"


def test_a_shift_much_smaller_than_the_noise_is_not_significant() -> None:
    b = np.random.default_rng(6).random(20)
    assert paired_test(b + NOISY, b) > 0.05


def test_small_sets_are_enumerated_exactly() -> None:
    # 5 queries, all better: of the 32 sign assignments only "all +" and "all -"
    # are as extreme, so p = 2 / 32.
    assert paired_test([1.0] * 5, [0.0] * 5) == pytest.approx(2 / 32)


def test_the_test_agrees_with_scipy_when_enumerated() -> None:
    rng = np.random.default_rng(7)
    a, b = rng.random(10), rng.random(10)
    reference = stats.permutation_test(
        (a, b),
        lambda x, y, axis: np.mean(x - y, axis=axis),
        permutation_type="samples",
        vectorized=True,
        n_resamples=10_000,
    )
    assert paired_test(a, b) == pytest.approx(reference.pvalue)


def test_results_are_deterministic_with_the_seed() -> None:
    rng = np.random.default_rng(8)
    a, b = rng.random(60), rng.random(60)
    assert bootstrap_interval(a, seed=3) == bootstrap_interval(a, seed=3)
    assert bootstrap_interval(a, seed=3) != bootstrap_interval(a, seed=4)
    assert paired_test(a, b, seed=3) == paired_test(a, b, seed=3)
    assert paired_test(a, b, seed=3) != paired_test(a, b, seed=4)


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="same queries"):
        paired_test([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="no scores"):
        bootstrap_interval([])
    with pytest.raises(ValueError, match="level"):
        bootstrap_interval([1.0], level=95)


def test_a_comparison_reads_as_figure_and_difference() -> None:
    b = np.random.default_rng(9).random(20)
    better = significance.compare(b + 0.05, b)
    assert better.delta == pytest.approx(0.05) and better.significant
    assert better.figure() == f"{b.mean() + 0.05:.3f} [{better.low:.2f}, {better.high:.2f}]"
    assert better.difference() == "+0.050* (p<0.001)"
    noise = significance.compare(b + NOISY, b)
    assert not noise.significant
    assert noise.difference().endswith(", within noise)")
    assert significance.compare(b, b).to_dict()["p_value"] == 1.0


def test_every_system_is_compared_with_the_baseline_on_the_same_queries() -> None:
    systems = {
        "base": {"m": {"q1": 0.1, "q2": 0.2, "q3": 0.3}},
        # Keys in another order: the queries are matched by id, not position.
        "other": {"m": {"q3": 0.3, "q1": 0.1, "q2": 0.2}},
    }
    compared = significance.against(systems, "base")
    assert compared["other"]["m"].delta == 0 and compared["other"]["m"].p_value == 1.0
    assert compared["base"]["m"].mean == pytest.approx(0.2)
    assert significance.against(systems, "missing") == {}
