"""The platform past one machine: web and two worker processes that share no folder, media in an S3 bucket.

Everything is real: uploads go through the web's upload view (this test process), two prefork Celery workers run
as subprocesses, each with a MEDIA_ROOT of its own, and the bucket is on an S3-protocol server (moto's
ThreadedMotoServer) on loopback. The same suite runs with media on the file system, where all three share the
folder as the quick start does.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from predictions import media, services
from predictions.models import Job
from tests.jobs_helpers import wait_for_job, write_face_clip, write_face_image
from tests.processes import EngineProcesses, assert_every_frame_stored_once
from tests.s3_media import bucket_keys, s3_environment

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(240),
]

CLIP_FRAMES = 120
SPLIT_PARTS = 2
JOB_LIMIT_SECONDS = 150


def files_under(folder) -> list:
    return sorted(path for path in folder.rglob("*") if path.is_file())


@pytest.fixture
def engine(media_backend, celery_test_app, engine_redis_url, settings, tmp_path, transactional_db, s3_endpoint):
    """Two worker processes; on s3 each has its own empty MEDIA_ROOT, on fs they share the web's."""
    settings_env = {"GENREC_SPLIT_MIN_FRAMES": 10, "GENREC_SPLIT_PARTS": SPLIT_PARTS, "GENREC_RESULT_FLUSH_FRAMES": 5}
    if media_backend == "s3":
        settings_env.update(s3_environment(s3_endpoint, settings.AWS_STORAGE_BUCKET_NAME))
    processes = EngineProcesses(
        app=celery_test_app, redis_url=engine_redis_url, log_dir=tmp_path, settings_env=settings_env
    )
    roots = []
    try:
        for name in ("worker-a", "worker-b"):
            if media_backend == "s3":
                roots.append(tmp_path / f"{name}-media")
                roots[-1].mkdir()
                processes.env = {**processes.env, "MEDIA_ROOT": str(roots[-1])}
            processes.start_worker(name)
        yield roots
    finally:
        processes.stop()


def upload(client, path) -> Job:
    with path.open("rb") as file:
        response = client.post(reverse("job-upload"), {"file": file, "every_n_frames": "1"})
    assert response.status_code == 201, response.content
    return Job.objects.get(public_id=response.json()["job"]["id"])


def stored_media(media_backend: str, settings) -> list[str]:
    """Every key the platform holds: the bucket's, or the files under the shared MEDIA_ROOT."""
    if media_backend == "s3":
        return bucket_keys(settings.AWS_S3_ENDPOINT_URL, settings.AWS_STORAGE_BUCKET_NAME)
    return [path.relative_to(settings.MEDIA_ROOT).as_posix() for path in files_under(settings.MEDIA_ROOT)]


def test_photo_and_split_video_reach_their_results_with_media_in_storage_only(
    media_backend, engine, alice, bob, client, settings, tmp_path
):
    worker_roots = engine
    client.force_login(alice)
    photo = upload(client, write_face_image(tmp_path / "face.jpg"))
    video = upload(client, write_face_clip(tmp_path / "walk.mp4", frames=CLIP_FRAMES, blank_every=12))
    uploads = {photo.upload_key, video.upload_key}
    assert uploads <= set(stored_media(media_backend, settings))

    for job in (photo, video):
        wait_for_job(job, until=lambda job: job.status in Job.FINAL_STATUSES, limit_seconds=JOB_LIMIT_SECONDS)
        assert job.status == Job.Status.SUCCEEDED, job.error
    assert photo.faces_found == 1 and video.parts_total == SPLIT_PARTS
    assert_every_frame_stored_once(video, frames=CLIP_FRAMES)

    # Frames come to the owner only, through the owner-checked view, as JPEG bytes.
    frames = [(job, index) for job in (photo, video) for index in job.result_frames]
    assert len(frames) > 1
    for job, index in frames:
        response = client.get(reverse("job-frame", args=[job.public_id, index]))
        assert response.status_code == 200 and b"".join(response.streaming_content)[:3] == b"\xff\xd8\xff"
    client.force_login(bob)
    for job, index in frames:
        assert client.get(reverse("job-frame", args=[job.public_id, index])).status_code == 404

    stored = stored_media(media_backend, settings)
    assert not uploads & set(stored)  # each upload went as soon as its job ended
    assert {key.split("/")[0] for key in stored} == {"results"}
    if media_backend == "s3":  # nothing touched a local folder: web's and workers' MEDIA_ROOTs are still empty
        assert [files_under(root) for root in (settings.MEDIA_ROOT, *worker_roots)] == [[], [], []]

    later = timezone.now() + timedelta(hours=settings.GENREC_RESULT_RETENTION_HOURS + 1)
    assert services.media_purge_expired(now=later) == len(frames)
    assert stored_media(media_backend, settings) == []
    assert not media.exists(photo.result_frame_key(0))
