"""The real-vs-fake comparison of the study: per ethnicity x gender, fake minus real, bootstrap interval, Welch p."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..stats import DEFAULT_BOOTSTRAP_RESAMPLES, bootstrap_difference_interval, welch_test
from ..types import MALE
from .analysis import StudyVideoRow
from .layout import ETHNICITIES, GENDERS

SIGNIFICANCE_LEVEL = 0.05


@dataclass
class CellComparison:
    """Fake minus real mean confidence of one ethnicity x gender, with its interval and Welch test."""

    ethnicity: str
    gender: str
    real_category: str
    fake_category: str
    real_videos: int
    fake_videos: int
    real_mean_pct: float | None
    fake_mean_pct: float | None
    difference_pct: float | None
    difference_ci: tuple[float, float] | None
    welch_t: float | None
    p_value: float | None
    sentence: str


def _display_cell(ethnicity: str, gender: str) -> str:
    return f"{ethnicity} {'men' if gender == MALE else 'women'}"


def compare_real_fake(
    rows: Sequence[StudyVideoRow],
    real_category: str,
    fake_category: str,
    *,
    seed: int,
    resamples: int = DEFAULT_BOOTSTRAP_RESAMPLES,
) -> list[CellComparison]:
    """For each ethnicity x gender present in either category: fake minus real, bootstrap CI, Welch p."""
    groups = sorted(
        {(row.ethnicity, row.gender) for row in rows if row.category in (real_category, fake_category)},
        key=lambda group: (ETHNICITIES.index(group[0]), GENDERS.index(group[1])),
    )
    comparisons = []
    for ethnicity, gender in groups:
        real, fake = (
            [
                row.confidence_pct
                for row in rows
                if row.category == category and row.ethnicity == ethnicity and row.gender == gender and row.has_face
            ]
            for category in (real_category, fake_category)
        )
        difference = float(np.mean(fake) - np.mean(real)) if real and fake else None
        interval = bootstrap_difference_interval(real, fake, seed=seed, resamples=resamples)
        test = welch_test(real, fake)
        comparison = CellComparison(
            ethnicity=ethnicity,
            gender=gender,
            real_category=real_category,
            fake_category=fake_category,
            real_videos=len(real),
            fake_videos=len(fake),
            real_mean_pct=float(np.mean(real)) if real else None,
            fake_mean_pct=float(np.mean(fake)) if fake else None,
            difference_pct=difference,
            difference_ci=interval,
            welch_t=test[0] if test else None,
            p_value=test[1] if test else None,
            sentence="",
        )
        comparison.sentence = describe_comparison(comparison)
        comparisons.append(comparison)
    return comparisons


def describe_comparison(comparison: CellComparison) -> str:
    """One plain sentence with the numbers; 'distinguishable from noise' only when both CI and p say so."""
    name = _display_cell(comparison.ethnicity, comparison.gender)
    sizes = (
        f"{comparison.real_videos} videos per group"
        if comparison.real_videos == comparison.fake_videos
        else f"{comparison.real_videos} real and {comparison.fake_videos} fake videos"
    )
    if comparison.difference_pct is None or comparison.difference_ci is None or comparison.p_value is None:
        return f"{name}: too few videos with a face to compare ({sizes}; at least two per group are needed)."
    direction = "lower" if comparison.difference_pct < 0 else "higher"
    low, high = comparison.difference_ci
    numbers = f"(95% CI {low:.1f} to {high:.1f}, p = {_format_p(comparison.p_value)})"
    stem = f"{name}: confidence is {abs(comparison.difference_pct):.1f} points {direction} on fakes {numbers}"
    interval_excludes_zero = low > 0 or high < 0
    if comparison.p_value < SIGNIFICANCE_LEVEL and interval_excludes_zero:
        verdict = f"with {sizes} this difference is unlikely to be noise alone (before correcting for the other cells)"
    elif interval_excludes_zero:
        # Percentile bootstrap intervals are too narrow for a handful of videos; Welch's test is the stricter judge.
        verdict = (
            f"the bootstrap interval leaves out zero but Welch's test does not confirm it, so with {sizes} "
            "this difference is not distinguishable from noise"
        )
    else:
        verdict = f"this difference is not distinguishable from noise with {sizes}"
    return f"{stem}; {verdict}."


def _format_p(p_value: float) -> str:
    return "< 0.001" if p_value < 0.001 else f"{p_value:.2g}" if p_value < 0.01 else f"{p_value:.2f}"
