"""The frequent beat write: find runs whose worker died (process gone or heartbeat silent for seconds) and resume them.

A split video recovers part by part; any other job as a whole. A run whose owner died GENREC_MAX_ATTEMPTS times
fails with the reaper's reason instead. The three-minute reaper (housekeeping) stays as the backstop.
"""

from __future__ import annotations

import logging
from datetime import datetime
from functools import partial

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from ..models import Job, JobPart
from .housekeeping import stale_error
from .jobs import job_enqueue, job_fail
from .owners import owner_gone
from .parts import part_enqueue

logger = logging.getLogger(__name__)


def jobs_recover_dead(*, now: datetime | None = None) -> tuple[int, int]:
    """Put the runs of dead workers back in their queue, keeping what they stored; (resumed, failed)."""
    now = now or timezone.now()
    resumed = failed = 0
    for job in Job.objects.filter(status=Job.Status.RUNNING):
        if job.parts_total > 1:
            outcomes = [_part_recover(part, now) for part in job.parts.filter(status=JobPart.Status.RUNNING)]
            if not job.parts.exclude(status=JobPart.Status.DONE).exists() and job.finalizing_at is not None:
                outcomes.append(_job_recover(job, now, merge_only=True))
        else:
            outcomes = [_job_recover(job, now)]
        resumed += outcomes.count("resumed")
        failed += outcomes.count("failed")
    if resumed or failed:
        logger.warning("Recovery: %d run(s) of dead workers resumed, %d failed", resumed, failed)
    return resumed, failed


def _job_recover(job: Job, now: datetime, *, merge_only: bool = False) -> str | None:
    """Re-queue a job whose owner is gone (its unsplit part with it); the merge of a split job by heartbeat alone."""
    gone = owner_gone("", job.heartbeat_at, now) if merge_only else owner_gone(job.worker, job.heartbeat_at, now)
    if not gone:
        return None
    if job.attempts >= settings.GENREC_MAX_ATTEMPTS:
        return "failed" if job_fail(job=job, error=stale_error(job.attempts)) else None
    with transaction.atomic():
        changed = Job.objects.filter(
            pk=job.pk, status=Job.Status.RUNNING, worker=job.worker, heartbeat_at=job.heartbeat_at
        ).update(status=Job.Status.PENDING, finalizing_at=None)
        if changed != 1:
            return None
        # Its one part died with it: the next claim takes it over wherever that runs.
        job.parts.filter(status=JobPart.Status.RUNNING, worker=job.worker).update(status=JobPart.Status.PENDING)
        transaction.on_commit(partial(job_enqueue, job.pk))
    return "resumed"


def _part_recover(part: JobPart, now: datetime) -> str | None:
    """Re-queue one part of a split video whose owner is gone, or fail its job after the attempts."""
    if not owner_gone(part.worker, part.heartbeat_at, now):
        return None
    if part.attempts >= settings.GENREC_MAX_ATTEMPTS:
        return "failed" if job_fail(job=part.job, error=stale_error(part.attempts)) else None
    with transaction.atomic():
        changed = JobPart.objects.filter(
            pk=part.pk, status=JobPart.Status.RUNNING, worker=part.worker, heartbeat_at=part.heartbeat_at
        ).update(status=JobPart.Status.PENDING)
        if changed != 1:
            return None
        transaction.on_commit(partial(part_enqueue, part.pk))
    return "resumed"
