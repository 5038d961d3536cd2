"""The reaper: a RUNNING job whose worker went silent is re-queued, then failed after GENREC_MAX_ATTEMPTS."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from predictions import services
from predictions.models import Job
from tests.jobs_helpers import make_job
from workers.pipeline.types import VideoInfo

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _in_memory_channel_layer(settings):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}


def go_silent(job: Job, settings) -> None:
    silent_since = timezone.now() - timedelta(seconds=settings.GENREC_STALE_AFTER_SECONDS + 5)
    Job.objects.filter(pk=job.pk).update(heartbeat_at=silent_since)


def test_reaper_requeues_a_stale_job_then_fails_it_after_max_attempts(
    alice, settings, django_capture_on_commit_callbacks
):
    settings.GENREC_MAX_ATTEMPTS = 2
    job = make_job(alice)
    outcomes = []
    for _ in range(settings.GENREC_MAX_ATTEMPTS):
        assert services.job_claim(job_id=job.pk) is not None
        go_silent(job, settings)
        with django_capture_on_commit_callbacks(execute=False) as queued:
            reaped = services.jobs_reap_stale()
        outcomes.append((reaped, len(queued)))
        job.refresh_from_db()

    assert outcomes == [((1, 0), 1), ((0, 1), 1)]  # re-queued once; then failed (its upload goes on commit)
    assert job.status == Job.Status.FAILED
    assert "stopped responding 2 time(s)" in job.error


def test_reaper_leaves_live_jobs_alone(alice):
    job = services.job_claim(job_id=make_job(alice).pk)

    assert services.jobs_reap_stale() == (0, 0)
    assert Job.objects.get(pk=job.pk).status == Job.Status.RUNNING


def test_reaper_lets_a_split_job_wait_for_workers_while_parts_are_queued(alice, settings):
    job = services.job_claim(job_id=make_job(alice).pk)
    services.job_plan_video(
        job=job, info=VideoInfo(frame_count=60, fps=25.0, width=64, height=64), parts=2, redetect_every=10
    )
    go_silent(job, settings)

    assert services.jobs_reap_stale() == (0, 0)
    assert Job.objects.get(pk=job.pk).status == Job.Status.RUNNING
