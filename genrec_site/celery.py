"""The Celery app: JSON only, late acks, one task at a time per process, bounded time."""

import os

# One BLAS/OpenMP thread per worker process, before numpy is imported anywhere:
# BLAS threads fighting OpenCV's make two processes slower than one.
for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "genrec_site.settings")

from celery import Celery  # noqa: E402
from django.conf import settings  # noqa: E402

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
    broker_transport_options={"visibility_timeout": settings.GENREC_JOB_HARD_TIME_LIMIT + 300},
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
    },
)
app.autodiscover_tasks(["workers"])
