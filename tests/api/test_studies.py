"""Studies over the API (staff): create from a ZIP through the study page's code path, detail, report downloads."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from predictions import media, services
from predictions.archives import ARCHIVE_NAME
from predictions.models import Job, ModelVersion
from tests.study_helpers import face_study_zip, study_zip

from .conftest import key_client

pytestmark = pytest.mark.django_db


def test_staff_creates_a_study_from_a_zip(staff, tmp_path, settings, django_capture_on_commit_callbacks):
    archive = face_study_zip(tmp_path, frames=6)
    api = key_client(staff)
    with archive.open("rb") as file, django_capture_on_commit_callbacks() as queued:
        response = api.post(reverse("api-v1-studies"), {"file": file, "every_n_frames": "2", "max_frames": "4"})
    assert response.status_code == 201, response.content
    job = Job.objects.get(kind=Job.Kind.STUDY)
    assert response.json()["job"]["id"] == str(job.public_id) and response.json()["report"] is None
    assert job.frames_total == 3 and job.every_n_frames == 2 and job.max_frames == 4 and len(queued) == 1
    # The archive is stored by key as it came for the worker, which unpacks it.
    assert list(media.walk(job.upload_key)) == [f"{job.upload_key}/{ARCHIVE_NAME}"]
    assert media.read_bytes(f"{job.upload_key}/{ARCHIVE_NAME}") == archive.read_bytes()


def test_a_refused_archive_is_a_json_400_and_leaves_nothing(staff, tmp_path, settings):
    archive = study_zip(tmp_path / "bad.zip", {"../escape.mp4": b"x"})
    with archive.open("rb") as file:
        response = key_client(staff).post(reverse("api-v1-studies"), {"file": file})
    assert response.status_code == 400 and response.json()["error"]
    assert Job.objects.count() == 0
    assert [path for path in settings.MEDIA_ROOT.rglob("*") if path.is_file()] == []


def test_a_study_runs_with_the_model_it_names_and_an_unknown_one_is_refused(
    staff, tmp_path, settings, installed_models, django_capture_on_commit_callbacks
):
    services.model_versions_sync()
    archive = face_study_zip(tmp_path, frames=6)
    api = key_client(staff)
    with archive.open("rb") as file:
        refused = api.post(reverse("api-v1-studies"), {"file": file, "model": "nope"})
    assert refused.status_code == 400 and "the available models are: eigen-a, eigen-b" in refused.json()["error"]
    assert Job.objects.count() == 0 and [path for path in settings.MEDIA_ROOT.rglob("*") if path.is_file()] == []
    with archive.open("rb") as file, django_capture_on_commit_callbacks():
        response = api.post(reverse("api-v1-studies"), {"file": file, "model": "eigen-b"})
    assert response.status_code == 201, response.content
    assert Job.objects.get(kind=Job.Kind.STUDY).model_version == ModelVersion.objects.get(name="eigen-b")


def test_study_detail_and_report_files(staff, media_backend):
    job = Job.objects.create(owner=staff, kind=Job.Kind.STUDY, status=Job.Status.SUCCEEDED, original_name="b.zip")
    media.save(f"{job.results_prefix}/study.json", json.dumps({"cells": []}).encode())
    media.save(f"{job.results_prefix}/secret.txt", b"not a report file")
    Job.objects.filter(pk=job.pk).update(summary={"cells": []})
    api = key_client(staff, scope="read")
    detail = api.get(reverse("api-v1-study", args=[job.public_id])).json()
    assert detail["report"] == {"cells": []} and list(detail["files"]) == ["study.json"]
    download = api.get(detail["files"]["study.json"])
    assert download.status_code == 200 and json.loads(b"".join(download.streaming_content)) == {"cells": []}
    assert api.get(reverse("api-v1-study-file", args=[job.public_id, "secret.txt"])).status_code == 404


def test_a_plain_job_is_not_a_study(staff):
    job = Job.objects.create(owner=staff, kind=Job.Kind.IMAGE, original_name="a.png")
    assert key_client(staff).get(reverse("api-v1-study", args=[job.public_id])).status_code == 404
