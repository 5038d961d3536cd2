"""Writes for long videos: cut one into frame ranges (JobParts), queue and claim the parts, and mark them done.

A part's status changes only through conditional updates, like its job's; the part that finds every part DONE
is the one that finishes the job.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from genrec_site.celery import app as celery_app
from genrec_site.celery import queue_name
from workers.pipeline.config import DEFAULT_DETECTION
from workers.pipeline.types import VideoInfo, analysed_frames

from .. import counters
from ..models import AnalysedFrame, Detection, Job, JobPart
from .owners import owner_gone, this_worker

PROCESS_JOB_PART_TASK = "workers.tasks.process_job_part"


def frame_ranges(*, frame_count: int, every_n_frames: int, redetect_every: int, parts: int) -> list[tuple[int, int]]:
    """Cut [0, frame_count) into at most ``parts`` ranges whose inner boundaries restart the detector.

    Boundaries are multiples of every_n_frames * redetect_every: a range starting there detects exactly
    what a whole-video run detects for its frames. A video without a frame count never gets here: the
    upload's checks (validators.video_refusal) refuse it.
    """
    if frame_count <= 0:
        raise ValueError("a video without a frame count cannot be split (the upload checks refuse it)")
    block = every_n_frames * max(1, redetect_every)
    blocks = max(1, -(-frame_count // block))
    parts = max(1, min(parts, blocks))
    boundaries = [0] + [round(i * blocks / parts) * block for i in range(1, parts)] + [frame_count]
    return [(start, end) for start, end in zip(boundaries, boundaries[1:], strict=False) if end > start]


def planned_result_frames(*, frame_count: int, every_n_frames: int, kept: int) -> list[int]:
    """Frame indexes whose annotated JPEG is kept: ``kept`` analysed frames spread evenly, first and last included."""
    analysed = analysed_frames(frame_count, every_n_frames)
    if kept <= 0 or analysed <= 0:
        return []
    if analysed <= kept:
        positions = range(analysed)
    else:
        positions = sorted({round(i * (analysed - 1) / (kept - 1)) if kept > 1 else 0 for i in range(kept)})
    return [position * every_n_frames for position in positions]


def video_needs_split(*, job: Job, info: VideoInfo) -> bool:
    """Whether a video has more analysed frames than GENREC_SPLIT_MIN_FRAMES and so runs as several parts."""
    return analysed_frames(info.frame_count, job.every_n_frames) > settings.GENREC_SPLIT_MIN_FRAMES


def job_plan_video(*, job: Job, info: VideoInfo, parts: int, redetect_every: int) -> list[JobPart]:
    """Plan the kept result frames of a video and cut it into at most ``parts`` JobParts."""
    ranges = frame_ranges(
        frame_count=info.frame_count, every_n_frames=job.every_n_frames, redetect_every=redetect_every, parts=parts
    )
    result_frames = planned_result_frames(
        frame_count=info.frame_count, every_n_frames=job.every_n_frames, kept=settings.GENREC_RESULT_FRAMES_KEPT
    )
    with transaction.atomic():
        Job.objects.filter(pk=job.pk).update(
            frames_total=analysed_frames(info.frame_count, job.every_n_frames),
            result_frames=result_frames,
            parts_total=len(ranges),
            heartbeat_at=timezone.now(),
        )
        JobPart.objects.bulk_create(
            JobPart(job=job, index=index, start_frame=start, end_frame=end) for index, (start, end) in enumerate(ranges)
        )
    job.refresh_from_db()
    return list(job.parts.order_by("index"))


def job_parts_enqueue(*, parts: Sequence[JobPart]) -> None:
    """Queue one process_job_part task per part (after the current transaction commits)."""
    for part in parts:
        transaction.on_commit(partial(part_enqueue, part.pk))


def part_enqueue(part_pk: int) -> None:
    """Send one part's task, noting when, so the reaper can tell a lost message from a long queue."""
    queue = queue_name("videos")
    JobPart.objects.filter(pk=part_pk).update(queued_at=timezone.now())
    celery_app.send_task(PROCESS_JOB_PART_TASK, args=[part_pk], ignore_result=True, queue=queue)


def part_claim(*, part_id: int) -> JobPart | None:
    """Take a PENDING part of a RUNNING job (or a RUNNING one whose owner is gone) and rewind it to resume; else None.

    Attempts are bounded: a part whose owner died GENREC_MAX_ATTEMPTS times is left to the recovery, which fails it.
    """
    now = timezone.now()
    seen = (
        JobPart.objects.filter(pk=part_id, job__status=Job.Status.RUNNING)
        .values("status", "worker", "heartbeat_at", "attempts", "job__parts_total")
        .first()
    )
    if seen is None or not _part_claimable(seen, now):
        return None
    with transaction.atomic():
        changed = JobPart.objects.filter(
            pk=part_id,
            job__status=Job.Status.RUNNING,
            status=seen["status"],
            worker=seen["worker"],
            heartbeat_at=seen["heartbeat_at"],
        ).update(status=JobPart.Status.RUNNING, attempts=F("attempts") + 1, heartbeat_at=now, worker=this_worker())
        if changed != 1:
            return None
        part = JobPart.objects.select_related("job").get(pk=part_id)
        _part_rewind(part)
        Job.objects.filter(pk=part.job_id).update(heartbeat_at=now)
    if seen["attempts"] and seen["job__parts_total"] > 1:  # an unsplit job's claim counted it already
        counters.counter_add(counters.REDELIVERIES)
    return part


def _part_claimable(seen: dict, now) -> bool:
    if seen["status"] == JobPart.Status.PENDING:
        return True
    return (
        seen["status"] == JobPart.Status.RUNNING
        and seen["attempts"] < settings.GENREC_MAX_ATTEMPTS
        and owner_gone(seen["worker"], seen["heartbeat_at"], now)
    )


def resume_frame(part: JobPart, *, every_n_frames: int, redetect_every: int) -> int:
    """Where a part's next run starts: the last detector restart at or before its stored prefix.

    Detection state restarts every every_n_frames * redetect_every frames (parts start on such a frame too), so
    a run from there detects exactly what an uninterrupted run does.
    """
    block = every_n_frames * max(1, redetect_every)
    stored_until = max(part.start_frame, part.frames_stored_until)
    return part.start_frame + (stored_until - part.start_frame) // block * block


def _part_rewind(part: JobPart) -> None:
    """Keep what earlier runs stored before the resume frame; remove the rest and take it off the counters."""
    start = resume_frame(part, every_n_frames=part.job.every_n_frames, redetect_every=DEFAULT_DETECTION.redetect_every)
    in_range = Q(frame_index__gte=start)
    if not part_is_last(part):
        in_range &= Q(frame_index__lt=part.end_frame)
    frames_removed, _ = AnalysedFrame.objects.filter(in_range, job_id=part.job_id).delete()
    faces_removed, _ = Detection.objects.filter(in_range, job_id=part.job_id).delete()
    if frames_removed or faces_removed:
        Job.objects.filter(pk=part.job_id).update(
            frames_done=F("frames_done") - frames_removed, faces_found=F("faces_found") - faces_removed
        )
    kept = AnalysedFrame.objects.filter(job_id=part.job_id, frame_index__gte=part.start_frame, frame_index__lt=start)
    part.frames_done = kept.count()
    part.frames_stored_until = start
    part.resumed_from = start if start > part.start_frame else None
    JobPart.objects.filter(pk=part.pk).update(
        frames_done=part.frames_done, frames_stored_until=start, resumed_from=part.resumed_from
    )


def part_is_last(part: JobPart) -> bool:
    """The last part reads to the real end of the stream: containers may under-report their frame count."""
    return part.index == part.job.parts_total - 1


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
    return job_merge_claim(job_id=part.job_id)


def job_merge_claim(*, job_id: int) -> bool:
    """Claim the one merge of a job whose parts are all DONE; True for the single caller that must finish it."""
    return (
        Job.objects.filter(pk=job_id, status=Job.Status.RUNNING, finalizing_at__isnull=True).update(
            finalizing_at=timezone.now()
        )
        == 1
    )
