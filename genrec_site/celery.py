"""The Celery app: JSON only, late acks, one task at a time per process, bounded time, one queue per kind of work."""

import logging
import os

# One BLAS/OpenMP thread per worker process, before numpy is imported anywhere:
# BLAS threads fighting OpenCV's make two processes slower than one.
for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "genrec_site.settings")

from celery import Celery  # noqa: E402
from celery.signals import worker_init, worker_process_init  # noqa: E402
from django.conf import settings  # noqa: E402
from kombu import Exchange, Queue  # noqa: E402

# Photos, videos (and their parts), studies and the beat's housekeeping each have a queue, so a worker process
# kept for photos (-Q photos) is never busy with a video when a photo arrives. A worker serving several takes
# from them in this order ("priority" below): a waiting photo first, the beat's short checks before videos.
QUEUE_KINDS = ("photos", "housekeeping", "videos", "studies")
TASK_QUEUE_KINDS = {
    # process_job's sender picks the queue by the job's kind (services.job_enqueue); this is its fallback.
    "workers.tasks.process_job": "videos",
    "workers.tasks.process_job_part": "videos",
    "workers.tasks.media_purge_expired": "housekeeping",
    "workers.tasks.jobs_reap_stale": "housekeeping",
    "workers.tasks.jobs_recover_dead": "housekeeping",
}


def queue_settings(prefix: str = "") -> dict:
    """Celery settings of the queues by kind, every name under ``prefix`` (tests give each run its own)."""
    names = {kind: f"{prefix}{kind}" for kind in QUEUE_KINDS}
    return {
        "task_queues": [Queue(name, Exchange(name), routing_key=name) for name in names.values()],
        "task_default_queue": names["housekeeping"],
        "task_routes": {task: {"queue": names[kind]} for task, kind in TASK_QUEUE_KINDS.items()},
        "genrec_queues": names,
        "genrec_queue_prefix": prefix,
    }


app = Celery("genrec")
app.conf.update(
    broker_url=settings.CELERY_BROKER_URL,
    result_backend=settings.CELERY_RESULT_BACKEND,
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    task_soft_time_limit=settings.GENREC_JOB_SOFT_TIME_LIMIT,
    task_time_limit=settings.GENREC_JOB_HARD_TIME_LIMIT,
    result_expires=24 * 3600,
    broker_connection_retry_on_startup=True,
    # A redelivered task must wait for longer than the longest job before Redis hands it out again.
    broker_transport_options={
        "visibility_timeout": settings.GENREC_JOB_HARD_TIME_LIMIT + 300,
        "queue_order_strategy": "priority",
    },
    timezone="UTC",
    beat_schedule={
        "media-purge-expired": {
            "task": "workers.tasks.media_purge_expired",
            "schedule": float(settings.GENREC_PURGE_INTERVAL_SECONDS),
        },
        "jobs-reap-stale": {
            "task": "workers.tasks.jobs_reap_stale",
            "schedule": float(settings.GENREC_REAP_INTERVAL_SECONDS),
        },
        "jobs-recover-dead": {
            "task": "workers.tasks.jobs_recover_dead",
            "schedule": float(settings.GENREC_RECOVER_INTERVAL_SECONDS),
            # A check that runs every few seconds must not pile up behind a stopped worker.
            "options": {"expires": float(settings.GENREC_RECOVER_INTERVAL_SECONDS)},
        },
    },
)
app.conf.update(queue_settings(settings.GENREC_QUEUE_PREFIX))
app.autodiscover_tasks(["workers"])


@worker_init.connect
def load_model_before_fork(**_) -> None:
    """Load the model and a detector in the worker's main process: pool processes inherit them (no first-job wait)."""
    from django.db import connections

    from workers.runner import thread_analyzer, worker_model

    try:
        thread_analyzer(worker_model())  # the model new jobs get now; a job with another one loads it when it runs
    except Exception:  # a job reports a broken model to its owner; the worker must still start
        logging.getLogger(__name__).exception("The model did not load at worker start")
    finally:
        connections.close_all()  # pool processes open their own database connections


@worker_process_init.connect
def lower_priority(**_) -> None:
    """Pool processes of a worker started with GENREC_WORKER_NICE yield the CPU to the other workers' (photos)."""
    if settings.GENREC_WORKER_NICE > 0:
        os.nice(settings.GENREC_WORKER_NICE)


def queue_name(kind: str) -> str:
    """The queue of one kind of work (photos, videos, studies, housekeeping) under this app's prefix."""
    return app.conf.genrec_queues[kind]
