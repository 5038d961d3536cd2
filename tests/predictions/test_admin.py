"""The jobs admin: staff only, filters and search, thumbnail, detections, and the retry / cancel / purge actions."""

from __future__ import annotations

import os

import cv2
import numpy as np
import pytest
from django.urls import reverse

from predictions import media, services
from predictions.models import Job
from tests.jobs_helpers import frames, make_job
from workers.runner import finish_job

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:predictions_job_changelist"


@pytest.fixture(autouse=True)
def _in_memory_channel_layer(settings):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}


def finished_job_with_frame(owner) -> Job:
    job = services.job_claim(job_id=make_job(owner, original_name="beach.mp4").pk)
    services.job_record_frames(job=job, frames=frames([0, 1]))
    media.save(job.result_frame_key(0), cv2.imencode(".jpg", np.full((240, 320, 3), 128, np.uint8))[1].tobytes())
    job.result_frames = [0]
    job.save(update_fields=["result_frames"])
    finish_job(job)
    job.refresh_from_db()
    return job


def test_admin_is_for_staff_only(client, alice):
    client.force_login(alice)

    response = client.get(reverse(CHANGELIST))

    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_admin_lists_filters_and_searches_jobs(admin_client, alice, bob):
    mine = make_job(alice, original_name="beach.mp4")
    make_job(bob, original_name="party.mp4", status=Job.Status.FAILED)

    by_name = admin_client.get(reverse(CHANGELIST), {"q": "beach"})
    by_owner = admin_client.get(reverse(CHANGELIST), {"q": "bob"})
    by_id = admin_client.get(reverse(CHANGELIST), {"q": str(mine.public_id)[:8]})
    failed = admin_client.get(reverse(CHANGELIST), {"status__exact": "FAILED", "kind__exact": "video"})

    assert [job.original_name for job in by_name.context["cl"].result_list] == ["beach.mp4"]
    assert [job.original_name for job in by_owner.context["cl"].result_list] == ["party.mp4"]
    assert [job.pk for job in by_id.context["cl"].result_list] == [mine.pk]
    assert [job.original_name for job in failed.context["cl"].result_list] == ["party.mp4"]


def test_admin_job_page_shows_thumbnail_parts_and_detections(admin_client, alice):
    job = finished_job_with_frame(alice)

    page = admin_client.get(reverse("admin:predictions_job_change", args=[job.pk]))
    detections = admin_client.get(reverse("admin:predictions_detection_changelist"), {"job__id__exact": job.pk})

    assert page.status_code == 200
    html = page.content.decode()
    assert 'src="data:image/jpeg;base64,' in html
    assert "First 2 of 2" in html
    assert detections.status_code == 200 and detections.context["cl"].result_count == 2


def test_admin_actions_cancel_retry_and_purge(admin_client, alice, django_capture_on_commit_callbacks):
    running = services.job_claim(job_id=make_job(alice).pk)
    failed = services.job_claim(job_id=make_job(alice).pk)
    services.job_fail(job=failed, error="worker lost")
    ended = finished_job_with_frame(alice)

    def act(action, *jobs):
        data = {"action": action, "_selected_action": [job.pk for job in jobs]}
        return admin_client.post(reverse(CHANGELIST), data, follow=True)

    with django_capture_on_commit_callbacks(execute=False):
        act("cancel_jobs", running)
        act("retry_jobs", failed)
    act("purge_media", ended, running)

    assert Job.objects.get(pk=running.pk).status == Job.Status.CANCELLED
    assert Job.objects.get(pk=failed.pk).status == Job.Status.PENDING
    ended.refresh_from_db()
    assert ended.media_purged_at is not None and list(media.walk(ended.results_prefix)) == []


def test_admin_list_shows_where_each_job_is_queue_worker_attempt_and_frames_stored(admin_client, alice):
    job = make_job(alice, original_name="beach.mp4", frames_total=40, queue="videos")
    claimed = services.job_claim(job_id=job.pk)
    assert claimed is not None
    services.job_record_frames(job=claimed, frames=frames(range(5)))
    claimed.refresh_from_db()

    page = admin_client.get(reverse(CHANGELIST)).content.decode()

    assert claimed.queue == "videos" and claimed.worker.endswith(f":{os.getpid()}")
    for shown in (claimed.queue, claimed.worker, "5 of 40"):
        assert f">{shown}<" in page, shown
