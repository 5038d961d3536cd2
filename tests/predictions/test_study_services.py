"""Study videos follow their job: kept while it waits or runs, gone when it ends, swept when no job names them."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from predictions import media, services
from predictions.models import Job
from predictions.services.housekeeping import ORPHAN_MIN_AGE

pytestmark = pytest.mark.django_db

APART_SECONDS = 1.1  # object stores date their objects to the second


def study_videos(name: str) -> str:
    """A study's prefix with one stored video under it."""
    prefix = f"studies/{name}"
    media.save(f"{prefix}/RealVideo-RealAudio/a.mp4", b"video")
    return prefix


def stored(prefix: str) -> list[str]:
    return list(media.walk(prefix))


def study_job(owner, prefix: str, status: str) -> Job:
    return Job.objects.create(
        owner=owner, kind=Job.Kind.STUDY, status=status, original_name="batch.zip", upload_name=prefix.split("/")[-1]
    )


def test_sweep_removes_unclaimed_old_study_folders_and_ended_studies_videos_only(alice, media_backend):
    orphan = study_videos("0" * 32)
    pending = study_job(alice, study_videos("2" * 32), Job.Status.PENDING)
    running = study_job(alice, study_videos("3" * 32), Job.Status.RUNNING)
    failed = study_job(alice, study_videos("4" * 32), Job.Status.FAILED)
    time.sleep(APART_SECONDS)
    recent_orphan = study_videos("1" * 32)

    removed = services.media_purge_expired(now=media.newest_time(recent_orphan) + ORPHAN_MIN_AGE)

    assert removed == 2  # the failed study's video (as an upload) and the orphan's one video
    assert stored(orphan) == [] and stored(failed.upload_key) == []
    assert stored(recent_orphan) and stored(pending.upload_key) and stored(running.upload_key)


def test_deleting_a_study_removes_its_videos_and_report(alice, media_backend):
    job = study_job(alice, study_videos("5" * 32), Job.Status.SUCCEEDED)
    media.save(f"{job.results_prefix}/study.json", b"{}")

    services.job_delete(job=job)

    assert stored("studies") == [] and stored(job.results_prefix) == []
    assert not Job.objects.exists()


def test_an_old_orphan_is_swept_only_past_the_minimum_age(alice, media_backend):
    orphan = study_videos("6" * 32)
    written = media.newest_time(orphan)

    assert services.media_purge_expired(now=written + ORPHAN_MIN_AGE - timedelta(seconds=APART_SECONDS)) == 0
    assert services.media_purge_expired(now=written + ORPHAN_MIN_AGE + timedelta(seconds=APART_SECONDS)) == 1
