"""Analyse the study's videos, each reduced to one row (``confidence_pct``: see StudyVideoRow), over processes."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from joblib import Parallel, delayed

from ..analysis import Analyzer
from ..config import DEFAULT_DETECTION, STUDY_DETECTION, DetectionSettings
from ..errors import AnalysisCancelled, PipelineError
from ..model import cached_model
from ..summary import track_and_summarize
from ..types import FrameResult
from .layout import StudyVideo

logger = logging.getLogger(__name__)

DETECTION_PRESETS = {"study": STUDY_DETECTION, "default": DEFAULT_DETECTION}


@dataclass(frozen=True)
class AnalysisOptions:
    """How each video is analysed: frame sampling, detection settings and which model."""

    every_n_frames: int = 1
    max_frames: int | None = None
    detection: DetectionSettings = STUDY_DETECTION
    model_dir: str | None = None  # None: the shipped default model


@dataclass
class StudyVideoRow:
    """What the study keeps of one analysed video.

    ``confidence_pct``: the confidence of the video's main person (``VideoSummary.confidence``, the person on
    screen longest, whose label is the video's), times 100, so a passer-by or a false face does not move it.
    Videos in which no face was found have no such figure: they are counted per cell and left out of every
    mean, standard deviation and accuracy.
    """

    path: str
    category: str
    ethnicity: str
    gender: str
    source_id: str
    method: str
    predicted_label: str | None
    confidence_pct: float | None
    correct: bool | None
    face_frame_share: float | None  # frames with at least one face / frames analysed
    frames_analyzed: int
    frames_with_faces: int
    faces: int
    error: str = ""  # set when the video could not be read; such a video counts as failed

    @property
    def has_face(self) -> bool:
        return self.confidence_pct is not None


def analyze_study_video(
    video: StudyVideo,
    root: str,
    options: AnalysisOptions,
    *,
    on_frame: Callable[[FrameResult, np.ndarray], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> StudyVideoRow:
    """Analyse one video and reduce it to the study's per-video row (a cancel raises AnalysisCancelled).

    The model comes from the process-wide cache (model.cached_model) and is loaded before the video is opened,
    so a missing or altered model fails the study instead of being recorded as one failed video. The
    detectors are built for this video alone: they hold OpenCV objects that must not cross threads.
    """
    analyzer = Analyzer(model=cached_model(options.model_dir), detection=options.detection)
    labels = asdict(video)
    try:
        result = analyzer.analyze_video(
            Path(root) / video.path,
            every_n_frames=options.every_n_frames,
            max_frames=options.max_frames,
            on_frame=on_frame,
            should_stop=should_stop,
        )
    except AnalysisCancelled:
        raise
    except PipelineError as error:
        logger.warning("%s: %s", video.path, error)
        return StudyVideoRow(
            **labels,
            predicted_label=None,
            confidence_pct=None,
            correct=None,
            face_frame_share=None,
            frames_analyzed=0,
            frames_with_faces=0,
            faces=0,
            error=str(error),
        )
    summary = track_and_summarize(result).summary
    has_face = summary.label is not None
    return StudyVideoRow(
        **labels,
        predicted_label=summary.label,
        confidence_pct=100 * summary.confidence if has_face else None,
        correct=(summary.label == video.gender) if has_face else None,
        face_frame_share=summary.frames_with_faces / summary.frames_analyzed if summary.frames_analyzed else None,
        frames_analyzed=summary.frames_analyzed,
        frames_with_faces=summary.frames_with_faces,
        faces=summary.faces,
    )


def analyze_study_videos(
    videos: Sequence[StudyVideo],
    root: str | Path,
    options: AnalysisOptions,
    *,
    jobs: int = 1,
    on_video: Callable[[StudyVideoRow], None] | None = None,
) -> list[StudyVideoRow]:
    """Analyse the videos over ``jobs`` processes (loky), calling ``on_video`` as each one finishes."""
    parallel = Parallel(n_jobs=jobs, backend="loky", return_as="generator_unordered")
    rows = []
    for row in parallel(delayed(analyze_study_video)(video, str(root), options) for video in videos):
        rows.append(row)
        if on_video:
            on_video(row)
    return sorted(rows, key=lambda row: (row.category, row.ethnicity, row.gender, row.path))
