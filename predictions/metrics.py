"""/metrics in Prometheus text format, for staff sessions and for the scrape token (GENREC_METRICS_TOKEN).

Everything is read at scrape time from where it already lives: jobs from the database, queue depths from Redis
(the Celery queues are Redis lists), counters from the Redis hash every process adds to (``counters.py``), and
the workers from a short ``inspect().stats()`` broadcast. Nothing is kept in the web process, so any number of
web processes answer alike.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Iterable, Iterator
from datetime import datetime

import redis
from django.conf import settings
from django.db.models import Count, Min
from django.http import Http404, HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.http import require_GET
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from genrec_site.celery import app as celery_app

from . import counters
from .models import Job

logger = logging.getLogger(__name__)

WORKERS_TIMEOUT_SECONDS = 0.5
JOB_DURATION_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600)
PHOTO_LATENCY_BUCKETS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.75, 1, 2, 5, 10)


def histogram(name: str, documentation: str, values: Iterable[float], buckets: tuple) -> HistogramMetricFamily:
    """A Prometheus histogram (cumulative buckets, +Inf, sum) of values known at scrape time."""
    values = list(values)
    cumulative = [(str(float(bound)), sum(value <= bound for value in values)) for bound in buckets]
    family = HistogramMetricFamily(name, documentation)
    family.add_metric([], cumulative + [("+Inf", len(values))], sum_value=sum(values))
    return family


def seconds_between(pairs: Iterable[tuple[datetime | None, datetime | None]]) -> Iterator[float]:
    """The seconds from each start to its end, skipping pairs with a missing time."""
    for start, end in pairs:
        if start and end:
            yield max(0.0, (end - start).total_seconds())


class PlatformCollector:
    """The platform's metrics, collected afresh at each scrape."""

    def collect(self):
        """Yield every metric family (jobs, queues, counters, workers)."""
        yield from self.jobs()
        yield self.queue_depths()
        yield from self.counters()
        yield from self.workers()

    def jobs(self):
        by_status = GaugeMetricFamily("genrec_jobs", "Jobs by status and kind.", labels=["status", "kind"])
        counted = Job.objects.order_by().values("status", "kind").annotate(n=Count("pk"))
        found = {(row["status"], row["kind"]): row["n"] for row in counted}
        for status in Job.Status.values:
            for kind in Job.Kind.values:
                by_status.add_metric([status, kind], found.get((status, kind), 0))
        yield by_status
        oldest = Job.objects.filter(status=Job.Status.PENDING).aggregate(oldest=Min("created_at"))["oldest"]
        age = (timezone.now() - oldest).total_seconds() if oldest else 0.0
        yield GaugeMetricFamily(
            "genrec_oldest_pending_job_age_seconds", "Seconds the oldest PENDING job has waited (0 if none).", value=age
        )
        succeeded = Job.objects.filter(status=Job.Status.SUCCEEDED)
        yield histogram(
            "genrec_job_duration_seconds",
            "Seconds from a worker's claim to success, jobs in the database.",
            seconds_between(succeeded.values_list("started_at", "finished_at").iterator()),
            JOB_DURATION_BUCKETS,
        )
        yield histogram(
            "genrec_photo_latency_seconds",
            "Seconds from upload to result of the photos in the database.",
            seconds_between(succeeded.filter(kind=Job.Kind.IMAGE).values_list("created_at", "finished_at").iterator()),
            PHOTO_LATENCY_BUCKETS,
        )

    def queue_depths(self) -> GaugeMetricFamily:
        family = GaugeMetricFamily("genrec_queue_depth", "Tasks waiting in each Celery queue.", labels=["queue"])
        with redis.Redis.from_url(celery_app.conf.broker_url, socket_timeout=1, socket_connect_timeout=1) as client:
            for queue in celery_app.conf.genrec_queues.values():
                family.add_metric([queue], client.llen(queue))
        return family

    def counters(self):
        counted = counters.counters_read()
        yield CounterMetricFamily(
            "genrec_frames_analysed",
            "Frames analysed and stored by the workers (a resumed run counts the frames it analyses again).",
            value=counted[counters.FRAMES_ANALYSED],
        )
        yield CounterMetricFamily(
            "genrec_redeliveries",
            "Claims of a job or part that an earlier worker had started (redelivered, recovered or reaped).",
            value=counted[counters.REDELIVERIES],
        )
        reaped = CounterMetricFamily(
            "genrec_reaped_jobs", "Runs of dead workers put back in the queue or failed.", labels=["outcome"]
        )
        reaped.add_metric(["requeued"], counted[counters.REAPED_REQUEUED])
        reaped.add_metric(["failed"], counted[counters.REAPED_FAILED])
        yield reaped

    def workers(self):
        try:
            stats = celery_app.control.inspect(timeout=WORKERS_TIMEOUT_SECONDS).stats() or {}
        except Exception:
            logger.warning("No answer from the workers for /metrics", exc_info=True)
            stats = {}
        processes = sum(int(worker.get("pool", {}).get("max-concurrency", 1)) for worker in stats.values())
        yield GaugeMetricFamily(
            "genrec_workers_online", "Celery workers that answered within half a second.", value=len(stats)
        )
        yield GaugeMetricFamily(
            "genrec_worker_processes_online", "Pool processes of the workers that answered.", value=processes
        )


def scrape_allowed(request: HttpRequest) -> bool:
    """A staff session, or the scrape token in ``Authorization: Bearer`` (compared in constant time)."""
    if request.user.is_authenticated and request.user.is_staff:
        return True
    token = settings.GENREC_METRICS_TOKEN
    scheme, _, offered = request.headers.get("Authorization", "").partition(" ")
    return bool(token) and scheme.lower() == "bearer" and hmac.compare_digest(offered.strip().encode(), token.encode())


@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    """The metrics for Prometheus; a 404 to everyone else, loopback included (no address is trusted)."""
    if not scrape_allowed(request):
        raise Http404("No such page")
    registry = CollectorRegistry(auto_describe=False)
    registry.register(PlatformCollector())
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
