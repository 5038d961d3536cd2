"""The shared statistics (stats.py): one bootstrap for the model report and the study, Welch's test, sample std."""

from __future__ import annotations

import statistics

import numpy as np
import pytest
from scipy import stats

from workers.pipeline.stats import bootstrap_difference_interval, bootstrap_interval, sample_std, welch_test


def test_sample_std_is_the_ddof_1_standard_deviation():
    values = [70.0, 72.5, 81.0, 66.25]
    assert sample_std(values) == pytest.approx(statistics.stdev(values))
    assert sample_std([3.0]) is None


def test_welch_test_matches_the_welch_satterthwaite_formula():
    real = np.array([71.2, 68.4, 75.0, 80.1, 66.3, 73.9, 70.0])
    fake = np.array([65.0, 69.9, 62.1, 71.3, 60.2])
    var_r, var_f = real.var(ddof=1) / real.size, fake.var(ddof=1) / fake.size
    t = (fake.mean() - real.mean()) / np.sqrt(var_r + var_f)
    df = (var_r + var_f) ** 2 / (var_r**2 / (real.size - 1) + var_f**2 / (fake.size - 1))

    statistic, p_value = welch_test(real, fake)

    assert statistic == pytest.approx(t)
    assert statistic < 0  # fake below real
    assert p_value == pytest.approx(2 * stats.t.sf(abs(t), df))
    assert welch_test([1.0], fake) is None
    assert welch_test([2.0, 2.0], [2.0, 2.0]) is None


def test_bootstrap_interval_agrees_with_scipy_percentile_bootstrap():
    values = np.random.default_rng(7).normal(75, 10, size=40)

    low, high = bootstrap_interval(values, seed=1, resamples=20_000)
    reference = stats.bootstrap(
        (values,), np.mean, n_resamples=20_000, method="percentile", random_state=np.random.default_rng(2)
    ).confidence_interval

    assert low < values.mean() < high
    assert low == pytest.approx(reference.low, abs=0.3)
    assert high == pytest.approx(reference.high, abs=0.3)
    assert bootstrap_interval(values, seed=1) == bootstrap_interval(values, seed=1)
    assert bootstrap_interval([80.0] * 5, seed=1) == (80.0, 80.0)
    assert bootstrap_interval([80.0], seed=1) is None


def test_bootstrap_difference_interval_agrees_with_scipy_two_sample_bootstrap():
    rng = np.random.default_rng(11)
    real, fake = rng.normal(75, 8, size=25), rng.normal(70, 12, size=25)

    low, high = bootstrap_difference_interval(real, fake, seed=3, resamples=20_000)
    reference = stats.bootstrap(
        (real, fake),
        lambda a, b, axis: np.mean(b, axis=axis) - np.mean(a, axis=axis),
        n_resamples=20_000,
        method="percentile",
        random_state=np.random.default_rng(4),
    ).confidence_interval

    assert low < fake.mean() - real.mean() < high
    assert low == pytest.approx(reference.low, abs=0.4)
    assert high == pytest.approx(reference.high, abs=0.4)
    assert bootstrap_difference_interval([1.0], fake, seed=3) is None


def test_bootstrap_interval_is_reproducible_by_seed_and_differs_between_seeds():
    values = np.random.default_rng(5).integers(0, 2, size=30).astype(float)
    assert bootstrap_interval(values, seed=9, resamples=500) == bootstrap_interval(values, seed=9, resamples=500)
    others = {bootstrap_interval(values, seed=seed, resamples=500) for seed in range(10)}
    assert len(others) > 1
    low, high = bootstrap_interval(values, seed=9, resamples=500, level=0.5)
    wide_low, wide_high = bootstrap_interval(values, seed=9, resamples=500, level=0.99)
    assert wide_low <= low < high <= wide_high
    assert bootstrap_interval([], seed=9) is None
