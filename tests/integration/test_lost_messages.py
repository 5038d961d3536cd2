"""A task message the broker forgot (a Redis restarted without persistence) is sent again by the reaper."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from genrec_site.celery import app as celery_app
from predictions import services
from predictions.models import Job
from tests.jobs_helpers import validated_upload, wait_for_job, write_face_image

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True), pytest.mark.timeout(180)]


def test_pending_job_whose_message_was_lost_is_sent_again_and_runs_once(alice, tmp_path, worker, settings):
    job = services.job_create(
        owner=alice, upload=validated_upload(write_face_image(tmp_path / "face.jpg")), every_n_frames=1
    )
    # The worker runs the message that was sent: the job ends. Then a second job loses its message: nothing
    # consumes it, as when the broker restarts empty.
    with worker():
        wait_for_job(job, until=lambda job: job.status in Job.FINAL_STATUSES)
    assert job.status == Job.Status.SUCCEEDED and job.attempts == 1

    lost = services.job_create(
        owner=alice, upload=validated_upload(write_face_image(tmp_path / "lost.jpg")), every_n_frames=1
    )
    services.jobs_reap_stale()  # too early: a job that is only queued is left alone
    lost.refresh_from_db()
    first_sent = lost.queued_at
    assert first_sent is not None

    celery_app.control.purge()  # the broker forgets its queue
    waited = timezone.now() + timedelta(seconds=settings.GENREC_STALE_AFTER_SECONDS + 1)
    services.jobs_reap_stale(now=waited)
    lost.refresh_from_db()
    assert lost.queued_at > first_sent

    with worker():
        wait_for_job(lost, until=lambda job: job.status in Job.FINAL_STATUSES)
    assert lost.status == Job.Status.SUCCEEDED and lost.attempts == 1 and lost.faces_found == 1
