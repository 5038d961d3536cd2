"""Queues by kind: a worker kept for photos takes photos only, so a photo never waits behind a video."""

from __future__ import annotations

import pytest
import redis
from celery.contrib.testing.worker import start_worker

from predictions import services
from predictions.models import Job
from tests.jobs_helpers import validated_upload, wait_for_job, write_face_clip, write_face_image

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True), pytest.mark.timeout(120)]


def test_a_photos_worker_finishes_a_photo_while_a_video_waits_in_its_own_queue(alice, tmp_path, celery_test_app):
    queues = celery_test_app.conf.genrec_queues
    video = services.job_create(
        owner=alice, upload=validated_upload(write_face_clip(tmp_path / "clip.mp4", frames=60)), every_n_frames=1
    )
    photo = services.job_create(
        owner=alice, upload=validated_upload(write_face_image(tmp_path / "face.jpg")), every_n_frames=1
    )

    with start_worker(
        celery_test_app, pool="threads", concurrency=1, queues=[queues["photos"]], perform_ping_check=False
    ):
        wait_for_job(photo, until=lambda job: job.status in Job.FINAL_STATUSES)

    video.refresh_from_db()
    assert photo.status == Job.Status.SUCCEEDED and photo.queue == queues["photos"]
    assert video.status == Job.Status.PENDING and video.queue == queues["videos"] and video.attempts == 0
    with redis.Redis.from_url(celery_test_app.conf.broker_url) as client:
        assert client.llen(queues["videos"]) == 1 and client.llen(queues["photos"]) == 0
