"""The deepfake study as a staff batch: ZIP over HTTP, a real worker, live progress per video, the report and its files.

Hostile archives and non-staff users are refused with a clear message, leaving no row, no file and no queued task.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json

import pytest
import redis
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.urls import reverse

from genrec_site.asgi import application
from predictions import media, services
from predictions.archives import ARCHIVE_NAME
from predictions.models import Job, StudyVideoResult
from tests.integration.test_job_flow import watch
from tests.integration.test_split_video import wait_until_idle
from tests.jobs_helpers import session_headers
from tests.predictions.test_archives import damaged_in_the_middle
from tests.study_helpers import STUDY_ENTRIES, face_study_zip, study_zip, symlink_zip

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True), pytest.mark.timeout(240)]

CLIP_FRAMES = 12
MAX_FRAMES = 4


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_user("carol", password="carol-password-123", is_staff=True)


def post_study(client, archive, **options):
    with archive.open("rb") as file:
        return client.post(reverse("study-upload"), {"file": file, **options})


def files_under(folder) -> list:
    return [path for path in folder.rglob("*") if path.is_file()]


def test_staff_study_runs_to_its_report_with_progress_per_video(
    staff, bob, client, tmp_path, worker, settings, media_backend
):
    archive = face_study_zip(tmp_path, frames=CLIP_FRAMES)
    headers = session_headers(client, staff)
    response = post_study(client, archive, every_n_frames="1", max_frames=str(MAX_FRAMES))
    assert response.status_code == 201, response.content
    job = Job.objects.get(public_id=response.json()["job"]["id"], owner=staff)
    assert job.kind == Job.Kind.STUDY and job.frames_total == len(STUDY_ENTRIES)
    unpacked = job.upload_key
    assert list(media.walk(unpacked)) == [f"{unpacked}/{ARCHIVE_NAME}"]  # the worker unpacks it

    snapshot, messages = asyncio.run(watch(job, headers, worker()))

    assert snapshot["job"]["status"] == "PENDING" and snapshot["job"]["frames_total"] == len(STUDY_ENTRIES)
    progress, finished = messages[:-1], messages[-1]
    assert {message["type"] for message in progress} == {"progress"}
    videos_done = [message["frames_done"] for message in progress]
    assert videos_done == sorted(videos_done) and videos_done[-1] == len(STUDY_ENTRIES)
    assert {message["frames_total"] for message in progress} == {len(STUDY_ENTRIES)}
    # Each video is announced, then followed frame by frame up to the frames analysed per video.
    by_video: dict[int, list[int]] = {}
    for message in progress:
        by_video.setdefault(message["video"]["number"], []).append(message["video"]["frames_done"])
        assert message["video"]["frames_total"] == MAX_FRAMES
    assert sorted(by_video) == [1, 2, 3]
    assert all(frames[0] == 0 and frames[-1] == MAX_FRAMES for frames in by_video.values())
    assert finished["job"]["status"] == "SUCCEEDED", finished["job"]["error"]
    assert finished["job"]["frames_done"] == len(STUDY_ENTRIES)

    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED and job.model_version is not None
    assert list(media.walk(unpacked)) == []  # the videos go as soon as the study ends
    cells = {(cell["category"], cell["ethnicity"], cell["gender"]): cell for cell in job.summary["cells"]}
    assert cells[("FakeVideo-FakeAudio", "African", "male")]["videos_sampled"] == 1
    assert cells[("FakeVideo-FakeAudio", "Asian (East)", "female")]["videos_sampled"] == 1
    assert sum(cell["videos_sampled"] for cell in cells.values()) == len(STUDY_ENTRIES)
    assert all(row["frames_analyzed"] == MAX_FRAMES for row in job.summary["videos"])
    results = StudyVideoResult.objects.filter(job=job)
    assert sorted(results.values_list("path", flat=True)) == sorted(row["path"] for row in job.summary["videos"])
    assert set(results.values_list("attempt", flat=True)) == {1}
    assert job.summary["settings"]["root"] == "study.zip"  # never the server's folder

    page = client.get(reverse("study-detail", args=[job.public_id])).content.decode()
    assert "Table 1 — RealVideo-RealAudio" in page and "Table 2 — FakeVideo-FakeAudio" in page
    assert "70.84 ± 7.78" in page  # the study's published African men, real
    assert "African men:" in page  # a real-vs-fake sentence
    csv_response = client.get(reverse("study-file", args=[job.public_id, "study.csv"]))
    rows = list(csv.DictReader(io.StringIO(b"".join(csv_response.streaming_content).decode())))
    assert len(rows) == len(STUDY_ENTRIES) and {row["category"] for row in rows} == {
        "RealVideo-RealAudio",
        "FakeVideo-FakeAudio",
    }
    assert "attachment" in csv_response["Content-Disposition"]
    document = json.loads(
        b"".join(client.get(reverse("study-file", args=[job.public_id, "study.json"])).streaming_content)
    )
    assert len(document["videos"]) == len(STUDY_ENTRIES) and "paper" in document
    figure = client.get(reverse("study-file", args=[job.public_id, "study.png"]))
    assert b"".join(figure.streaming_content)[:8] == b"\x89PNG\r\n\x1a\n"
    assert client.get(reverse("job-detail", args=[job.public_id])).url == reverse("study-detail", args=[job.public_id])

    client.force_login(bob)  # not the owner, not staff: the study does not exist for him
    assert client.get(reverse("study-detail", args=[job.public_id])).status_code == 404
    assert client.get(reverse("study-file", args=[job.public_id, "study.csv"])).status_code == 404
    if media_backend == "s3":  # videos and report went through the bucket only
        assert files_under(settings.MEDIA_ROOT) == []


async def cancel_during_first_video(job: Job, headers, worker_context, celery_app) -> list[dict]:
    """Cancel the study once its first video is under way; every message until ``finished``, then a worker at rest."""
    communicator = WebsocketCommunicator(application, f"/ws/jobs/{job.public_id}/", headers=headers)
    connected, _ = await communicator.connect()
    assert connected
    await communicator.receive_json_from()  # the snapshot
    messages: list[dict] = []
    with worker_context as started:
        while not messages or messages[-1]["type"] != "finished":
            messages.append(await communicator.receive_json_from(timeout=60))
            if messages[-1]["type"] == "progress" and messages[-1]["video"]["frames_done"] > 0:
                await sync_to_async(services.job_cancel)(job=job)
        await sync_to_async(wait_until_idle)(celery_app, started.hostname)
    await communicator.disconnect()
    return messages


def test_cancelled_study_stops_and_leaves_no_videos_or_report(staff, client, tmp_path, worker, celery_test_app):
    archive = face_study_zip(tmp_path, frames=120)
    headers = session_headers(client, staff)
    job = Job.objects.get(public_id=post_study(client, archive, every_n_frames="1").json()["job"]["id"])
    unpacked = job.upload_key

    messages = asyncio.run(cancel_during_first_video(job, headers, worker(), celery_test_app))

    assert messages[-1]["job"]["status"] == "CANCELLED"
    job.refresh_from_db()
    assert job.status == Job.Status.CANCELLED and job.frames_done < len(STUDY_ENTRIES)
    assert list(media.walk(unpacked)) == [] and not media.exists(f"{job.results_prefix}/study.json")


def test_archive_refused_only_while_unpacking_fails_the_study_and_leaves_no_files(staff, client, tmp_path, worker):
    archive = damaged_in_the_middle(face_study_zip(tmp_path, frames=CLIP_FRAMES))
    headers = session_headers(client, staff)
    response = post_study(client, archive)
    assert response.status_code == 201, response.content  # the central directory is clean
    job = Job.objects.get(public_id=response.json()["job"]["id"])

    _, messages = asyncio.run(watch(job, headers, worker()))

    assert messages[-1]["job"]["status"] == "FAILED"
    assert "could not be unpacked" in messages[-1]["job"]["error"] and "damaged" in messages[-1]["job"]["error"]
    assert list(media.walk(job.upload_key)) == [] and not StudyVideoResult.objects.exists()


def queued_tasks(celery_app) -> int:
    client = redis.Redis.from_url(celery_app.conf.broker_url)
    try:
        return sum(client.llen(queue) for queue in celery_app.conf.genrec_queues.values())
    finally:
        client.close()


def hostile_archive(kind: str, folder):
    entry = STUDY_ENTRIES[0]
    if kind == "parent path":
        return study_zip(folder / "up.zip", {"../../" + entry: b"\x00" * 100}), "outside the archive"
    if kind == "symlink":
        return symlink_zip(folder / "link.zip", entry, "/etc/passwd"), "symbolic link"
    return face_study_zip(folder), "unpacks to more than 0.0477 MB"


@pytest.mark.parametrize("kind", ["parent path", "symlink", "over the unpacked limit"])
def test_hostile_archive_is_refused_and_leaves_nothing(kind, staff, client, tmp_path, settings, celery_test_app):
    settings.GENREC_STUDY_MAX_UNPACKED_BYTES = 50_000  # the three generated clips declare about 73 KB
    archive, message = hostile_archive(kind, tmp_path)
    client.force_login(staff)

    response = post_study(client, archive)

    assert response.status_code == 400 and message in response.json()["error"]
    assert not Job.objects.exists()
    assert files_under(settings.MEDIA_ROOT) == []
    assert queued_tasks(celery_test_app) == 0


def test_non_staff_user_cannot_upload_a_study_or_see_its_pages(alice, client, tmp_path, settings, celery_test_app):
    archive = face_study_zip(tmp_path)
    client.force_login(alice)

    response = post_study(client, archive)

    assert response.status_code == 403 and "Only staff" in response.json()["error"]
    assert client.get(reverse("study-index")).status_code == 404
    assert not Job.objects.exists() and files_under(settings.MEDIA_ROOT) == []
    assert queued_tasks(celery_test_app) == 0
