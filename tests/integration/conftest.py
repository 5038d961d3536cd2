"""A real Celery worker and a real Redis channel layer, on a Redis database and names of their own."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from celery.contrib.testing.worker import start_worker

from genrec_site.celery import app as celery_app
from genrec_site.celery import queue_settings
from tests.jobs_helpers import train_tiny_model
from tests.processes import RedisServer

# Database 9 keeps test queues and groups away from a developer's running platform on database 0.
TEST_REDIS_URL = os.environ.get("GENREC_TEST_REDIS_URL", "redis://127.0.0.1:6379/9")
CELERY_KEYS = (
    "broker_url",
    "result_backend",
    "task_default_queue",
    "task_queues",
    "task_routes",
    "genrec_queues",
    "genrec_queue_prefix",
)


def _forget_connections(app) -> None:
    """Drop the app's cached pools and queue declarations so the next use reads the changed configuration."""
    app._pool = None
    app._backend_cache = None
    app._local.__dict__.pop("backend", None)
    app.amqp._producer_pool = None
    app.amqp._rtable = None
    for cached in ("queues", "default_queue", "router"):
        app.amqp.__dict__.pop(cached, None)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A real model folder (manifest + sha256) the worker loads; trained in a second on seeded noise."""
    return train_tiny_model(tmp_path_factory.mktemp("model"))


@pytest.fixture
def owned_redis(request, tmp_path):
    """A Redis of this test alone, stopped after it; an indirect parameter True keeps an append-only file."""
    server = RedisServer(tmp_path / "redis", append_only=getattr(request, "param", False))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def engine_redis_url() -> str:
    """The Redis of the queue and the channel layer; a test module that starts its own Redis overrides this."""
    return TEST_REDIS_URL


@pytest.fixture
def engine_settings(settings, tiny_model_dir, engine_redis_url):
    """Redis channel layer under a unique prefix, the tiny model, small batches so a short clip gives many events."""
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [engine_redis_url], "prefix": f"genrec-test-{uuid.uuid4().hex[:8]}"},
        }
    }
    settings.GENREC_MODEL_DIR = tiny_model_dir
    settings.GENREC_RESULT_FLUSH_FRAMES = 5
    settings.GENREC_PROGRESS_EVENTS_PER_SECOND = 1000.0
    settings.GENREC_RESULT_FRAMES_KEPT = 4
    return settings


@pytest.fixture
def celery_test_app(engine_settings, engine_redis_url) -> Iterator:
    """The project's Celery app pointed at the test Redis database and queues no other run consumes."""
    saved = {key: celery_app.conf[key] for key in CELERY_KEYS}
    celery_app.conf.update(
        broker_url=engine_redis_url,
        result_backend=engine_redis_url,
        **queue_settings(f"genrec-test-{uuid.uuid4().hex[:8]}-"),
    )
    _forget_connections(celery_app)
    yield celery_app
    celery_app.conf.update(saved)
    _forget_connections(celery_app)


@pytest.fixture
def worker(celery_test_app) -> Callable:
    """Start an embedded worker (threads pool) with ``worker(concurrency=n)`` as a context manager."""

    @contextmanager
    def running(concurrency: int = 1):
        with start_worker(
            celery_test_app,
            pool="threads",
            concurrency=concurrency,
            perform_ping_check=False,
            loglevel="WARNING",
            shutdown_timeout=30,
        ) as started:
            yield started

    return running
