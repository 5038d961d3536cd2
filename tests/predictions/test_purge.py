"""The media sweep chooses objects by job state: never one of a PENDING or RUNNING job; on disk and in a bucket."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from predictions import media, services
from predictions.models import Job
from predictions.services.housekeeping import ORPHAN_MIN_AGE
from tests.jobs_helpers import make_job

pytestmark = pytest.mark.django_db

# Object stores date their objects to the second: orphans written this far apart are told apart everywhere.
APART_SECONDS = 1.1


def with_result_frame(job: Job) -> Job:
    media.save(job.result_frame_key(0), b"jpeg")
    job.result_frames = [0]
    job.save(update_fields=["result_frames"])
    return job


def test_media_purge_keeps_active_jobs_and_recent_results_and_removes_the_rest(alice, settings, media_backend):
    now = timezone.now() + timedelta(hours=48)  # every object was written two days before this sweep
    long_ago = now - timedelta(hours=settings.GENREC_RESULT_RETENTION_HOURS + 1)
    pending = with_result_frame(make_job(alice, created_at=long_ago))
    running = with_result_frame(make_job(alice, status=Job.Status.RUNNING, started_at=long_ago))
    old_done = with_result_frame(make_job(alice, status=Job.Status.SUCCEEDED, finished_at=long_ago))
    recent_done = with_result_frame(make_job(alice, status=Job.Status.SUCCEEDED, finished_at=now))

    removed = services.media_purge_expired(now=now)

    assert removed == 3  # the uploads left by both ended jobs and the expired job's result frame
    for job in (pending, running):
        assert media.exists(job.upload_key) and media.exists(job.result_frame_key(0))
    assert not media.exists(old_done.upload_key) and list(media.walk(old_done.results_prefix)) == []
    assert not media.exists(recent_done.upload_key)
    assert media.exists(recent_done.result_frame_key(0))
    old_done.refresh_from_db()
    assert old_done.media_purged_at is not None and old_done.result_frames == []


def test_media_purge_removes_old_orphans_only(alice, media_backend):
    old_orphan, orphan_frame = "uploads/0123456789abcdef.mp4", "results/00000000-0000-0000-0000-000000000000/0.jpg"
    media.save(old_orphan, b"left behind by a crash")
    media.save(orphan_frame, b"jpeg")
    pending = make_job(alice)
    time.sleep(APART_SECONDS)
    new_orphan = media.save("uploads/fedcba9876543210.mp4", b"left behind by a crash")
    # The sweep runs when the newest orphan is just under the minimum age, the older ones just over it.
    now = media.modified_time(new_orphan) + ORPHAN_MIN_AGE

    removed = services.media_purge_expired(now=now)

    assert removed == 2
    assert not media.exists(old_orphan) and not media.exists(orphan_frame)
    assert media.exists(new_orphan) and media.exists(pending.upload_key)


def test_media_purge_removes_an_old_orphan_study_with_every_video(alice, media_backend):
    videos = ["studies/" + "7" * 32 + "/RealVideo-RealAudio/African/men/id1/a.mp4", "studies/" + "7" * 32 + "/b.mp4"]
    for key in videos:
        media.save(key, b"video")
    now = media.newest_time("studies/" + "7" * 32) + ORPHAN_MIN_AGE + timedelta(seconds=APART_SECONDS)

    assert services.media_purge_expired(now=now) == 2
    assert list(media.walk("studies")) == []
