"""Writes of the beat tasks and the admin: purge media by job state, reap jobs whose worker died, resend lost tasks.

A new purge rule goes here: a function that chooses files by the job rows that own them (never a file of a
PENDING or RUNNING job), called from ``media_purge_expired``.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterable
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from ..models import Job, JobPart, results_root, studies_dir, uploads_dir
from .jobs import job_enqueue, job_fail, stale_before, upload_delete
from .parts import part_enqueue

logger = logging.getLogger(__name__)

ORPHAN_MIN_AGE = timedelta(hours=1)


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
    uploads = set(Job.objects.exclude(upload_name="").values_list("upload_name", flat=True))
    # A study folder without a row: a draft of loose files nobody ran, or a web process that died mid-upload.
    studies = set(Job.objects.filter(kind=Job.Kind.STUDY).values_list("upload_name", flat=True))
    results = {str(public_id) for public_id in Job.objects.values_list("public_id", flat=True)}
    return (
        _unknown_entries_remove(uploads_dir(), known=uploads, cutoff=cutoff, folders=False)
        + _unknown_entries_remove(studies_dir(), known=studies, cutoff=cutoff, folders=True)
        + _unknown_entries_remove(results_root(), known=results, cutoff=cutoff, folders=True)
    )


def _unknown_entries_remove(root: Path, *, known: Iterable[str], cutoff: float, folders: bool) -> int:
    """Remove the files (or folders) directly under ``root`` whose name is not ``known`` and that are older than cutoff.

    Returns how many files went.
    """
    if not root.is_dir():
        return 0
    known = set(known)
    removed = 0
    for entry in root.iterdir():
        if entry.name in known or (entry.is_dir() != folders) or entry.stat().st_mtime >= cutoff:
            continue
        if folders:
            removed += sum(1 for path in entry.rglob("*") if path.is_file())
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
            removed += 1
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
