"""The job tasks called in this process: re-runs after a lost worker, failures turned into readable job states."""

from __future__ import annotations

from datetime import timedelta

import pytest
from celery.exceptions import SoftTimeLimitExceeded
from django.utils import timezone

from predictions import media, services
from predictions.models import AnalysedFrame, Detection, Job
from tests.jobs_helpers import frames, make_job, train_tiny_model, write_face_clip
from workers import runner, tasks

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return train_tiny_model(tmp_path_factory.mktemp("model"))


@pytest.fixture(autouse=True)
def _worker_settings(settings, model_dir):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    settings.GENREC_MODEL_DIR = model_dir


def video_job(owner, tmp_path, frame_count: int = 20) -> Job:
    """A PENDING job of a generated clip; not queued, the test runs the task itself."""
    clip = write_face_clip(tmp_path / "clip.mp4", frames=frame_count)
    return make_job(owner, upload_bytes=clip.read_bytes(), frames_total=frame_count)


def test_process_job_rerun_after_a_lost_worker_replaces_what_it_wrote(alice, tmp_path, settings):
    job = video_job(alice, tmp_path)
    tasks.process_job(job.pk)
    expected = list(Detection.objects.filter(job=job).values_list("frame_index", "face_index", "x", "p_female"))
    # The same job as a worker killed half-way left it: RUNNING, some rows written, heartbeat gone quiet.
    other = video_job(alice, tmp_path)
    services.job_claim(job_id=other.pk)
    services.job_record_frames(job=other, frames=frames(range(8), faces_per_frame=3))
    quiet_since = timezone.now() - timedelta(seconds=settings.GENREC_STALE_AFTER_SECONDS + 1)
    Job.objects.filter(pk=other.pk).update(heartbeat_at=quiet_since)

    tasks.process_job(other.pk)  # the redelivered message

    other.refresh_from_db()
    assert other.status == Job.Status.SUCCEEDED and other.attempts == 2
    assert list(Detection.objects.filter(job=other).values_list("frame_index", "face_index", "x", "p_female")) == (
        expected
    )
    assert AnalysedFrame.objects.filter(job=other).count() == other.frames_done == 20


def test_process_job_redelivered_while_the_first_run_is_alive_does_nothing(alice, tmp_path):
    job = video_job(alice, tmp_path)
    services.job_claim(job_id=job.pk)

    tasks.process_job(job.pk)

    job.refresh_from_db()
    assert (job.status, job.attempts, job.frames_done) == (Job.Status.RUNNING, 1, 0)
    assert media.exists(job.upload_key)


def test_soft_time_limit_fails_the_job_with_a_readable_message(alice, settings):
    settings.GENREC_JOB_SOFT_TIME_LIMIT = 600
    job = services.job_claim(job_id=make_job(alice).pk)

    with runner.failures_recorded(job):
        raise SoftTimeLimitExceeded()

    job.refresh_from_db()
    assert job.status == Job.Status.FAILED
    assert job.error == "Processing took longer than 10 minutes and was stopped."
    assert not media.exists(job.upload_key)


def test_unexpected_errors_fail_the_job_without_leaking_details(alice):
    job = services.job_claim(job_id=make_job(alice).pk)

    with runner.failures_recorded(job):
        raise KeyError("internal detail")

    job.refresh_from_db()
    assert job.status == Job.Status.FAILED and "internal detail" not in job.error
    assert not media.exists(job.upload_key)


def test_a_missing_model_fails_the_job_and_says_so(alice, tmp_path, settings):
    settings.GENREC_MODEL_DIR = tmp_path / "no-model-here"
    job = video_job(alice, tmp_path)

    tasks.process_job(job.pk)

    job.refresh_from_db()
    assert job.status == Job.Status.FAILED and job.error == runner.MODEL_ERROR
    assert not media.exists(job.upload_key)


def test_beat_tasks_run_the_sweep_and_the_reaper(alice, settings):
    job = services.job_claim(job_id=make_job(alice).pk)
    quiet_since = timezone.now() - timedelta(seconds=settings.GENREC_STALE_AFTER_SECONDS + 1)
    Job.objects.filter(pk=job.pk).update(heartbeat_at=quiet_since, attempts=settings.GENREC_MAX_ATTEMPTS)

    assert tasks.jobs_reap_stale() == [0, 1]
    assert tasks.media_purge_expired() == 0  # the failed job's upload already went when it ended
    assert Job.objects.get(pk=job.pk).status == Job.Status.FAILED
