"""Runs one deepfake-study job on a worker: the study's own per-video analysis, one video after another.

Progress is a ``progress`` event whose counters count videos, with a ``video`` object for the video being
analysed (its name and frames); the outputs of ``write_study`` go to MEDIA_ROOT/results/<job>/.
"""

from __future__ import annotations

import json
import math
import time
from collections import Counter
from dataclasses import asdict
from pathlib import Path

import numpy as np
from django.conf import settings

from predictions import events, services, study_services
from predictions.models import Job
from workers.pipeline.config import STUDY_DETECTION
from workers.pipeline.errors import AnalysisCancelled, PipelineError
from workers.pipeline.study import (
    CATEGORIES,
    DEFAULT_COMPARISON,
    DEFAULT_SEED,
    AnalysisOptions,
    StudySettings,
    StudyVideo,
    StudyVideoRow,
    analyze_study_video,
    find_study_videos,
    sample_per_cell,
    summarize_study,
)
from workers.pipeline.study_report import write_study
from workers.pipeline.types import FrameResult
from workers.pipeline.video import probe
from workers.runner import CANCEL_CHECK_SECONDS, shared_model


def run_study_job(job: Job) -> None:
    """Analyse every video of a claimed study, write its report files and finish the job with their summary."""
    model = shared_model()
    services.job_use_model(job=job, model=model)
    root = job.upload_path
    found = find_study_videos(root)
    videos = sample_per_cell(found, per_group=len(found), seed=DEFAULT_SEED)  # every video, in cell order
    study_services.study_plan(job=job, videos_total=len(videos))
    options = AnalysisOptions(
        every_n_frames=job.every_n_frames,
        max_frames=job.max_frames,
        detection=STUDY_DETECTION,
        model_dir=str(settings.GENREC_MODEL_DIR),
    )
    progress = StudyProgress(job, videos_total=len(videos))
    rows = []
    for number, video in enumerate(videos, start=1):
        progress.start_video(number, video, frames_total=planned_frames(root / video.path, options))
        row = analyze_study_video(
            video, str(root), options, on_frame=progress.on_frame, should_stop=progress.should_stop
        )
        progress.video_done(row)
        rows.append(row)
    present = {video.category for video in videos}
    study_settings = StudySettings(
        root=job.original_name,  # the archive's name: the server's folder is nobody's business
        categories=[category for category in CATEGORIES if category in present or category in DEFAULT_COMPARISON],
        comparison=list(DEFAULT_COMPARISON),
        per_group=len(videos),
        seed=DEFAULT_SEED,
        every_n_frames=options.every_n_frames,
        max_frames=options.max_frames,
        jobs=1,
        detection=asdict(options.detection),
        model={"name": model.name, "sha256": model.sha256},
    )
    result = summarize_study(study_settings, rows, Counter(video.cell for video in videos))
    paths = write_study(result, job.results_dir)
    study_services.study_finish(job=job, summary=json.loads(paths["study.json"].read_text(encoding="utf-8")))


def planned_frames(path: Path, options: AnalysisOptions) -> int:
    """How many frames of a video the analysis will look at (0 when the container does not say or will not open)."""
    try:
        frame_count = probe(path).frame_count
    except PipelineError:  # analyze_study_video records such a video as failed; the study goes on
        return 0
    frames = math.ceil(max(frame_count, 0) / options.every_n_frames)
    return min(frames, options.max_frames) if options.max_frames else frames


class StudyProgress:
    """The on_frame / should_stop pair of a study run: heartbeat, cancel check and throttled progress events."""

    def __init__(self, job: Job, *, videos_total: int) -> None:
        self.job = job
        self.videos_total = videos_total
        self.counters = {"frames_done": 0, "frames_total": videos_total, "faces_found": 0}
        self.min_interval = 1.0 / max(settings.GENREC_PROGRESS_EVENTS_PER_SECOND, 0.001)
        self.video: dict = {}
        self.stopped = False
        self._last_sent = self._last_check = time.monotonic()

    def start_video(self, number: int, video: StudyVideo, *, frames_total: int) -> None:
        """A new video begins: announce it at once."""
        self.video = {"number": number, "name": video.path, "frames_done": 0, "frames_total": frames_total}
        self.send()

    def on_frame(self, frame: FrameResult, bgr: np.ndarray) -> None:
        """Called by the pipeline for every analysed frame of the current video."""
        self.video["frames_done"] += 1
        if time.monotonic() - self._last_sent >= self.min_interval:
            self.send()

    def should_stop(self) -> bool:
        """True once the study was cancelled; the check (at most once a second) is also the heartbeat."""
        now = time.monotonic()
        if not self.stopped and now - self._last_check >= CANCEL_CHECK_SECONDS:
            self._last_check = now
            self.stopped = not study_services.study_heartbeat(job=self.job)
        return self.stopped

    def video_done(self, row: StudyVideoRow) -> None:
        """Count the finished video in the database and tell the page."""
        counters = study_services.study_record_video(job=self.job, faces=row.faces)
        if counters is None:
            raise AnalysisCancelled(f"study {self.job.public_id} is no longer running")
        self.counters = counters
        self.send()

    def send(self) -> None:
        """A progress event: videos done of the total, and where the current video is."""
        message = events.progress_message(**self.counters, points=[], latest_faces=[], latest_frame_url=None) | {
            "video": dict(self.video)
        }
        events.send_job_event(self.job.public_id, message)
        self._last_sent = time.monotonic()
