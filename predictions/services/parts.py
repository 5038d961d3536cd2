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
from workers.pipeline.types import VideoInfo, analysed_frames

from ..models import AnalysedFrame, Detection, Job, JobPart
from .jobs import stale_before

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
    JobPart.objects.filter(pk=part_pk).update(queued_at=timezone.now())
    celery_app.send_task(PROCESS_JOB_PART_TASK, args=[part_pk], ignore_result=True)


def part_claim(*, part_id: int) -> JobPart | None:
    """Take a PENDING part of a RUNNING job (or a stale RUNNING one, after clearing what it wrote); else None."""
    now = timezone.now()
    claimable = Q(status=JobPart.Status.PENDING) | Q(status=JobPart.Status.RUNNING, heartbeat_at__lt=stale_before(now))
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
