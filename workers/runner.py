"""Runs one job (or one part of a split video) on a worker: pipeline in, batched rows, kept frames and events out.

The worker that completes a job also finishes it: tracking and the summary run once here, over the merged
frames of all parts, and services only record the result.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path

import cv2
import numpy as np
from celery.exceptions import SoftTimeLimitExceeded
from celery.worker.control import inspect_command
from django.conf import settings

from genrec_site.celery import app as celery_app
from genrec_site.celery import queue_name
from predictions import events, media, selectors, services
from predictions.models import Job, JobPart
from workers.pipeline.analysis import Analyzer, read_image
from workers.pipeline.annotation import annotate
from workers.pipeline.config import DEFAULT_DETECTION
from workers.pipeline.errors import AnalysisCancelled, PipelineError
from workers.pipeline.model import GenderModel, ModelIntegrityError, cached_model
from workers.pipeline.tracking import assign_tracks, summarize_video
from workers.pipeline.types import FrameResult
from workers.pipeline.video import probe
from workers.run_control import RunControl

logger = logging.getLogger(__name__)

JPEG_QUALITY = 85
# How long a long video's first task waits for the workers to say how many processes they run: the
# broadcast always waits this long, and every part waits for it. Replies over a broker take milliseconds;
# a worker too slow to answer in time is only left out of the count.
INSPECT_TIMEOUT_SECONDS = 0.25
FALLBACK_SPLIT_PARTS = 2
UNEXPECTED_ERROR = "Something went wrong while analysing this file; the error was logged for the administrators."
MODEL_ERROR = "The gender model could not be loaded on the worker; the administrators were told."

_analyzers = threading.local()


class ModelNotInstalled(PipelineError):
    """The model a job was created with has no folder on this worker any more."""


def job_model_dir(job: Job) -> Path:
    """The folder of the model the job recorded at creation; GENREC_MODEL_DIR for a job created without one."""
    version = job.model_version
    if version is None or not version.folder:
        return Path(settings.GENREC_MODEL_DIR)
    if not version.directory.is_dir():
        raise ModelNotInstalled(f"The model this job was created with ({version.name}) is no longer installed.")
    return version.directory


def job_model(job: Job) -> GenderModel:
    """The job's own model, from the pipeline's one per-process cache (keyed by folder)."""
    version = job.model_version
    return cached_model(job_model_dir(job), sha256=version.sha256 if version and version.folder else None)


def job_model_recorded(job: Job) -> GenderModel:
    """The job's model; a job created without one (no model row then) records the fallback it gets."""
    model = job_model(job)
    if job.model_version is None:
        services.job_use_model(job=job, model=model)
    return model


def worker_model() -> GenderModel:
    """The model new jobs get now (the active one), loaded into this process's cache."""
    return cached_model(selectors.model_default_directory())


def thread_analyzer(model: GenderModel) -> Analyzer:
    """One Analyzer per worker thread around the job's model: OpenCV cascades must not cross threads."""
    analyzer = getattr(_analyzers, "analyzer", None)
    if analyzer is None or analyzer.model is not model:
        analyzer = _analyzers.analyzer = Analyzer(model=model, detection=DEFAULT_DETECTION)
    return analyzer


def soft_time_limit_message() -> str:
    """The owner's message for a job stopped by the soft time limit."""
    return f"Processing took longer than {math.ceil(settings.GENREC_JOB_SOFT_TIME_LIMIT / 60)} minutes and was stopped."


@contextmanager
def failures_recorded(job: Job) -> Iterator[None]:
    """Turn whatever stops a run into the job's final state, and delete the upload once the job has ended."""
    try:
        yield
    except AnalysisCancelled:
        logger.info("Job %s stopped: cancelled or taken over", job.public_id)
    except SoftTimeLimitExceeded:
        services.job_fail(job=job, error=soft_time_limit_message())
    except ModelIntegrityError:
        logger.exception("Job %s: the model did not load", job.public_id)
        services.job_fail(job=job, error=MODEL_ERROR)
    except PipelineError as error:
        services.job_fail(job=job, error=str(error))
    except Exception:
        logger.exception("Job %s failed unexpectedly", job.public_id)
        services.job_fail(job=job, error=UNEXPECTED_ERROR)
    finally:
        job.refresh_from_db(fields=["status"])
        if job.status in Job.FINAL_STATUSES:
            services.upload_delete(job=job)


@inspect_command()
def video_processes(state, **kwargs) -> dict:
    """Remote control (on each worker): its pool processes that take videos, 0 for one kept for photos (-Q)."""
    queues = {queue.name for queue in state.consumer.task_consumer.queues}
    processes = int(state.consumer.pool.info.get("max-concurrency", 1)) if queue_name("videos") in queues else 0
    return {"processes": processes}


def split_parts_wanted() -> int:
    """How many parts a long video becomes: GENREC_SPLIT_PARTS, or the processes serving the videos queue now."""
    if settings.GENREC_SPLIT_PARTS > 0:
        return settings.GENREC_SPLIT_PARTS
    try:
        replies = celery_app.control.inspect(timeout=INSPECT_TIMEOUT_SECONDS)._request("video_processes") or {}
    except Exception:
        logger.warning("Could not ask the workers how many they are", exc_info=True)
        replies = {}
    processes = sum(int(reply.get("processes", 0)) for reply in replies.values())
    return processes if processes > 1 else FALLBACK_SPLIT_PARTS


def run_job(job: Job) -> None:
    """Analyse a claimed job: an image at once; a video as one part here, or as parts queued for any worker.

    A video claimed again after its worker died keeps its parts, which resume where their frames stop.
    """
    model = job_model_recorded(job)
    if job.kind == Job.Kind.IMAGE:
        run_image(job, model)
        return
    parts = list(job.parts.order_by("index")) or plan_video(job)
    unfinished = [part for part in parts if part.status != JobPart.Status.DONE]
    if not unfinished:  # every part was stored before the worker died: only the merge is left
        if services.job_merge_claim(job_id=job.pk):
            finish_job(job)
        return
    if len(parts) > 1:
        services.job_parts_enqueue(parts=unfinished)
        return
    part = services.part_claim(part_id=parts[0].pk)
    if part is not None:
        run_part(part)


def plan_video(job: Job) -> list[JobPart]:
    """Cut a video into its parts (one, or one per worker process for a long one)."""
    # The upload's checks probed the video; only a job created before they kept what they learned probes again.
    if job.video_info is None:
        with media.video_source(job.upload_key) as source:
            info = probe(source)
    else:
        info = job.video_info
    parts_wanted = split_parts_wanted() if services.video_needs_split(job=job, info=info) else 1
    return services.job_plan_video(
        job=job, info=info, parts=parts_wanted, redetect_every=DEFAULT_DETECTION.redetect_every
    )


def run_image(job: Job, model: GenderModel) -> None:
    """Analyse one image with the job's model, keep its annotated copy and finish the job."""
    services.job_plan_image(job=job)
    bgr = read_image(media.read_bytes(job.upload_key))
    faces = thread_analyzer(model).analyze_image(bgr).faces
    recorder = FrameRecorder(job)
    recorder.on_frame(FrameResult(index=0, time_seconds=0.0, faces=faces), bgr)
    recorder.close()
    finish_job(job)


def run_part(part: JobPart) -> None:
    """Analyse a claimed frame range from where its stored frames stop; the part completing the set finishes the job."""
    job = part.job
    recorder = FrameRecorder(job, part)
    model = job_model(job)
    with media.video_source(job.upload_key) as source:  # a temporary copy on object storage, always removed
        thread_analyzer(model).analyze_video(
            source,
            every_n_frames=job.every_n_frames,
            start_frame=part.frames_stored_until,
            end_frame=None if services.part_is_last(part) else part.end_frame,
            on_frame=recorder.on_frame,
            should_stop=recorder.control.should_stop,
        )
    recorder.close()
    if services.job_part_done(part=part):
        finish_job(job)


def finish_job(job: Job) -> bool:
    """Track faces over the merged frames of all parts and sum the job up, once; services record the result."""
    frames = selectors.job_frame_results(job)
    assign_tracks(frames)
    summary = summarize_video(frames, len(frames))
    faces = {(frame.index, number): face for frame in frames for number, face in enumerate(frame.faces)}
    return services.job_finish(
        job=job,
        summary=summary,
        track_ids={key: face.track_id for key, face in faces.items()},
        p_female_smoothed={key: face.p_female_smoothed for key, face in faces.items()},
    )


class FrameRecorder:
    """The on_frame callback of one run: batches rows, keeps the planned JPEGs, offers progress to the throttle."""

    def __init__(self, job: Job, part: JobPart | None = None) -> None:
        self.job = job
        self.part = part
        self.kept_frames = set(job.result_frames)
        self.saver = media.BackgroundSaver()  # annotated frames are stored while the analysis goes on
        self.buffer: list[FrameResult] = []
        self.control = RunControl(
            job, is_running=partial(selectors.job_is_running, job=job, part=part), share=job.parts_total
        )
        self._last_flush = time.monotonic()

    def on_frame(self, frame: FrameResult, bgr: np.ndarray) -> None:
        """Called by the pipeline for every analysed frame."""
        self._keep_frame(frame, bgr)
        self.control.throttle.add(
            points=[events.frame_point(frame)],
            latest_faces=events.frame_faces(frame),
            latest_frame_index=self.saver.latest_tag,  # only a frame already stored: the page loads it at once
        )
        self.buffer.append(frame)
        due = time.monotonic() - self._last_flush >= settings.GENREC_RESULT_FLUSH_SECONDS
        if due or len(self.buffer) >= settings.GENREC_RESULT_FLUSH_FRAMES:
            self.flush()

    def flush(self, *, final: bool = False) -> None:
        """Write the buffered frames in one transaction (the heartbeat) and offer a progress event to the throttle."""
        counters = None
        if self.buffer:
            counters = services.job_record_frames(job=self.job, frames=self.buffer, part=self.part)
            self.buffer = []
            self._last_flush = time.monotonic()
            if counters is None:
                self.control.stop()
        if counters is None:
            if not final:
                return
            counters = selectors.job_counters(job=self.job)
        self.control.throttle.send(**counters, force=final)

    def close(self) -> None:
        """Store the frames still on their way, write what is left and send the last progress event of this run."""
        self.saver.close()
        self.control.throttle.add(latest_frame_index=self.saver.latest_tag)
        self.flush(final=True)

    def _keep_frame(self, frame: FrameResult, bgr: np.ndarray) -> None:
        """Encode the annotated frame once if it is one the result page shows, and hand it to the saver."""
        if frame.index not in self.kept_frames:
            return
        encoded, jpeg = cv2.imencode(".jpg", annotate(bgr, frame.faces), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        if not encoded:
            logger.warning("Could not encode result frame %d of job %s", frame.index, self.job.public_id)
            return
        self.saver.save(self.job.result_frame_key(frame.index), jpeg.tobytes(), tag=frame.index)
