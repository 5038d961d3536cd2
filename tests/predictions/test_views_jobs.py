"""My jobs and the job page (the endpoints behind them are in test_api.py)."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from predictions.models import Job

from .web_factories import make_job

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
