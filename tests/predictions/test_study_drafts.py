"""A study of loose files: each video checked with its labels into the owner's draft, refused ones leave nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from predictions import media, services
from predictions.models import STUDIES_FOLDER, Job
from predictions.services.study_drafts import DRAFT_FILE
from tests.jobs_helpers import write_face_clip
from tests.predictions.web_factories import png_bytes
from workers.pipeline.study import FAKE_FAKE, REAL_REAL, find_study_videos

pytestmark = pytest.mark.django_db

LABELS = {"category": REAL_REAL, "ethnicity": "African", "gender": "male"}


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_user("carol", password="carol-password-123", is_staff=True)


@pytest.fixture
def clip(tmp_path):
    return write_face_clip(tmp_path / "00001.mp4", frames=6)


def add_file(client, video, **fields):
    with video.open("rb") as file:
        return client.post(reverse("study-file-add"), {"file": file, **LABELS, **fields})


def files_under(folder) -> list:
    return [path for path in folder.rglob("*") if path.is_file()] if folder.exists() else []


def stored(draft: str) -> list[str]:
    return list(media.walk(f"{STUDIES_FOLDER}/{draft}"))


def test_loose_videos_go_to_their_labelled_cells_and_run_as_one_study(staff, client, clip, tmp_path):
    client.force_login(staff)
    first = add_file(client, clip, path="FakeAVCeleb/RealVideo-RealAudio/African/men/id00042/00001.mp4")
    assert first.status_code == 201, first.content
    draft = first.json()["draft"]
    assert first.json()["video"]["path"] == "RealVideo-RealAudio/African/men/id00042/00001.mp4"
    fake = clip.rename(tmp_path / "00002 fake!.mp4")
    second = add_file(client, fake, draft=draft, category=FAKE_FAKE, ethnicity="Asian (East)", gender="female")
    assert second.status_code == 201 and second.json() | {"video": None} == {"draft": draft, "videos": 2, "video": None}

    response = client.post(reverse("study-draft-run"), {"draft": draft, "every_n_frames": "2", "name": "my clips"})

    assert response.status_code == 201, response.content
    job = Job.objects.get(public_id=response.json()["job"]["id"], owner=staff)
    assert (job.kind, job.original_name, job.frames_total, job.every_n_frames) == (Job.Kind.STUDY, "my clips", 2, 2)
    assert job.upload_key == f"{STUDIES_FOLDER}/{draft}" and not media.exists(f"{job.upload_key}/{DRAFT_FILE}")
    with media.local_tree(job.upload_key) as root:
        found = {video.path: video.cell for video in find_study_videos(root)}
    assert found == {
        "RealVideo-RealAudio/African/men/id00042/00001.mp4": (REAL_REAL, "African", "male"),
        "FakeVideo-FakeAudio/Asian (East)/women/00002_fake.mp4": (FAKE_FAKE, "Asian (East)", "female"),
    }
    again = client.post(reverse("study-draft-run"), {"draft": draft})
    assert again.status_code == 404  # a draft runs once


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"category": "Holiday"}, "Choose the category"),
        ({"ethnicity": "Martian"}, "Choose the ethnicity"),
        ({"gender": ""}, "Choose the gender"),
    ],
)
def test_video_with_a_label_outside_the_allowed_values_is_refused_leaving_nothing(
    fields, message, staff, client, clip, settings
):
    client.force_login(staff)

    response = add_file(client, clip, **fields)

    assert response.status_code == 400 and message in response.json()["error"]
    assert files_under(settings.MEDIA_ROOT) == []


@pytest.mark.parametrize("kind", ["image", "not a video"])
def test_file_that_is_not_a_video_is_refused_and_the_draft_keeps_only_its_videos(kind, staff, client, clip, tmp_path):
    client.force_login(staff)
    draft = add_file(client, clip).json()["draft"]
    kept = stored(draft)
    other = tmp_path / "other.mp4"
    other.write_bytes(png_bytes() if kind == "image" else b"<?php system($_GET['c']); ?>" * 20)

    response = add_file(client, other, draft=draft, gender="female")

    assert response.status_code == 400
    assert ("image" if kind == "image" else "not an image or video") in response.json()["error"]
    assert stored(draft) == kept
    assert list(media.walk("uploads")) == []


def test_first_file_refused_creates_no_draft(staff, client, tmp_path, settings):
    client.force_login(staff)
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00" * 4096)

    assert add_file(client, junk).status_code == 400
    assert files_under(settings.MEDIA_ROOT) == [] and media.children(STUDIES_FOLDER) == ([], [])


def test_same_name_in_the_same_cell_is_refused(staff, client, clip):
    client.force_login(staff)
    draft = add_file(client, clip).json()["draft"]

    response = add_file(client, clip, draft=draft)

    assert response.status_code == 400 and "already has a video named 00001.mp4" in response.json()["error"]
    assert len(stored(draft)) == 2  # the first video and draft.json


def test_draft_of_someone_else_does_not_exist_for_them(staff, client, clip, django_user_model):
    client.force_login(staff)
    draft = add_file(client, clip).json()["draft"]
    client.force_login(django_user_model.objects.create_user("dave", password="dave-password-123", is_staff=True))

    assert add_file(client, clip, draft=draft).status_code == 404
    assert client.post(reverse("study-draft-run"), {"draft": draft}).status_code == 404
    assert client.post(reverse("study-draft-run"), {"draft": "../" + draft}).status_code in (400, 404)
    assert not Job.objects.exists()


def test_non_staff_cannot_add_a_study_video(alice, client, clip, settings):
    client.force_login(alice)

    assert add_file(client, clip).status_code == 403
    assert client.post(reverse("study-draft-run"), {"draft": "0" * 32}).status_code == 403
    assert files_under(settings.MEDIA_ROOT) == []


def test_abandoned_draft_is_removed_by_the_purge_after_an_hour(staff, client, clip):
    client.force_login(staff)
    draft = add_file(client, clip).json()["draft"]

    services.media_purge_expired(now=timezone.now() + timedelta(minutes=30))
    assert stored(draft)  # still being filled, perhaps

    services.media_purge_expired(now=timezone.now() + timedelta(hours=2))
    assert stored(draft) == []
