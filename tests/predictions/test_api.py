"""The HTTP API (predictions/api.py): the upload path every endpoint shares, snapshots, downloads, frames, health."""

from __future__ import annotations

import csv
import io
import json

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from predictions import media
from predictions.models import Job

from .web_factories import jpeg_bytes, make_job, png_bytes

pytestmark = pytest.mark.django_db


def stored_uploads() -> list:
    """Objects under uploads/, where an accepted upload is stored (once)."""
    return list(media.walk("uploads"))


def test_api_answers_a_signed_out_script_with_401_json(client, alice):
    job = make_job(alice)

    assert client.get(reverse("job-snapshot", args=[job.public_id])).json() == {"error": "Please log in again."}
    response = client.post(reverse("job-upload"), {"file": SimpleUploadedFile("a.png", png_bytes())})
    assert response.status_code == 401 and response.json() == {"error": "Please log in again."}
    assert client.post(reverse("study-upload")).status_code == 401


def test_upload_with_an_invalid_content_length_is_400_for_files_and_studies(client, alice):
    alice.is_staff = True
    alice.save()
    client.force_login(alice)
    for name in ("job-upload", "study-upload"):
        response = client.post(reverse(name), {"every_n_frames": "1"}, CONTENT_LENGTH="lots")
        assert response.status_code == 400, name
        assert response.json() == {"error": "The request has an invalid Content-Length."}


def test_upload_over_the_active_job_limit_is_429_before_the_file_is_read(client, alice, settings):
    settings.GENREC_MAX_ACTIVE_JOBS = 1
    make_job(alice, status=Job.Status.RUNNING)
    client.force_login(alice)

    response = client.post(reverse("job-upload"), {"file": SimpleUploadedFile("a.png", png_bytes())})

    assert response.status_code == 429 and "the limit is 1" in response.json()["error"]
    assert Job.objects.count() == 1 and stored_uploads() == []


def test_upload_checks_csrf_after_the_cheap_refusals(alice, settings):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)

    refused = client.post(reverse("job-upload"), {"file": SimpleUploadedFile("a.png", png_bytes())})
    settings.GENREC_MAX_ACTIVE_JOBS = 0
    over_limit = client.post(reverse("job-upload"), {"file": SimpleUploadedFile("a.png", png_bytes())})

    assert refused.status_code == 403  # the token is missing
    assert over_limit.status_code == 429  # refused before the body (and its token) is parsed
    assert Job.objects.count() == 0 and stored_uploads() == []


def test_study_upload_is_403_json_for_non_staff(client, alice):
    client.force_login(alice)

    response = client.post(reverse("study-upload"), {"every_n_frames": "5"})

    assert response.status_code == 403 and response.json() == {
        "error": "Only staff members can run the deepfake study."
    }


def test_study_upload_refuses_bad_options_with_the_shared_error_shape(client, settings):
    staff = User.objects.create_user("carol", password="carol-password-123", is_staff=True)
    client.force_login(staff)

    response = client.post(reverse("study-upload"), {"every_n_frames": "0"})

    assert response.status_code == 400 and "Analyse every N frames" in response.json()["error"]
    assert Job.objects.count() == 0


def test_snapshot_api_returns_the_job(client, alice):
    job = make_job(alice)
    client.force_login(alice)
    body = client.get(reverse("job-snapshot", args=[job.public_id])).json()
    assert body["job"]["faces_found"] == 1 and body["job"]["urls"]["socket"] == f"/ws/jobs/{job.public_id}/"


def test_result_json_download(client, alice):
    job = make_job(alice, name="Ünïcode beach photo.png")
    client.force_login(alice)
    response = client.get(reverse("job-result-json", args=[job.public_id]))
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    disposition = response["Content-Disposition"]
    assert disposition == f'attachment; filename="genrec-unicode-beach-photo-{str(job.public_id)[:8]}.json"'
    document = json.loads(response.content)
    assert document["id"] == str(job.public_id)
    assert document["detections"][0]["label"] == "female" and document["detections"][0]["p_female"] == 0.9


def test_result_csv_download(client, alice):
    job = make_job(alice, name='a"b;c.png')
    client.force_login(alice)
    response = client.get(reverse("job-result-csv", args=[job.public_id]))
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"] == f'attachment; filename="genrec-abc-{str(job.public_id)[:8]}.csv"'
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert len(rows) == 1
    assert rows[0]["label"] == "female" and rows[0]["x"] == "4" and float(rows[0]["confidence"]) == 0.9


def test_kept_frame_is_served_as_jpeg_to_its_owner(client, alice):
    job = make_job(alice)
    client.force_login(alice)
    response = client.get(reverse("job-frame", args=[job.public_id, 0]))
    assert response.status_code == 200 and response["Content-Type"] == "image/jpeg"
    assert b"".join(response.streaming_content) == jpeg_bytes()
    assert client.get(reverse("job-frame", args=[job.public_id, 1])).status_code == 404


def test_cancel_stops_an_active_job_and_returns_to_its_page(client, alice):
    job = make_job(alice, status=Job.Status.RUNNING)
    client.force_login(alice)
    assert client.get(reverse("job-cancel", args=[job.public_id])).status_code == 405
    response = client.post(reverse("job-cancel", args=[job.public_id]))
    assert response.status_code == 302 and response["Location"] == reverse("job-detail", args=[job.public_id])
    job.refresh_from_db()
    assert job.status == Job.Status.CANCELLED


def test_cancel_leaves_a_finished_job_alone(client, alice):
    job = make_job(alice, status=Job.Status.SUCCEEDED)
    client.force_login(alice)
    client.post(reverse("job-cancel", args=[job.public_id]))
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED


def test_delete_removes_the_job_and_its_files(client, alice, settings):
    job = make_job(alice)
    frame = job.result_frame_key(0)
    assert media.exists(frame)
    client.force_login(alice)
    assert client.get(reverse("job-delete", args=[job.public_id])).status_code == 405
    response = client.post(reverse("job-delete", args=[job.public_id]))
    assert response.status_code == 302 and response["Location"] == reverse("job-list")
    assert not Job.objects.filter(pk=job.pk).exists()
    assert not media.exists(frame)
    assert "and all its files" in client.get(reverse("job-list")).content.decode()


def test_healthz_reports_database_and_redis_without_secrets(client, settings):
    response = client.get(reverse("healthz"))
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": True, "redis": True}
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    response = client.get(reverse("healthz"))
    assert response.status_code == 503
    assert response.json() == {"status": "degraded", "database": True, "redis": False}
    assert "127.0.0.1" not in response.content.decode()
