"""My jobs, the job page, result downloads, kept frames, cancel and delete, and the health check."""

from __future__ import annotations

import csv
import io
import json

import pytest
from django.urls import reverse

from predictions.models import Job

from .web_factories import jpeg_bytes, make_job

pytestmark = pytest.mark.django_db


def test_job_list_shows_only_my_jobs_newest_first(client, alice, bob):
    make_job(alice, name="first.png")
    make_job(alice, name="second.mp4", kind=Job.Kind.VIDEO)
    make_job(bob, name="bobs-secret.png")
    client.force_login(alice)
    page = client.get(reverse("job-list")).content.decode()
    assert page.index("second.mp4") < page.index("first.png")
    assert "bobs-secret.png" not in page
    assert "Succeeded" in page and "Video" in page


def test_job_list_is_paginated(client, alice):
    for number in range(23):
        make_job(alice, name=f"photo-{number:02d}.png")
    client.force_login(alice)
    first = client.get(reverse("job-list")).content.decode()
    second = client.get(reverse("job-list") + "?page=2").content.decode()
    assert first.count("photo-") == 20 and second.count("photo-") == 3
    assert "Page 1 of 2" in first


def test_empty_job_list_points_to_try_it_now(client, alice):
    client.force_login(alice)
    page = client.get(reverse("job-list")).content.decode()
    assert "No jobs yet" in page and reverse("try") in page


def test_job_page_renders_the_snapshot_for_the_live_script(client, alice):
    job = make_job(alice, name="beach.png")
    client.force_login(alice)
    response = client.get(reverse("job-detail", args=[job.public_id]))
    assert response.status_code == 200
    page = response.content.decode()
    script = page.split('<script id="job-snapshot" type="application/json">')[1].split("</script>")[0]
    snapshot = json.loads(script)
    assert snapshot["id"] == str(job.public_id) and snapshot["status"] == "SUCCEEDED"
    assert snapshot["result_frames"] == [{"index": 0, "url": reverse("job-frame", args=[job.public_id, 0])}]
    assert "beach.png" in page and "js/job.js" in page
    assert reverse("job-result-json", args=[job.public_id]) in page
    assert reverse("job-result-csv", args=[job.public_id]) in page


def test_failed_job_page_says_why_even_before_the_script_runs(client, alice):
    job = make_job(alice, status=Job.Status.FAILED)
    Job.objects.filter(pk=job.pk).update(error="This video is truncated: it stops at frame 12 of 300.")
    client.force_login(alice)
    page = client.get(reverse("job-detail", args=[job.public_id])).content.decode()
    assert "This job failed: This video is truncated: it stops at frame 12 of 300." in page


def test_job_name_is_escaped_on_the_page(client, alice):
    job = make_job(alice, name="<script>alert(1)</script>.png")
    client.force_login(alice)
    page = client.get(reverse("job-detail", args=[job.public_id])).content.decode()
    assert "<script>alert(1)</script>" not in page


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
    frame = job.result_frame_path(0)
    client.force_login(alice)
    assert client.get(reverse("job-delete", args=[job.public_id])).status_code == 405
    response = client.post(reverse("job-delete", args=[job.public_id]))
    assert response.status_code == 302 and response["Location"] == reverse("job-list")
    assert not Job.objects.filter(pk=job.pk).exists()
    assert not frame.exists()
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
