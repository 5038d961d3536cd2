"""Writes to jobs: create, claim, record, finish, fail, cancel, delete, retry, purge and reap.

A job's status changes only here, and only through conditional updates that go on when exactly one
row changed, so two workers (or a worker and the reaper) can never both own a job.
"""

from __future__ import annotations

import logging
import math
import shutil
import uuid
from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime, timedelta
from functools import partial

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from genrec_site.celery import app as celery_app
from workers.pipeline.tracking import assign_tracks, summarize_video
from workers.pipeline.types import Box, Face, FrameResult, VideoInfo

from . import events
from .models import AnalysedFrame, Detection, Job, JobPart, ModelVersion, results_root, studies_dir, uploads_dir
from .selectors import job_snapshot
from .validators import ValidatedUpload

logger = logging.getLogger(__name__)

PROCESS_JOB_TASK = "workers.tasks.process_job"
PROCESS_JOB_PART_TASK = "workers.tasks.process_job_part"
ORPHAN_MIN_AGE = timedelta(hours=1)
ERROR_MAX_LENGTH = 2000
QUEUE_UNAVAILABLE = "The job queue is not reachable right now; please upload the file again in a few minutes."
CANCELLED_PART = "Cancelled with its job."
# Primary keys per UPDATE when track ids are written: well under SQLite's limit of bound parameters.
TRACK_UPDATE_CHUNK = 500


# ---- creating and claiming ----


def job_create(*, owner, upload: ValidatedUpload, every_n_frames: int) -> Job:
    """Save a validated upload under a UUID name, create its PENDING job and queue it once committed.

    On any failure neither the row nor the file is left behind.
    """
    upload_name = f"{uuid.uuid4().hex}.{upload.extension}"
    path = uploads_dir() / upload_name
    path.parent.mkdir(parents=True, exist_ok=True)
    is_video = upload.kind == Job.Kind.VIDEO
    every_n_frames = max(1, int(every_n_frames)) if is_video else 1
    try:
        with path.open("xb") as handle:
            upload.file.seek(0)
            for chunk in upload.file.chunks():
                handle.write(chunk)
        path.chmod(settings.FILE_UPLOAD_PERMISSIONS or 0o600)
        with transaction.atomic():
            job = Job.objects.create(
                owner=owner,
                kind=upload.kind,
                original_name=upload.display_name,
                upload_name=upload_name,
                size_bytes=upload.size_bytes,
                every_n_frames=every_n_frames,
                frames_total=math.ceil(upload.frames / every_n_frames) if is_video else 1,
                fps=upload.fps,
                width=upload.width,
                height=upload.height,
            )
            transaction.on_commit(partial(job_enqueue, job.pk))
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return job


def job_enqueue(job_pk: int) -> None:
    """Queue process_job; a broker that is down fails the job at once instead of leaving it PENDING forever.

    Results are ignored: the database holds the outcome, and a sender waiting on result channels would
    subscribe to one per task for as long as the web process lives.
    """
    try:
        Job.objects.filter(pk=job_pk).update(queued_at=timezone.now())
        celery_app.send_task(PROCESS_JOB_TASK, args=[job_pk], ignore_result=True)
    except Exception:
        logger.exception("Could not queue job %s", job_pk)
        job = Job.objects.filter(pk=job_pk).first()
        if job is not None:
            job_fail(job=job, error=QUEUE_UNAVAILABLE)


def _stale_before(now: datetime) -> datetime:
    return now - timedelta(seconds=settings.GENREC_STALE_AFTER_SECONDS)


def job_claim(*, job_id: int) -> Job | None:
    """Take a PENDING job (or a RUNNING one whose worker stopped heartbeating) for this worker; None if not ours.

    Whatever an earlier run of the job wrote is removed first, so a re-run never duplicates results.
    """
    now = timezone.now()
    claimable = Q(status=Job.Status.PENDING) | Q(
        status=Job.Status.RUNNING, heartbeat_at__lt=_stale_before(now), attempts__lt=settings.GENREC_MAX_ATTEMPTS
    )
    with transaction.atomic():
        changed = Job.objects.filter(claimable, pk=job_id).update(
            status=Job.Status.RUNNING,
            attempts=F("attempts") + 1,
            started_at=now,
            heartbeat_at=now,
            finished_at=None,
            finalizing_at=None,
            error="",
        )
        if changed != 1:
            return None
        job = Job.objects.get(pk=job_id)
        _results_reset(job)
    return job


def _results_reset(job: Job) -> None:
    """Forget everything an earlier run of this job wrote (rows, counters, kept frames)."""
    job.parts.all().delete()
    job.detections.all().delete()
    job.analysed_frames.all().delete()
    Job.objects.filter(pk=job.pk).update(frames_done=0, faces_found=0, parts_total=0, summary={})
    job.frames_done = job.faces_found = job.parts_total = 0
    job.summary = {}
    shutil.rmtree(job.results_dir, ignore_errors=True)


# ---- splitting a video into frame ranges ----


def frame_ranges(*, frame_count: int, every_n_frames: int, redetect_every: int, parts: int) -> list[tuple[int, int]]:
    """Cut [0, frame_count) into at most ``parts`` ranges whose inner boundaries restart the detector.

    Boundaries are multiples of every_n_frames * redetect_every: a range starting there detects exactly
    what a whole-video run detects for its frames.
    """
    if frame_count <= 0:
        return [(0, 0)]  # a container that does not say its length: one part, read to the end of the stream
    block = every_n_frames * max(1, redetect_every)
    blocks = max(1, math.ceil(frame_count / block))
    parts = max(1, min(parts, blocks))
    boundaries = [0] + [round(i * blocks / parts) * block for i in range(1, parts)] + [frame_count]
    return [(start, end) for start, end in zip(boundaries, boundaries[1:], strict=False) if end > start]


def planned_result_frames(*, frame_count: int, every_n_frames: int, kept: int) -> list[int]:
    """Frame indexes whose annotated JPEG is kept: ``kept`` analysed frames spread evenly, first and last included."""
    analysed = math.ceil(frame_count / every_n_frames)
    if kept <= 0 or analysed <= 0:
        return []
    if analysed <= kept:
        positions = range(analysed)
    else:
        positions = sorted({round(i * (analysed - 1) / (kept - 1)) if kept > 1 else 0 for i in range(kept)})
    return [position * every_n_frames for position in positions]


def video_needs_split(*, job: Job, info: VideoInfo) -> bool:
    """Whether a video has more analysed frames than GENREC_SPLIT_MIN_FRAMES and so runs as several parts."""
    return math.ceil(info.frame_count / job.every_n_frames) > settings.GENREC_SPLIT_MIN_FRAMES


def job_plan_video(*, job: Job, info: VideoInfo, parts: int, redetect_every: int) -> list[JobPart]:
    """Record what the video really is, plan the kept result frames and cut it into at most ``parts`` JobParts."""
    ranges = frame_ranges(
        frame_count=info.frame_count, every_n_frames=job.every_n_frames, redetect_every=redetect_every, parts=parts
    )
    result_frames = planned_result_frames(
        frame_count=info.frame_count, every_n_frames=job.every_n_frames, kept=settings.GENREC_RESULT_FRAMES_KEPT
    )
    with transaction.atomic():
        Job.objects.filter(pk=job.pk).update(
            frames_total=math.ceil(info.frame_count / job.every_n_frames),
            fps=info.fps,
            width=info.width,
            height=info.height,
            result_frames=result_frames,
            parts_total=len(ranges),
            heartbeat_at=timezone.now(),
        )
        JobPart.objects.bulk_create(
            JobPart(job=job, index=index, start_frame=start, end_frame=end) for index, (start, end) in enumerate(ranges)
        )
    job.refresh_from_db()
    return list(job.parts.order_by("index"))


def job_plan_image(*, job: Job) -> None:
    """An image is one analysed frame whose annotated copy is kept."""
    Job.objects.filter(pk=job.pk).update(frames_total=1, result_frames=[0])
    job.frames_total, job.result_frames = 1, [0]


def job_use_model(*, job: Job, model) -> ModelVersion:
    """Record which model (by its sha256) analyses this job, registering the version on first sight."""
    version, _ = ModelVersion.objects.get_or_create(
        sha256=model.sha256,
        defaults={"name": f"{model.name or 'model'}-{model.sha256[:12]}", "metrics": model.manifest.get("metrics", {})},
    )
    Job.objects.filter(pk=job.pk).update(model_version=version)
    job.model_version = version
    return version


def job_parts_enqueue(*, parts: Sequence[JobPart]) -> None:
    """Queue one process_job_part task per part (after the current transaction commits)."""
    for part in parts:
        transaction.on_commit(partial(part_enqueue, part.pk))


def part_enqueue(part_pk: int) -> None:
    """Send one part's task, noting when, so the reaper can tell a lost message from a long queue."""
    JobPart.objects.filter(pk=part_pk).update(queued_at=timezone.now())
    celery_app.send_task(PROCESS_JOB_PART_TASK, args=[part_pk], ignore_result=True)


def part_claim(*, part_id: int) -> JobPart | None:
    """Take a PENDING part of a RUNNING job (or a stale RUNNING one, after clearing what it wrote); else None."""
    now = timezone.now()
    claimable = Q(status=JobPart.Status.PENDING) | Q(status=JobPart.Status.RUNNING, heartbeat_at__lt=_stale_before(now))
    with transaction.atomic():
        changed = JobPart.objects.filter(claimable, pk=part_id, job__status=Job.Status.RUNNING).update(
            status=JobPart.Status.RUNNING, attempts=F("attempts") + 1, heartbeat_at=now, error=""
        )
        if changed != 1:
            return None
        part = JobPart.objects.select_related("job").get(pk=part_id)
        _part_reset(part)
        Job.objects.filter(pk=part.job_id).update(heartbeat_at=now)
    return part


def _part_reset(part: JobPart) -> None:
    """Remove what an earlier run of this part wrote and take it off the job's counters."""
    in_range = Q(frame_index__gte=part.start_frame)
    if not part_is_last(part):
        in_range &= Q(frame_index__lt=part.end_frame)
    frames_removed, _ = AnalysedFrame.objects.filter(in_range, job_id=part.job_id).delete()
    faces_removed, _ = Detection.objects.filter(in_range, job_id=part.job_id).delete()
    if frames_removed or faces_removed:
        Job.objects.filter(pk=part.job_id).update(
            frames_done=F("frames_done") - frames_removed, faces_found=F("faces_found") - faces_removed
        )
    JobPart.objects.filter(pk=part.pk).update(frames_done=0)
    part.frames_done = 0


def part_is_last(part: JobPart) -> bool:
    """The last part reads to the real end of the stream: containers may under-report their frame count."""
    return part.index == part.job.parts_total - 1


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
            changed = JobPart.objects.filter(pk=part.pk, status=JobPart.Status.RUNNING).update(
                frames_done=F("frames_done") + len(frames), heartbeat_at=now
            )
        if not changed:
            transaction.set_rollback(True)
            return None
        AnalysedFrame.objects.bulk_create(_analysed_frame_rows(job, frames))
        Detection.objects.bulk_create(_detection_rows(job, frames))
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
        )
        for frame in frames
        for face_index, face in enumerate(frame.faces)
    ]


def job_counters(*, job: Job) -> dict:
    """The job's progress counters as they are in the database now."""
    return Job.objects.filter(pk=job.pk).values("frames_done", "frames_total", "faces_found").get()


def job_is_running(*, job: Job, part: JobPart | None = None) -> bool:
    """Whether the job (and this part of it) should go on: the cheap check behind should_stop()."""
    if part is not None:
        return JobPart.objects.filter(
            pk=part.pk, status=JobPart.Status.RUNNING, job__status=Job.Status.RUNNING
        ).exists()
    return Job.objects.filter(pk=job.pk, status=Job.Status.RUNNING).exists()


# ---- ending a job ----


def job_part_done(*, part: JobPart) -> bool:
    """Mark a part DONE; True only for the one caller that must now merge the parts and finish the job."""
    now = timezone.now()
    if (
        JobPart.objects.filter(pk=part.pk, status=JobPart.Status.RUNNING).update(
            status=JobPart.Status.DONE, heartbeat_at=now
        )
        != 1
    ):
        return False
    # Every part marks itself DONE before looking, so the last one to do so sees all of them DONE.
    if JobPart.objects.filter(job_id=part.job_id).exclude(status=JobPart.Status.DONE).exists():
        return False
    return (
        Job.objects.filter(pk=part.job_id, status=Job.Status.RUNNING, finalizing_at__isnull=True).update(
            finalizing_at=now
        )
        == 1
    )


def job_frame_results(job: Job) -> list[FrameResult]:
    """Rebuild the whole analysed sequence of a job from its rows, frames without faces included."""
    frames = {
        row.frame_index: FrameResult(index=row.frame_index, time_seconds=row.time_seconds, faces=[])
        for row in job.analysed_frames.order_by("frame_index")
    }
    for detection in job.detections.order_by("frame_index", "face_index"):
        frames[detection.frame_index].faces.append(
            Face(
                box=Box(detection.x, detection.y, detection.w, detection.h),
                label=detection.label,
                p_female=detection.p_female,
                confidence=detection.confidence,
            )
        )
    return list(frames.values())


def job_finish(*, job: Job) -> bool:
    """Assign tracks over the whole sequence, write the summary and mark the job SUCCEEDED."""
    frames = job_frame_results(job)
    assign_tracks(frames)
    summary = summarize_video(frames, len(frames))
    job.refresh_from_db(fields=["result_frames"])
    kept = [index for index in job.result_frames if job.result_frame_path(index).is_file()]
    track_ids = {
        (frame.index, face_index): face.track_id for frame in frames for face_index, face in enumerate(frame.faces)
    }
    # One UPDATE ... WHERE pk IN (...) per track and chunk: a video has few tracks and many detections, and
    # loading the rows as model instances to bulk_update them cost two seconds for 3,000 detections.
    detections_by_track: dict[int | None, list[int]] = {}
    for pk, frame_index, face_index in job.detections.order_by().values_list("pk", "frame_index", "face_index"):
        detections_by_track.setdefault(track_ids[(frame_index, face_index)], []).append(pk)
    now = timezone.now()
    with transaction.atomic():
        changed = Job.objects.filter(pk=job.pk, status=Job.Status.RUNNING).update(
            status=Job.Status.SUCCEEDED,
            summary=asdict(summary),
            result_frames=kept,
            frames_total=len(frames),
            finished_at=now,
            heartbeat_at=now,
        )
        if changed != 1:
            return False
        for track_id, pks in detections_by_track.items():
            for start in range(0, len(pks), TRACK_UPDATE_CHUNK):
                Detection.objects.filter(pk__in=pks[start : start + TRACK_UPDATE_CHUNK]).update(track_id=track_id)
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
    """Delete the job's upload (a file, or a study's folder of videos) if it still exists."""
    path = job.upload_path
    if path is None or not path.exists():
        return False
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
    return True


def job_delete(*, job: Job) -> None:
    """Delete a job with its upload and result frames (a running job is cancelled first so workers stop)."""
    job_cancel(job=job)
    upload_delete(job=job)
    shutil.rmtree(job.results_dir, ignore_errors=True)
    job.delete()


def job_retry(*, job: Job) -> bool:
    """Put a FAILED or CANCELLED job back in the queue (admin); False when it is not ended or its upload is gone."""
    if job.upload_path is None or not job.upload_path.is_file():
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


# ---- housekeeping (beat) ----


def job_media_purge(*, job: Job, now: datetime | None = None) -> int:
    """Remove an ended job's upload and result frames now (admin action, and the sweep); files removed."""
    if job.status not in Job.FINAL_STATUSES:
        return 0
    removed = int(upload_delete(job=job))
    if job.results_dir.is_dir():
        removed += sum(1 for path in job.results_dir.iterdir() if path.is_file())
        shutil.rmtree(job.results_dir, ignore_errors=True)
    Job.objects.filter(pk=job.pk, status__in=Job.FINAL_STATUSES).update(
        media_purged_at=now or timezone.now(), result_frames=[]
    )
    return removed


def media_purge_expired(*, now: datetime | None = None) -> int:
    """Sweep MEDIA_ROOT by job state: leftovers of ended jobs, expired result frames, old orphans. Files removed."""
    now = now or timezone.now()
    removed = 0
    ended = Job.objects.filter(status__in=Job.FINAL_STATUSES)
    for job in ended.exclude(upload_name="").only("pk", "upload_name"):
        removed += int(upload_delete(job=job))
    expired = ended.filter(
        finished_at__lt=now - timedelta(hours=settings.GENREC_RESULT_RETENTION_HOURS), media_purged_at__isnull=True
    )
    for job in expired:
        removed += job_media_purge(job=job, now=now)
    removed += _orphans_remove(now)
    if removed:
        logger.info("Media sweep removed %d file(s)", removed)
    return removed


def _orphans_remove(now: datetime) -> int:
    """Remove uploads, study folders and result folders that no job row names, once they are older than an hour."""
    cutoff = (now - ORPHAN_MIN_AGE).timestamp()
    removed = 0
    uploads = uploads_dir()
    if uploads.is_dir():
        known = set(Job.objects.exclude(upload_name="").values_list("upload_name", flat=True))
        for path in uploads.iterdir():
            if path.is_file() and path.name not in known and path.stat().st_mtime < cutoff:
                path.unlink(missing_ok=True)
                removed += 1
    studies = studies_dir()
    if studies.is_dir():  # a web process that died while unpacking a study archive
        known = set(Job.objects.filter(kind=Job.Kind.STUDY).values_list("upload_name", flat=True))
        for folder in studies.iterdir():
            if folder.is_dir() and folder.name not in known and folder.stat().st_mtime < cutoff:
                removed += sum(1 for path in folder.rglob("*") if path.is_file())
                shutil.rmtree(folder, ignore_errors=True)
    results = results_root()
    if results.is_dir():
        known_ids = {str(public_id) for public_id in Job.objects.values_list("public_id", flat=True)}
        for folder in results.iterdir():
            if folder.is_dir() and folder.name not in known_ids and folder.stat().st_mtime < cutoff:
                removed += sum(1 for path in folder.iterdir() if path.is_file())
                shutil.rmtree(folder, ignore_errors=True)
    return removed


def jobs_reap_stale(*, now: datetime | None = None) -> tuple[int, int]:
    """Re-queue RUNNING jobs whose worker stopped heartbeating, or fail them after GENREC_MAX_ATTEMPTS.

    A split job with parts still waiting in the queue is not stale: it waits for a free worker.
    """
    now = now or timezone.now()
    requeued = failed = 0
    stale = Job.objects.filter(status=Job.Status.RUNNING, heartbeat_at__lt=_stale_before(now)).exclude(
        parts__status=JobPart.Status.PENDING
    )
    for job in stale:
        if job.attempts < settings.GENREC_MAX_ATTEMPTS:
            with transaction.atomic():
                changed = Job.objects.filter(
                    pk=job.pk, status=Job.Status.RUNNING, heartbeat_at=job.heartbeat_at
                ).update(status=Job.Status.PENDING, heartbeat_at=None)
                if changed == 1:
                    transaction.on_commit(partial(job_enqueue, job.pk))
                    requeued += 1
        elif job_fail(job=job, error=stale_error(job.attempts)):
            failed += 1
    resent = _resend_lost_messages(now)
    if requeued or failed or resent:
        logger.warning(
            "Reaper: %d stale job(s) re-queued, %d failed, %d waiting task(s) sent again", requeued, failed, resent
        )
    return requeued, failed


def _resend_lost_messages(now: datetime) -> int:
    """Send again the task of a PENDING job or part that has waited longer than the stale limit.

    A broker that restarts without persistence forgets its queue; the database still says PENDING. A message
    that was only slow is harmless to duplicate: claims are conditional, so the second copy finds nothing to do.
    """
    waited_too_long = Q(queued_at__lt=_stale_before(now)) | Q(queued_at__isnull=True, created_at__lt=_stale_before(now))
    resent = 0
    for job_pk in Job.objects.filter(waited_too_long, status=Job.Status.PENDING).values_list("pk", flat=True):
        job_enqueue(job_pk)
        resent += 1
    parts = JobPart.objects.filter(status=JobPart.Status.PENDING, job__status=Job.Status.RUNNING).filter(
        Q(queued_at__lt=_stale_before(now)) | Q(queued_at__isnull=True)
    )
    for part_pk in parts.values_list("pk", flat=True):
        part_enqueue(part_pk)
        resent += 1
    return resent


def stale_error(attempts: int) -> str:
    """The owner's message for a job whose worker kept dying."""
    return (
        f"The worker processing this file stopped responding {attempts} time(s); we gave up. "
        "The file may be too demanding: try a shorter clip or analyse fewer frames."
    )
