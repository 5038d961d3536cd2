"""Writes to jobs: create, queue, claim, record frames, finish, fail, cancel, delete and retry.

A job's status changes only here, and only through conditional updates that go on when exactly one
row changed, so two workers (or a worker and the reaper) can never both own a job. Services record what
they are given: the pipeline's work (tracking, summaries) is the worker's.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from datetime import datetime, timedelta
from functools import partial

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from genrec_site.celery import app as celery_app
from genrec_site.celery import queue_name
from workers.pipeline.types import FrameResult, VideoSummary, analysed_frames

from .. import counters, events, media
from ..models import AnalysedFrame, Detection, Job, JobPart, ModelVersion
from ..selectors import job_counters, job_frames_written, job_snapshot, model_version_default
from ..validators import ValidatedUpload
from .owners import owner_gone, this_worker

logger = logging.getLogger(__name__)

PROCESS_JOB_TASK = "workers.tasks.process_job"
ERROR_MAX_LENGTH = 2000
QUEUE_UNAVAILABLE = "The job queue is not reachable right now; please upload the file again in a few minutes."
CANCELLED_PART = "Cancelled with its job."
# The queue of each kind of job: a photo never waits behind a video or a study.
KIND_QUEUES = {Job.Kind.IMAGE: "photos", Job.Kind.VIDEO: "videos", Job.Kind.STUDY: "studies"}


# ---- creating, queueing and claiming ----


def job_create(
    *, owner, upload: ValidatedUpload, every_n_frames: int, model_version: ModelVersion | None = None
) -> Job:
    """Create the PENDING job of an upload already stored and checked, and queue it once committed.

    The job records its model now: the one chosen (already checked to be available), else the active one, so
    changing the active model later never changes what a queued job uses. On any failure neither the row nor
    the file is left behind.
    """
    info = upload.info
    every_n_frames = max(1, int(every_n_frames)) if info else 1
    try:
        with transaction.atomic():
            job = Job.objects.create(
                owner=owner,
                kind=upload.kind,
                original_name=upload.display_name,
                upload_name=upload.upload_name,
                size_bytes=upload.size_bytes,
                every_n_frames=every_n_frames,
                frames_total=analysed_frames(info.frame_count, every_n_frames) if info else 1,
                frame_count=info.frame_count if info else 0,
                fps=upload.fps,
                width=upload.width,
                height=upload.height,
                model_version=model_version or model_version_default(),
            )
            transaction.on_commit(partial(job_enqueue, job.pk))
    except BaseException:
        upload.discard()
        raise
    return job


def job_enqueue(job_pk: int) -> None:
    """Queue process_job on its kind's queue; a broker that is down fails the job at once, never PENDING forever.

    Results are ignored: the database holds the outcome, and a sender waiting on result channels would
    subscribe to one per task for as long as the web process lives.
    """
    try:
        kind = Job.objects.filter(pk=job_pk).values_list("kind", flat=True).first()
        if kind is None:
            return
        queue = queue_name(KIND_QUEUES[kind])
        Job.objects.filter(pk=job_pk).update(queued_at=timezone.now(), queue=queue)
        celery_app.send_task(PROCESS_JOB_TASK, args=[job_pk], ignore_result=True, queue=queue)
    except Exception:
        logger.exception("Could not queue job %s", job_pk)
        job = Job.objects.filter(pk=job_pk).first()
        if job is not None:
            job_fail(job=job, error=QUEUE_UNAVAILABLE)


def stale_before(now: datetime) -> datetime:
    """Heartbeats older than this (GENREC_STALE_AFTER_SECONDS before now) belong to a worker that died."""
    return now - timedelta(seconds=settings.GENREC_STALE_AFTER_SECONDS)


def job_claim(*, job_id: int) -> Job | None:
    """Take a PENDING job (or a RUNNING one whose owner is gone) for this worker process; None if not ours.

    A video that already has parts keeps what they stored: its parts resume (``parts.part_claim``). Any other
    job forgets what an earlier run wrote, so a re-run never duplicates results.
    """
    now = timezone.now()
    seen = Job.objects.filter(pk=job_id).values("status", "worker", "heartbeat_at", "attempts").first()
    if seen is None or not _job_claimable(seen, now):
        return None
    with transaction.atomic():
        changed = Job.objects.filter(
            pk=job_id, status=seen["status"], worker=seen["worker"], heartbeat_at=seen["heartbeat_at"]
        ).update(
            status=Job.Status.RUNNING,
            attempts=F("attempts") + 1,
            started_at=now,
            heartbeat_at=now,
            worker=this_worker(),
            finished_at=None,
            finalizing_at=None,
            error="",
        )
        if changed != 1:
            return None
        job = Job.objects.get(pk=job_id)
        if job.kind != Job.Kind.VIDEO or not job.parts.exists():
            _results_reset(job)
    if seen["attempts"]:
        counters.counter_add(counters.REDELIVERIES)
    return job


def _job_claimable(seen: dict, now: datetime) -> bool:
    if seen["status"] == Job.Status.PENDING:
        return True
    return (
        seen["status"] == Job.Status.RUNNING
        and seen["attempts"] < settings.GENREC_MAX_ATTEMPTS
        and owner_gone(seen["worker"], seen["heartbeat_at"], now)
    )


def job_heartbeat(*, job: Job) -> bool:
    """The heartbeat thread's write: this process's parts of the job, and the job; False once nothing is ours."""
    now = timezone.now()
    me = this_worker()
    with transaction.atomic():
        # A part that is DONE still beats while its task merges the job.
        parts = JobPart.objects.filter(
            job_id=job.pk, worker=me, status__in=(JobPart.Status.RUNNING, JobPart.Status.DONE)
        ).update(heartbeat_at=now)
        ours = Q() if parts else Q(worker=me)
        return Job.objects.filter(ours, pk=job.pk, status=Job.Status.RUNNING).update(heartbeat_at=now) == 1


def _results_reset(job: Job) -> None:
    """Forget everything an earlier run of this job wrote (rows, counters, kept frames)."""
    job.parts.all().delete()
    job.detections.all().delete()
    job.analysed_frames.all().delete()
    Job.objects.filter(pk=job.pk).update(frames_done=0, faces_found=0, parts_total=0, summary={})
    job.frames_done = job.faces_found = job.parts_total = 0
    job.summary = {}
    media.delete_tree(job.results_prefix)


def job_plan_image(*, job: Job) -> None:
    """An image is one analysed frame whose annotated copy is kept."""
    Job.objects.filter(pk=job.pk).update(frames_total=1, result_frames=[0])
    job.frames_total, job.result_frames = 1, [0]


def job_use_model(*, job: Job, model) -> ModelVersion:
    """Record which model (by its sha256) analyses a job created without one, registering it on first sight.

    Only the fallback takes this path (no model row existed when the job was created); a synced folder of the
    same file is preferred, and sync_models adopts a row registered here once it finds the folder.
    """
    version = ModelVersion.objects.filter(sha256=model.sha256).order_by("-available", "pk").first()
    if version is None:
        # Two workers may meet the same unregistered model at once: the name is unique, so one row wins.
        version, _ = ModelVersion.objects.get_or_create(
            name=f"{model.name or 'model'}-{model.sha256[:12]}",
            defaults={"sha256": model.sha256, "metrics": model.manifest.get("metrics", {})},
        )
    Job.objects.filter(pk=job.pk).update(model_version=version)
    job.model_version = version
    return version


# ---- recording progress ----


def job_record_frames(*, job: Job, frames: Sequence[FrameResult], part: JobPart | None = None) -> dict | None:
    """Store a batch of analysed frames and bump the counters; the job's current counters, or None if it stopped.

    Counters use F() increments because the parts of one video write at the same time.
    """
    now = timezone.now()
    face_count = sum(len(frame.faces) for frame in frames)
    with transaction.atomic():
        changed = Job.objects.filter(pk=job.pk, status=Job.Status.RUNNING).update(
            frames_done=F("frames_done") + len(frames), faces_found=F("faces_found") + face_count, heartbeat_at=now
        )
        if part is not None and changed:
            # Only the part's owner writes, and the stored prefix moves with the rows, in the same transaction.
            changed = JobPart.objects.filter(pk=part.pk, status=JobPart.Status.RUNNING, worker=part.worker).update(
                frames_done=F("frames_done") + len(frames), frames_stored_until=frames[-1].index + 1, heartbeat_at=now
            )
        if not changed:
            transaction.set_rollback(True)
            return None
        AnalysedFrame.objects.bulk_create(_analysed_frame_rows(job, frames))
        Detection.objects.bulk_create(_detection_rows(job, frames))
    counters.counter_add(counters.FRAMES_ANALYSED, len(frames))
    return job_counters(job=job)


def _analysed_frame_rows(job: Job, frames: Sequence[FrameResult]) -> list[AnalysedFrame]:
    return [
        AnalysedFrame(
            job=job,
            frame_index=frame.index,
            time_seconds=frame.time_seconds,
            faces=len(frame.faces),
            mean_p_female=events.mean_p_female(frame.faces),
        )
        for frame in frames
    ]


def _detection_rows(job: Job, frames: Sequence[FrameResult]) -> list[Detection]:
    return [
        Detection(
            job=job,
            frame_index=frame.index,
            face_index=face_index,
            time_seconds=frame.time_seconds,
            x=face.box.x,
            y=face.box.y,
            w=face.box.w,
            h=face.box.h,
            label=face.label,
            p_female=float(face.p_female),
            confidence=float(face.confidence),
            track_id=face.track_id,
            descriptor=None if face.descriptor is None else list(face.descriptor),
        )
        for frame in frames
        for face_index, face in enumerate(frame.faces)
    ]


# ---- ending a job ----


def job_finish(
    *,
    job: Job,
    summary: VideoSummary,
    track_ids: Mapping[tuple[int, int], int | None],
    p_female_smoothed: Mapping[tuple[int, int], float | None] | None = None,
) -> bool:
    """Record the summary and, per detection ((frame_index, face_index) -> value), its track id and smoothed
    P(female); mark the job SUCCEEDED. Only the result frames really written stay listed. False when the job
    was no longer RUNNING.
    """
    job.refresh_from_db(fields=["result_frames"])
    kept = job_frames_written(job)
    smoothed = p_female_smoothed or {}
    rows = [
        (track_ids.get((frame_index, face_index)), smoothed.get((frame_index, face_index)), pk)
        for pk, frame_index, face_index in job.detections.order_by().values_list("pk", "frame_index", "face_index")
    ]
    return job_succeed(
        job=job,
        summary=asdict(summary),
        then=partial(_tracks_write, rows),
        result_frames=kept,
        frames_total=summary.frames_analyzed,
    )


def _tracks_write(rows: Sequence[tuple[int | None, float | None, int]]) -> None:
    """Set (track_id, p_female_smoothed) of each detection by primary key with one prepared UPDATE, executemany.

    Each detection has its own smoothed value, so the former one UPDATE per track cannot carry it, and
    bulk_update's CASE ... WHEN took two seconds to build for 3,000 detections; this takes milliseconds.
    """
    quote = connection.ops.quote_name
    meta = Detection._meta
    columns = (meta.get_field("track_id").column, meta.get_field("p_female_smoothed").column, meta.pk.column)
    sql = "UPDATE {} SET {} = %s, {} = %s WHERE {} = %s".format(quote(meta.db_table), *map(quote, columns))
    with connection.cursor() as cursor:
        cursor.executemany(sql, list(rows))


def job_succeed(*, job: Job, summary: dict, then: Callable[[], None] | None = None, **fields) -> bool:
    """Mark a RUNNING job SUCCEEDED with its summary (and ``fields``); ``then`` writes more in the same transaction."""
    now = timezone.now()
    with transaction.atomic():
        changed = Job.objects.filter(pk=job.pk, status=Job.Status.RUNNING).update(
            status=Job.Status.SUCCEEDED, summary=summary, finished_at=now, heartbeat_at=now, **fields
        )
        if changed != 1:
            return False
        if then is not None:
            then()
        transaction.on_commit(partial(job_ended, job.pk))
    return True


def job_fail(*, job: Job, error: str) -> bool:
    """Mark an active job FAILED with a message for its owner."""
    return _job_end(job, Job.Status.FAILED, error[:ERROR_MAX_LENGTH])


def job_cancel(*, job: Job) -> bool:
    """Cancel a PENDING or RUNNING job; its workers notice within a second and stop every part."""
    return _job_end(job, Job.Status.CANCELLED, "")


def _job_end(job: Job, status: str, error: str) -> bool:
    now = timezone.now()
    with transaction.atomic():
        changed = Job.objects.filter(pk=job.pk, status__in=Job.ACTIVE_STATUSES).update(
            status=status, error=error, finished_at=now
        )
        if changed != 1:
            return False
        part_error = error or CANCELLED_PART
        job.parts.filter(status__in=(JobPart.Status.PENDING, JobPart.Status.RUNNING)).update(
            status=JobPart.Status.FAILED, error=part_error[:ERROR_MAX_LENGTH]
        )
        transaction.on_commit(partial(job_ended, job.pk))
    return True


def job_ended(job_pk: int) -> None:
    """After a job reached a final state: its upload goes at once, and watchers get the final snapshot."""
    job = Job.objects.filter(pk=job_pk).first()
    if job is None:
        return
    upload_delete(job=job)
    events.send_job_event(job.public_id, events.finished_message(job_snapshot(job)))


def upload_delete(*, job: Job) -> bool:
    """Delete the job's upload (one object, or a study's videos under its prefix) if it still exists."""
    key = job.upload_key
    if key is None:
        return False
    if job.kind == Job.Kind.STUDY:
        return media.delete_tree(key) > 0
    return media.delete(key)


def job_delete(*, job: Job) -> None:
    """Delete a job with its upload and result frames (a running job is cancelled first so workers stop)."""
    job_cancel(job=job)
    upload_delete(job=job)
    media.delete_tree(job.results_prefix)
    job.delete()


def job_retry(*, job: Job) -> bool:
    """Put a FAILED or CANCELLED job back in the queue (admin); False when it is not ended or its upload is gone."""
    if job.upload_key is None or job.kind == Job.Kind.STUDY or not media.exists(job.upload_key):
        return False
    with transaction.atomic():
        changed = Job.objects.filter(pk=job.pk, status__in=(Job.Status.FAILED, Job.Status.CANCELLED)).update(
            status=Job.Status.PENDING, attempts=0, error="", started_at=None, finished_at=None, heartbeat_at=None
        )
        if changed != 1:
            return False
        _results_reset(job)
        transaction.on_commit(partial(job_enqueue, job.pk))
    return True
