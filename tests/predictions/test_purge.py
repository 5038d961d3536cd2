"""The media sweep chooses files by job state: never a file of a PENDING or RUNNING job."""

from __future__ import annotations

import os
from datetime import timedelta

import pytest
from django.utils import timezone

from predictions import services
from predictions.models import Job, results_root, uploads_dir
from tests.jobs_helpers import make_job

pytestmark = pytest.mark.django_db


def with_result_frame(job: Job) -> Job:
    job.results_dir.mkdir(parents=True)
    job.result_frame_path(0).write_bytes(b"jpeg")
    job.result_frames = [0]
    job.save(update_fields=["result_frames"])
    return job


def make_old(path, hours: float) -> None:
    stamp = (timezone.now() - timedelta(hours=hours)).timestamp()
    os.utime(path, (stamp, stamp))


def test_media_purge_keeps_active_jobs_and_recent_results_and_removes_the_rest(alice, settings):
    now = timezone.now()
    long_ago = now - timedelta(hours=settings.GENREC_RESULT_RETENTION_HOURS + 1)
    pending = with_result_frame(make_job(alice, created_at=long_ago))
    running = with_result_frame(make_job(alice, status=Job.Status.RUNNING, started_at=long_ago))
    old_done = with_result_frame(make_job(alice, status=Job.Status.SUCCEEDED, finished_at=long_ago))
    recent_done = with_result_frame(make_job(alice, status=Job.Status.SUCCEEDED, finished_at=now))
    for job in (pending, running, old_done, recent_done):
        make_old(job.upload_path, hours=48)
        make_old(job.result_frame_path(0), hours=48)

    removed = services.media_purge_expired(now=now)

    assert removed == 3  # the uploads left by both ended jobs and the expired job's result frame
    for job in (pending, running):
        assert job.upload_path.exists() and job.result_frame_path(0).exists()
    assert not old_done.upload_path.exists() and not old_done.results_dir.exists()
    assert not recent_done.upload_path.exists()
    assert recent_done.result_frame_path(0).exists()
    old_done.refresh_from_db()
    assert old_done.media_purged_at is not None and old_done.result_frames == []


def test_media_purge_removes_old_orphans_only(alice):
    uploads_dir().mkdir(parents=True)
    old_orphan = uploads_dir() / "0123456789abcdef.mp4"
    new_orphan = uploads_dir() / "fedcba9876543210.mp4"
    orphan_results = results_root() / "00000000-0000-0000-0000-000000000000"
    orphan_results.mkdir(parents=True)
    (orphan_results / "0.jpg").write_bytes(b"jpeg")
    for path in (old_orphan, new_orphan):
        path.write_bytes(b"left behind by a crash")
    make_old(old_orphan, hours=2)
    make_old(orphan_results, hours=2)
    pending = make_job(alice)
    make_old(pending.upload_path, hours=2)

    removed = services.media_purge_expired()

    assert removed == 2
    assert not old_orphan.exists() and not orphan_results.exists()
    assert new_orphan.exists() and pending.upload_path.exists()
