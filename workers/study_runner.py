"""Runs one deepfake-study job on a worker: unpack its archive, then analyse one video after another.

The archive stored by key (``studies/<hex>/archive.zip``) is unpacked from a local copy into a temporary folder
with every check of predictions.archives, its videos are stored under the study's prefix and the archive goes;
a refusal leaves nothing but the archive. Each finished video is kept at once (services.study_record_video), so
a study that stops (a killed worker, a deploy) resumes at its first video without a result. Progress is a
``progress`` event whose counters count videos, with a ``video`` object for the video being analysed (its name
and frames). The videos are read from a local copy of the study's prefix (the stored folder itself on the file
system, a temporary download on object storage); the outputs of ``write_study`` are stored under the job's
results prefix.
"""

from __future__ import annotations

import json
import tempfile
from collections import Counter
from dataclasses import asdict
from functools import partial
from pathlib import Path

import numpy as np
from django.conf import settings

from predictions import media, services
from predictions.archives import ARCHIVE_NAME, unpack_stored_archive
from predictions.models import Job
from predictions.validators import UploadRejected
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
from workers.pipeline.study.report import write_study
from workers.pipeline.types import FrameResult, analysed_frames
from workers.pipeline.video import probe
from workers.run_control import RunControl
from workers.runner import job_model_dir, job_model_recorded


def run_study_job(job: Job) -> None:
    """Unpack a claimed study's archive, analyse every video not analysed yet, store its report files, finish it."""
    unpack_archive(job)
    with media.local_tree(job.upload_key) as root:
        summary = run_study_videos(job, root)
    services.study_finish(job=job, summary=summary)


def run_study_videos(job: Job, root: Path) -> dict:
    """Analyse the study's videos under a local folder, store the report files; the study.json document."""
    model = job_model_recorded(job)
    found = find_study_videos(root)
    videos = sample_per_cell(found, per_group=len(found), seed=DEFAULT_SEED)  # every video, in cell order
    done = services.study_plan(job=job, videos_total=len(videos))
    options = AnalysisOptions(
        every_n_frames=job.every_n_frames,
        max_frames=job.max_frames,
        detection=STUDY_DETECTION,
        model_dir=str(job_model_dir(job)),
    )
    progress = StudyProgress(job, videos_total=len(videos), videos_done=len(done))
    rows = []
    for number, video in enumerate(videos, start=1):
        if video.path in done:  # analysed by an earlier attempt of this study
            rows.append(StudyVideoRow(**done[video.path]))
            continue
        progress.start_video(number, video, frames_total=planned_frames(root / video.path, options))
        row = analyze_study_video(
            video, str(root), options, on_frame=progress.on_frame, should_stop=progress.control.should_stop
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
    with tempfile.TemporaryDirectory(prefix="genrec-study-", dir=settings.FILE_UPLOAD_TEMP_DIR) as folder:
        paths = write_study(result, Path(folder))
        media.save_tree(Path(folder), job.results_prefix)
        return json.loads(paths["study.json"].read_text(encoding="utf-8"))


def unpack_archive(job: Job) -> None:
    """Unpack the study's stored archive if it is still there; a refusal found only now fails the study.

    A local copy of the archive is unpacked in a temporary folder (always removed); the videos are stored under
    the study's prefix, then the archive is deleted. Videos an interrupted earlier attempt stored are cleared
    first, and on any failure, so the prefix holds either the archive alone or the videos alone.
    """
    archive_key = f"{job.upload_key}/{ARCHIVE_NAME}"
    if not media.exists(archive_key):
        return

    def heartbeat() -> None:
        if not services.study_heartbeat(job=job):
            raise AnalysisCancelled("the study was cancelled while its archive was unpacked")

    _clear_videos(job.upload_key, keep=archive_key)
    try:
        with (
            media.local_copy(archive_key) as archive,
            tempfile.TemporaryDirectory(prefix="genrec-study-", dir=settings.FILE_UPLOAD_TEMP_DIR) as scratch,
        ):
            (Path(scratch) / ARCHIVE_NAME).symlink_to(archive)  # unpack_stored_archive removes the link, not the copy
            unpack_stored_archive(Path(scratch), on_video=heartbeat)
            media.save_tree(Path(scratch), job.upload_key)
    except UploadRejected as refusal:
        _clear_videos(job.upload_key, keep=archive_key)
        raise PipelineError(f"The archive could not be unpacked: {refusal.message}") from None
    except BaseException:
        _clear_videos(job.upload_key, keep=archive_key)
        raise
    media.delete(archive_key)


def _clear_videos(prefix: str, *, keep: str) -> None:
    """Delete every object under a study's prefix but its archive."""
    for key in list(media.walk(prefix)):
        if key != keep:
            media.delete(key)


def planned_frames(path: Path, options: AnalysisOptions) -> int:
    """How many frames of a video the analysis will look at (0 when the container does not say or will not open)."""
    try:
        frame_count = probe(path).frame_count
    except PipelineError:  # analyze_study_video records such a video as failed; the study goes on
        return 0
    frames = analysed_frames(frame_count, options.every_n_frames)
    return min(frames, options.max_frames) if options.max_frames else frames


class StudyProgress:
    """The on_frame callback of a study run; its RunControl heartbeats, checks for cancel and throttles progress."""

    def __init__(self, job: Job, *, videos_total: int, videos_done: int = 0) -> None:
        self.job = job
        self.counters = {"frames_done": videos_done, "frames_total": videos_total, "faces_found": job.faces_found}
        self.video: dict = {}
        # The cancel check of a study is also its heartbeat: its progress is not written frame by frame.
        self.control = RunControl(job, is_running=partial(services.study_heartbeat, job=job))

    def start_video(self, number: int, video: StudyVideo, *, frames_total: int) -> None:
        """A new video begins: announce it at once."""
        self.video = {"number": number, "name": video.path, "frames_done": 0, "frames_total": frames_total}
        self.send(force=True)

    def on_frame(self, frame: FrameResult, bgr: np.ndarray) -> None:
        """Called by the pipeline for every analysed frame of the current video."""
        self.video["frames_done"] += 1
        self.control.throttle.add()
        self.send()

    def video_done(self, row: StudyVideoRow) -> None:
        """Count the finished video in the database and tell the page."""
        counters = services.study_record_video(job=self.job, row=asdict(row))
        if counters is None:
            self.control.stop()
        self.counters = counters
        self.send(force=True)

    def send(self, *, force: bool = False) -> None:
        """A progress event (videos done of the total), with where the current video is, if the throttle allows."""
        self.control.throttle.send(**self.counters, force=force, extra={"video": dict(self.video)})
