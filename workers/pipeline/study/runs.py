"""Two runs of a study side by side, cell by cell, from their documents (study.json), and a run's expected duration.

``compare_runs`` serves the report page, ``run_study --against`` and bench/study_sampling.py alike: for every
cell of either run, both means with their intervals, the difference of the means and how far the interval
moved. ``estimate_duration`` probes a tree's videos and times the analysis of the first one's opening frames.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..analysis import Analyzer
from ..errors import PipelineError
from ..model import cached_model
from ..video import probe
from .analysis import AnalysisOptions
from .layout import StudyVideo

CALIBRATION_FRAMES = 12  # analysed frames of the first video timed to learn this machine's per-frame cost


@dataclass(frozen=True)
class CellPair:
    """One cell in two runs: each run's mean with its interval (None when it has no figure) and the shifts."""

    category: str
    ethnicity: str
    gender: str
    videos: tuple[int | None, int | None]  # videos with a face in each run (None: the cell is not in that run)
    means: tuple[float | None, float | None]
    intervals: tuple[tuple[float, float] | None, tuple[float, float] | None]

    @property
    def difference(self) -> float | None:
        """Second run's mean minus the first's, in points."""
        first, second = self.means
        return None if first is None or second is None else second - first

    @property
    def interval_shift(self) -> float | None:
        """The largest move of either interval bound between the runs, in points."""
        first, second = self.intervals
        if first is None or second is None:
            return None
        return max(abs(second[0] - first[0]), abs(second[1] - first[1]))


def _cells(document: dict) -> dict[tuple[str, str, str], dict]:
    return {(cell["category"], cell["ethnicity"], cell["gender"]): cell for cell in document.get("cells") or []}


def compare_runs(first: dict, second: dict) -> list[CellPair]:
    """Every cell of either study document, in the first's order, with both runs' figures."""
    first_cells, second_cells = _cells(first), _cells(second)
    pairs = []
    for key in [*first_cells, *(key for key in second_cells if key not in first_cells)]:
        cells = (first_cells.get(key), second_cells.get(key))
        pairs.append(
            CellPair(
                *key,
                videos=tuple(cell["videos_with_faces"] if cell else None for cell in cells),
                means=tuple(cell["mean_confidence_pct"] if cell else None for cell in cells),
                intervals=tuple(tuple(cell["mean_ci"]) if cell and cell["mean_ci"] else None for cell in cells),
            )
        )
    return pairs


def same_videos(first: dict, second: dict) -> bool:
    """Whether two study documents analysed the same videos (by cell and file name, wherever their folders were)."""

    def videos(document: dict) -> list[tuple[str, str, str, str]]:
        rows = document.get("videos") or []
        return sorted((row["category"], row["ethnicity"], row["gender"], Path(row["path"]).name) for row in rows)

    return videos(first) == videos(second)


def estimate_duration(
    videos: Sequence[StudyVideo], root: str | Path, options: AnalysisOptions, *, jobs: int
) -> tuple[int, float]:
    """(frames to read, expected seconds) of analysing ``videos``: their probed frame counts (each bounded by the
    sampling) times the per-frame cost measured now on the first video's opening frames, shared over ``jobs``."""
    root = Path(root)
    frames = 0
    for video in videos:
        try:
            count = probe(root / video.path).frame_count
        except PipelineError:
            continue  # the run records it as unreadable, in no time
        frames += min(count, options.max_frames * options.every_n_frames) if options.max_frames else count
    if not videos or not frames:
        return frames, 0.0
    analyzer = Analyzer(model=cached_model(options.model_dir), detection=options.detection)
    started = time.perf_counter()
    try:
        result = analyzer.analyze_video(
            root / videos[0].path, every_n_frames=options.every_n_frames, max_frames=CALIBRATION_FRAMES
        )
    except PipelineError:
        return frames, 0.0
    read = max(1, len(result.frames) * options.every_n_frames)
    return frames, frames * (time.perf_counter() - started) / read / max(1, jobs)
