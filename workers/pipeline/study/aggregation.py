"""The study's figures: per-cell statistics over the analysed rows, and the whole result of a run."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ..stats import CONFIDENCE_LEVEL, DEFAULT_BOOTSTRAP_RESAMPLES, bootstrap_interval, sample_std
from ..types import DECISION_THRESHOLD
from .analysis import StudyVideoRow
from .layout import CATEGORIES, ETHNICITIES, GENDERS
from .statistics import CellComparison, compare_real_fake


@dataclass
class CellStats:
    """One cell's figures; means, std and accuracy use only the videos with a face."""

    category: str
    ethnicity: str
    gender: str
    videos_in_tree: int
    videos_sampled: int
    videos_with_faces: int
    videos_without_faces: int
    videos_failed: int
    mean_confidence_pct: float | None
    std_confidence_pct: float | None  # ddof=1
    mean_ci: tuple[float, float] | None
    accuracy: float | None
    accuracy_ci: tuple[float, float] | None


@dataclass
class StudySettings:
    """Everything needed to repeat a run."""

    root: str
    categories: list[str]
    comparison: list[str]
    per_group: int
    seed: int
    every_n_frames: int
    max_frames: int | None
    jobs: int
    detection: dict[str, Any]
    model: dict[str, Any]
    bootstrap_resamples: int = DEFAULT_BOOTSTRAP_RESAMPLES
    confidence_level: float = CONFIDENCE_LEVEL


@dataclass
class StudyResult:
    """The whole run: settings, per-video rows, per-cell figures and the real-vs-fake comparisons."""

    settings: StudySettings
    videos: list[StudyVideoRow]
    cells: list[CellStats]
    comparisons: list[CellComparison]
    definitions: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


DEFINITIONS = {
    "confidence_pct": (
        "per video: the confidence of its main person, the face tracked longest (the deepfake's subject), x 100: "
        "the person's P(female) is the interquartile mean of the log-odds of their faces' p_female, the video's "
        f"predicted gender is that person's (female when that P(female) is >= {DECISION_THRESHOLD}), and the "
        "confidence is the probability of that gender; a passer-by or a false face seen in a few frames no longer "
        "moves it"
    ),
    "mean_confidence_pct": "per cell: mean of confidence_pct over the cell's videos with at least one face",
    "std_confidence_pct": "per cell: sample standard deviation (ddof=1) of confidence_pct, as in the study's tables",
    "accuracy": "per cell: share of videos with a face whose predicted gender equals the men/women folder",
    "intervals": "95% percentile bootstrap, fixed seed; none for fewer than two videos",
    "difference_pct": "fake category mean minus real category mean, in percentage points",
    "p_value": "Welch's two-sided t-test (scipy.stats.ttest_ind, equal_var=False) of fake vs real confidence_pct",
    "no_face": "videos with no face detected are counted (videos_without_faces) and excluded from all figures",
}


def summarize_cells(
    rows: Sequence[StudyVideoRow],
    tree_counts: Counter[tuple[str, str, str]],
    *,
    seed: int,
    resamples: int = DEFAULT_BOOTSTRAP_RESAMPLES,
) -> list[CellStats]:
    """Per category x ethnicity x gender: counts, mean, sample std, accuracy and bootstrap intervals."""
    cells = []
    for category, ethnicity, gender in sorted(tree_counts, key=_cell_order):
        members = [row for row in rows if (row.category, row.ethnicity, row.gender) == (category, ethnicity, gender)]
        with_face = [row for row in members if row.has_face]
        confidences = [row.confidence_pct for row in with_face]
        hits = [1.0 if row.correct else 0.0 for row in with_face]
        cells.append(
            CellStats(
                category=category,
                ethnicity=ethnicity,
                gender=gender,
                videos_in_tree=tree_counts[(category, ethnicity, gender)],
                videos_sampled=len(members),
                videos_with_faces=len(with_face),
                videos_without_faces=sum(1 for row in members if not row.has_face and not row.error),
                videos_failed=sum(1 for row in members if row.error),
                mean_confidence_pct=float(np.mean(confidences)) if confidences else None,
                std_confidence_pct=sample_std(confidences),
                mean_ci=bootstrap_interval(confidences, seed=seed, resamples=resamples),
                accuracy=float(np.mean(hits)) if hits else None,
                accuracy_ci=bootstrap_interval(hits, seed=seed, resamples=resamples),
            )
        )
    return cells


def _cell_order(cell: tuple[str, str, str]) -> tuple[int, int, int]:
    category, ethnicity, gender = cell
    return (CATEGORIES.index(category), ETHNICITIES.index(ethnicity), GENDERS.index(gender))


def summarize_study(
    settings: StudySettings, rows: list[StudyVideoRow], tree_counts: Counter[tuple[str, str, str]]
) -> StudyResult:
    """The whole result from the analysed rows: per-cell figures and the real-vs-fake comparisons."""
    return StudyResult(
        settings=settings,
        videos=rows,
        cells=summarize_cells(rows, tree_counts, seed=settings.seed),
        comparisons=compare_real_fake(rows, *settings.comparison, seed=settings.seed),
        definitions=dict(DEFINITIONS),
    )
