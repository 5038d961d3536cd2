"""Writes of the beat tasks and the admin: purge media by job state, reap jobs whose worker died, resend lost tasks.

A new purge rule goes here: a function that chooses files by the job rows that own them (never a file of a
PENDING or RUNNING job), called from ``media_purge_expired``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta
from functools import partial

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from .. import media
from ..models import RESULTS_FOLDER, STUDIES_FOLDER, UPLOADS_FOLDER, Job, JobPart
from .jobs import job_enqueue, job_fail, stale_before, upload_delete
from .parts import part_enqueue

logger = logging.getLogger(__name__)

ORPHAN_MIN_AGE = timedelta(hours=1)


def job_media_purge(*, job: Job, now: datetime | None = None) -> int:
    """Remove an ended job's upload and result frames now (admin action, and the sweep); files removed."""
    if job.status not in Job.FINAL_STATUSES:
        return 0
    removed = int(upload_delete(job=job)) + media.delete_tree(job.results_prefix)
    Job.objects.filter(pk=job.pk, status__in=Job.FINAL_STATUSES).update(
        media_purged_at=now or timezone.now(), result_frames=[]
    )
    return removed


def media_purge_expired(*, now: datetime | None = None) -> int:
    """Sweep the media storage by job state: leftovers of ended jobs, expired frames, old orphans. Objects removed."""
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
    cutoff = now - ORPHAN_MIN_AGE
    uploads = set(Job.objects.exclude(upload_name="").values_list("upload_name", flat=True))
    # A study folder without a row: a draft of loose files nobody ran, or a web process that died mid-upload.
    studies = set(Job.objects.filter(kind=Job.Kind.STUDY).values_list("upload_name", flat=True))
    results = {str(public_id) for public_id in Job.objects.values_list("public_id", flat=True)}
    return (
        _unknown_objects_remove(UPLOADS_FOLDER, known=uploads, cutoff=cutoff)
        + _unknown_prefixes_remove(STUDIES_FOLDER, known=studies, cutoff=cutoff)
        + _unknown_prefixes_remove(RESULTS_FOLDER, known=results, cutoff=cutoff)
    )


def _unknown_objects_remove(prefix: str, *, known: Iterable[str], cutoff: datetime) -> int:
    """Remove the objects directly under ``prefix`` whose name is not ``known`` and that were written before cutoff."""
    known = set(known)
    removed = 0
    for name in media.children(prefix)[1]:
        key = f"{prefix}/{name}"
        if name not in known and media.modified_time(key) < cutoff:
            removed += int(media.delete(key))
    return removed


def _unknown_prefixes_remove(prefix: str, *, known: Iterable[str], cutoff: datetime) -> int:
    """Remove every object under each ``prefix/<name>/`` whose name is not ``known`` and whose newest object was
    written before cutoff; how many objects went."""
    known = set(known)
    removed = 0
    for name in media.children(prefix)[0]:
        newest = None if name in known else media.newest_time(f"{prefix}/{name}")
        if newest is not None and newest < cutoff:
            removed += media.delete_tree(f"{prefix}/{name}")
    return removed


def jobs_reap_stale(*, now: datetime | None = None) -> tuple[int, int]:
    """Re-queue RUNNING jobs whose worker stopped heartbeating, or fail them after GENREC_MAX_ATTEMPTS.

    A split job with parts still waiting in the queue is not stale: it waits for a free worker.
    """
    now = now or timezone.now()
    requeued = failed = 0
    stale = Job.objects.filter(status=Job.Status.RUNNING, heartbeat_at__lt=stale_before(now)).exclude(
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
    waited_too_long = Q(queued_at__lt=stale_before(now)) | Q(queued_at__isnull=True, created_at__lt=stale_before(now))
    resent = 0
    for job_pk in Job.objects.filter(waited_too_long, status=Job.Status.PENDING).values_list("pk", flat=True):
        job_enqueue(job_pk)
        resent += 1
    parts = JobPart.objects.filter(status=JobPart.Status.PENDING, job__status=Job.Status.RUNNING).filter(
        Q(queued_at__lt=stale_before(now)) | Q(queued_at__isnull=True)
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
