"""Celery tasks: thin wrappers that claim a job (or part) by id and hand it to the runner and services.

No task stores a result: the database is where a job's outcome lives.
"""

from __future__ import annotations

import logging
from functools import partial

from celery import shared_task
from celery.signals import worker_ready
from django.db import DatabaseError

from predictions import counters, services
from predictions.models import Job
from workers import runner, study_runner
from workers.run_control import Heartbeat

logger = logging.getLogger(__name__)


@worker_ready.connect
def sync_models_on_start(**_) -> None:
    """A worker starting makes the model rows match the folders it has (as the web's start does)."""
    try:
        services.model_versions_sync()
    except DatabaseError:
        logger.exception("Could not sync the model folders with the database at worker start")


@shared_task(name="workers.tasks.process_job", ignore_result=True)
def process_job(job_id: int) -> None:
    """Analyse one uploaded image or video (a long video is split into parts queued for any worker), or a study."""
    job = services.job_claim(job_id=job_id)
    if job is None:
        logger.info("Job %s is not claimable (already taken, ended or deleted)", job_id)
        return
    with runner.failures_recorded(job), Heartbeat(partial(services.job_heartbeat, job=job)):
        if job.kind == Job.Kind.STUDY:
            study_runner.run_study_job(job)
        else:
            runner.run_job(job)


@shared_task(name="workers.tasks.process_job_part", ignore_result=True)
def process_job_part(part_id: int) -> None:
    """Analyse one frame range of a split video; the last part to finish merges and finishes the job."""
    part = services.part_claim(part_id=part_id)
    if part is None:
        logger.info("Part %s is not claimable (already taken, or its job ended)", part_id)
        return
    with runner.failures_recorded(part.job), Heartbeat(partial(services.job_heartbeat, job=part.job)):
        runner.run_part(part)


@shared_task(name="workers.tasks.media_purge_expired", ignore_result=True)
def media_purge_expired() -> int:
    """Beat: remove uploads and result frames that job states say are no longer needed."""
    return services.media_purge_expired()


@shared_task(name="workers.tasks.jobs_reap_stale", ignore_result=True)
def jobs_reap_stale() -> list[int]:
    """Beat: re-queue or fail RUNNING jobs whose worker stopped heartbeating for minutes (the backstop)."""
    return count_reaped(services.jobs_reap_stale())


@shared_task(name="workers.tasks.jobs_recover_dead", ignore_result=True)
def jobs_recover_dead() -> list[int]:
    """Beat, every few seconds: resume the runs of workers that died (process gone, or heartbeat silent)."""
    return count_reaped(services.jobs_recover_dead())


def count_reaped(outcome: tuple[int, int]) -> list[int]:
    """Add a reaper's (requeued, failed) to the shared counters /metrics reports."""
    requeued, failed = outcome
    counters.counter_add(counters.REAPED_REQUEUED, requeued)
    counters.counter_add(counters.REAPED_FAILED, failed)
    return [requeued, failed]
