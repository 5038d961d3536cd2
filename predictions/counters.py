"""Counters every process adds to and /metrics reads: kept in Redis, so web, workers and beat share them."""

from __future__ import annotations

import logging

import redis
from django.conf import settings

from genrec_site.celery import app as celery_app

logger = logging.getLogger(__name__)

# Names of the counters (fields of one Redis hash).
FRAMES_ANALYSED = "frames_analysed"
REDELIVERIES = "redeliveries"
REAPED_REQUEUED = "reaped_requeued"
REAPED_FAILED = "reaped_failed"
NAMES = (FRAMES_ANALYSED, REDELIVERIES, REAPED_REQUEUED, REAPED_FAILED)


def _client() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=1)


def _key() -> str:
    """The hash of this site's counters: under the queue prefix, like its queues (two sites, one Redis)."""
    return f"genrec:{celery_app.conf.genrec_queue_prefix}counters"


def counter_add(name: str, amount: int = 1) -> None:
    """Add to a counter; a Redis that does not answer loses the count, never the caller's work."""
    if amount <= 0:
        return
    try:
        with _client() as client:
            client.hincrby(_key(), name, amount)
    except redis.RedisError:
        logger.warning("Could not count %s in Redis", name, exc_info=True)


def counters_read() -> dict[str, int]:
    """Every counter's value now (0 for those never counted)."""
    with _client() as client:
        stored = client.hgetall(_key())
    return {name: int(stored.get(name.encode(), 0)) for name in NAMES}
