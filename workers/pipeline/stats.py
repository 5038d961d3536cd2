"""The statistics every report shares: one percentile bootstrap of a mean (and of a difference), Welch's test."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import stats

DEFAULT_BOOTSTRAP_RESAMPLES = 10_000
CONFIDENCE_LEVEL = 0.95


def bootstrap_interval(
    values: Sequence[float] | np.ndarray,
    *,
    seed: int,
    resamples: int = DEFAULT_BOOTSTRAP_RESAMPLES,
    level: float = CONFIDENCE_LEVEL,
) -> tuple[float, float] | None:
    """Percentile bootstrap interval of the mean, the same for the same seed; None with fewer than two values.

    One value has no spread to resample: its "interval" would be the value itself and claim a certainty the
    data cannot give, so there is none.
    """
    data = np.asarray(values, dtype=float)
    if data.size < 2:
        return None
    rng = np.random.default_rng(seed)
    means = data[rng.integers(0, data.size, size=(resamples, data.size))].mean(axis=1)
    return _percentile_interval(means, level)


def bootstrap_difference_interval(
    first: Sequence[float],
    second: Sequence[float],
    *,
    seed: int,
    resamples: int = DEFAULT_BOOTSTRAP_RESAMPLES,
    level: float = CONFIDENCE_LEVEL,
) -> tuple[float, float] | None:
    """Percentile bootstrap interval of mean(second) - mean(first), each group resampled on its own."""
    a, b = np.asarray(first, dtype=float), np.asarray(second, dtype=float)
    if a.size < 2 or b.size < 2:
        return None
    rng = np.random.default_rng(seed)
    means_a = a[rng.integers(0, a.size, size=(resamples, a.size))].mean(axis=1)
    means_b = b[rng.integers(0, b.size, size=(resamples, b.size))].mean(axis=1)
    return _percentile_interval(means_b - means_a, level)


def _percentile_interval(estimates: np.ndarray, level: float) -> tuple[float, float]:
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(estimates, [tail, 100 - tail])
    return float(low), float(high)


def welch_test(first: Sequence[float], second: Sequence[float]) -> tuple[float, float] | None:
    """Welch's t statistic and two-sided p-value (unequal variances); None when a group has < 2 values."""
    a, b = np.asarray(first, dtype=float), np.asarray(second, dtype=float)
    if a.size < 2 or b.size < 2:
        return None
    if np.ptp(a) == 0 and np.ptp(b) == 0:  # no spread in either group: the t statistic is undefined
        return None
    result = stats.ttest_ind(b, a, equal_var=False)
    return float(result.statistic), float(result.pvalue)


def sample_std(values: Sequence[float]) -> float | None:
    """Sample standard deviation (ddof=1, as the study's tables); None with fewer than two values."""
    return float(np.std(values, ddof=1)) if len(values) >= 2 else None
