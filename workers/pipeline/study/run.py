"""A whole study run from a folder: find, sample, analyse over processes and summarise."""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path

from ..model import cached_model
from .aggregation import StudyResult, StudySettings, summarize_study
from .analysis import AnalysisOptions, StudyVideoRow, analyze_study_videos
from .layout import (
    CATEGORIES,
    DEFAULT_CATEGORIES,
    DEFAULT_COMPARISON,
    DEFAULT_PER_GROUP,
    DEFAULT_SEED,
    StudyLayoutError,
    StudyVideo,
    find_study_videos,
    sample_per_cell,
)

logger = logging.getLogger(__name__)


def run_study(
    root: str | Path,
    *,
    categories: Sequence[str] = DEFAULT_CATEGORIES,
    comparison: tuple[str, str] = DEFAULT_COMPARISON,
    per_group: int = DEFAULT_PER_GROUP,
    seed: int = DEFAULT_SEED,
    options: AnalysisOptions | None = None,
    jobs: int | None = None,
    on_video: Callable[[StudyVideoRow], None] | None = None,
    on_sampled: Callable[[list[StudyVideo]], None] | None = None,
) -> StudyResult:
    """Find, sample, analyse and summarise; the categories of ``comparison`` are always analysed.

    ``on_sampled`` gets the sampled videos before any is analysed (the command prints its expected duration).
    """
    options = options or AnalysisOptions()
    jobs = jobs or len(os.sched_getaffinity(0))
    wanted = list(dict.fromkeys([*categories, *comparison]))
    unknown = [name for name in wanted if name not in CATEGORIES]
    if unknown:
        raise StudyLayoutError(f"unknown categories {unknown}; choose from {', '.join(CATEGORIES)}")
    root = Path(root)
    videos = [video for video in find_study_videos(root) if video.category in wanted]
    if not videos:
        raise StudyLayoutError(f"no video under {str(root)!r} in the categories {', '.join(wanted)}")
    model = cached_model(options.model_dir)  # fails early, before any worker starts, on a missing or altered model
    tree_counts = Counter(video.cell for video in videos)
    sampled = sample_per_cell(videos, per_group, seed)
    logger.info(
        "%d videos in %d cells; %d sampled (up to %d per cell)", len(videos), len(tree_counts), len(sampled), per_group
    )
    if on_sampled:
        on_sampled(sampled)
    rows = analyze_study_videos(sampled, root, options, jobs=jobs, on_video=on_video)
    settings = StudySettings(
        root=str(root),
        categories=wanted,
        comparison=list(comparison),
        per_group=per_group,
        seed=seed,
        every_n_frames=options.every_n_frames,
        max_frames=options.max_frames,
        jobs=jobs,
        detection=asdict(options.detection),
        model={"name": model.name, "sha256": model.sha256},
    )
    return summarize_study(settings, rows, tree_counts)
