"""End to end with a real worker and socket: HTTP upload, live progress, final snapshot, rows stored, upload gone."""

from __future__ import annotations

import asyncio

import pytest
from channels.testing import WebsocketCommunicator
from django.urls import reverse

from genrec_site.asgi import application
from predictions import media, selectors, services
from predictions.models import AnalysedFrame, Detection, Job
from tests.jobs_helpers import session_headers, validated_upload, wait_for_job, write_face_clip, write_face_image

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True), pytest.mark.timeout(180)]

CLIP_FRAMES = 36
MESSAGE_TIMEOUT_SECONDS = 60


async def watch(job: Job, headers, worker_context) -> tuple[dict, list[dict]]:
    """Connect before any worker runs, then collect every message until ``finished``."""
    communicator = WebsocketCommunicator(application, f"/ws/jobs/{job.public_id}/", headers=headers)
    connected, _ = await communicator.connect()
    assert connected
    snapshot = await communicator.receive_json_from()
    messages = []
    with worker_context:
        while not messages or messages[-1]["type"] != "finished":
            messages.append(await communicator.receive_json_from(timeout=MESSAGE_TIMEOUT_SECONDS))
    await communicator.disconnect()
    return snapshot, messages


def test_video_job_streams_progress_to_its_owner_and_ends_with_results(alice, client, tmp_path, worker):
    clip = write_face_clip(tmp_path / "walk.mp4", frames=CLIP_FRAMES, blank_every=12)
    headers = session_headers(client, alice)
    with clip.open("rb") as file:
        response = client.post(reverse("job-upload"), {"file": file, "every_n_frames": "1"})
    assert response.status_code == 201, response.content
    job = Job.objects.get(public_id=response.json()["job"]["id"], owner=alice)
    assert media.exists(job.upload_key)

    snapshot, messages = asyncio.run(watch(job, headers, worker()))

    assert snapshot["type"] == "snapshot" and snapshot["job"]["status"] == "PENDING"
    progress, finished = messages[:-1], messages[-1]
    assert len(progress) >= 3 and {message["type"] for message in progress} == {"progress"}
    done = [message["frames_done"] for message in progress]
    assert done == sorted(done) and done[-1] == CLIP_FRAMES
    points = [point[0] for message in progress for point in message["points"]]
    assert points == list(range(CLIP_FRAMES))  # every analysed frame reached the page exactly once
    assert any(point[3] == 0 and point[2] is None for message in progress for point in message["points"])
    final = finished["job"]
    assert final["status"] == "SUCCEEDED" and final["progress"] == 100
    assert final["faces_found"] > 0 and final["summary"]["frames_analyzed"] == CLIP_FRAMES
    assert [point[0] for point in final["timeline"]] == list(range(CLIP_FRAMES))
    assert final["result_frames"] and final["result_frames"][0]["index"] == 0

    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED and job.model_version is not None
    assert Detection.objects.filter(job=job).count() == job.faces_found
    # Every face is on a track except detections too short-lived to start one (confirmation.py), counted as such.
    untracked = Detection.objects.filter(job=job, track_id__isnull=True).count()
    assert untracked == job.summary["unconfirmed_faces"] < job.faces_found
    assert AnalysedFrame.objects.filter(job=job).count() == CLIP_FRAMES
    assert media.read_bytes(selectors.job_frame_key(job, 0))[:3] == b"\xff\xd8\xff"
    assert not media.exists(job.upload_key)


def test_image_job_keeps_its_annotated_copy_and_deletes_the_upload(alice, tmp_path, worker):
    job = services.job_create(
        owner=alice, upload=validated_upload(write_face_image(tmp_path / "face.jpg")), every_n_frames=1
    )

    with worker():
        wait_for_job(job, until=lambda job: job.status in Job.FINAL_STATUSES)

    assert job.status == Job.Status.SUCCEEDED, job.error
    assert job.faces_found == 1 and job.summary["faces"] == 1
    assert selectors.job_frame_key(job, 0) is not None
    assert not media.exists(job.upload_key)


def test_unreadable_video_fails_with_a_readable_message(alice, tmp_path, worker):
    clip = write_face_clip(tmp_path / "clip.mp4", frames=10)
    job = services.job_create(owner=alice, upload=validated_upload(clip), every_n_frames=1)
    media.save(job.upload_key, b"\x00" * 4096)  # damaged in storage after validation

    with worker():
        wait_for_job(job, until=lambda job: job.status in Job.FINAL_STATUSES)

    assert job.status == Job.Status.FAILED
    assert "video" in job.error
    assert not media.exists(job.upload_key)
