"""Jobs over the API: list and filters, the page's snapshot, the long poll, results, CSV, frames, cancel, delete."""

from __future__ import annotations

import csv
import io
import threading
import time

import pytest
from django.urls import reverse

from predictions import media, selectors, services
from predictions.models import Detection, Job, ModelVersion
from tests.predictions.web_factories import jpeg_bytes, make_job

pytestmark = pytest.mark.django_db


def test_list_is_own_jobs_paginated_and_filtered(alice, bob, alice_api):
    for index in range(3):
        make_job(alice, name=f"v{index}.mp4", kind=Job.Kind.VIDEO)
    make_job(alice, name="running.png", status=Job.Status.RUNNING)
    make_job(bob, name="bobs.png")
    page = alice_api.get(reverse("api-v1-jobs"), {"page_size": 2}).json()
    assert page["count"] == 4 and len(page["results"]) == 2 and page["next"]
    everything = page["results"] + alice_api.get(page["next"]).json()["results"]
    assert sorted(job["original_name"] for job in everything) == ["running.png", "v0.mp4", "v1.mp4", "v2.mp4"]
    videos = alice_api.get(reverse("api-v1-jobs"), {"kind": "video"}).json()
    assert videos["count"] == 3 and {job["kind"] for job in videos["results"]} == {"video"}
    running = alice_api.get(reverse("api-v1-jobs"), {"status": "running"}).json()["results"]
    assert [job["original_name"] for job in running] == ["running.png"]


def test_detail_is_the_pages_snapshot(alice, alice_api, client):
    job = make_job(alice)
    answer = alice_api.get(reverse("api-v1-job", args=[job.public_id])).json()
    client.force_login(alice)
    assert answer == client.get(reverse("job-snapshot", args=[job.public_id])).json()["job"]
    assert answer == selectors.job_snapshot(job) | {"id": str(job.public_id)}


def test_wait_on_a_finished_job_answers_at_once(alice, alice_api):
    job = make_job(alice)
    began = time.monotonic()
    assert alice_api.get(reverse("api-v1-job", args=[job.public_id]), {"wait": 30}).json()["status"] == "SUCCEEDED"
    assert time.monotonic() - began < 2


def test_wait_is_capped_by_the_server(alice, alice_api, settings):
    settings.GENREC_API_MAX_WAIT_SECONDS = 1
    job = make_job(alice, status=Job.Status.RUNNING)
    began = time.monotonic()
    answer = alice_api.get(reverse("api-v1-job", args=[job.public_id]), {"wait": 600}).json()
    assert answer["status"] == "RUNNING" and 0.9 < time.monotonic() - began < 5


@pytest.mark.django_db(transaction=True)
def test_wait_returns_when_the_job_ends(alice, alice_api, settings):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    job = make_job(alice, status=Job.Status.RUNNING)
    cancel = threading.Timer(1.0, lambda: services.job_cancel(job=Job.objects.get(pk=job.pk)))
    began = time.monotonic()
    cancel.start()
    try:
        answer = alice_api.get(reverse("api-v1-job", args=[job.public_id]), {"wait": 20}).json()
    finally:
        cancel.join()
    assert answer["status"] == "CANCELLED"
    assert 0.9 < time.monotonic() - began < 4


def test_wait_does_not_reveal_others_jobs(alice, bob_api):
    job = make_job(alice, status=Job.Status.RUNNING)
    began = time.monotonic()
    assert bob_api.get(reverse("api-v1-job", args=[job.public_id]), {"wait": 5}).status_code == 404
    assert time.monotonic() - began < 2


def test_results_page_through_every_detection(alice, alice_api):
    job = make_job(alice, kind=Job.Kind.VIDEO)
    for frame_index in range(1, 5):
        Detection.objects.create(
            job=job, frame_index=frame_index, face_index=0, x=1, y=2, w=3, h=4, label="male", p_female=0.2,
            confidence=0.8,
        )  # fmt: skip
    job.summary = {"label": "female", "persons": [{"track_id": 1, "label": "female"}]}
    job.save()
    url = reverse("api-v1-job-results", args=[job.public_id])
    first = alice_api.get(url, {"page_size": 3}).json()
    assert first["count"] == 5 and len(first["detections"]) == 3 and first["persons"] == job.summary["persons"]
    second = alice_api.get(first["next"]).json()
    assert second["next"] is None
    assert first["detections"] + second["detections"] == selectors.job_result_rows(job)
    assert alice_api.get(url, {"page": "x"}).status_code == 400


def test_csv_has_the_sites_columns_and_rows(alice, alice_api):
    job = make_job(alice)
    response = alice_api.get(reverse("api-v1-job-csv", args=[job.public_id]), HTTP_ACCEPT="text/csv")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert tuple(rows[0]) == selectors.RESULT_COLUMNS
    assert [(row["label"], float(row["p_female"])) for row in rows] == [("female", 0.9)]


def test_frame_is_the_kept_jpeg(alice, alice_api, media_backend):
    job = make_job(alice)
    response = alice_api.get(reverse("api-v1-job-frame", args=[job.public_id, 0]), HTTP_ACCEPT="image/jpeg")
    assert response.status_code == 200 and b"".join(response.streaming_content) == jpeg_bytes()
    assert alice_api.get(reverse("api-v1-job-frame", args=[job.public_id, 7])).status_code == 404


def test_cancel_an_active_job_then_409(alice, alice_api, django_capture_on_commit_callbacks):
    job = make_job(alice, status=Job.Status.PENDING)
    url = reverse("api-v1-job-cancel", args=[job.public_id])
    with django_capture_on_commit_callbacks(execute=False):
        answer = alice_api.post(url)
    assert answer.status_code == 200 and answer.json()["status"] == "CANCELLED"
    again = alice_api.post(url)
    assert again.status_code == 409 and again.json() == {"error": "This job has already ended."}


def test_delete_removes_the_job_and_its_files(alice, alice_api):
    job = make_job(alice)
    assert list(media.walk(job.results_prefix)) == [job.result_frame_key(0)]
    assert alice_api.delete(reverse("api-v1-job", args=[job.public_id])).status_code == 204
    assert not Job.objects.filter(pk=job.pk).exists() and list(media.walk(job.results_prefix)) == []
    assert alice_api.delete(reverse("api-v1-job", args=[job.public_id])).status_code == 404


def test_models_list_the_shipped_model_before_any_sync(alice_api):
    from predictions.api_v1.gateway import shipped_manifest

    manifest = shipped_manifest()
    ModelVersion.objects.create(name="older", sha256="ab" * 32, metrics={"accuracy": 0.5})
    models = alice_api.get(reverse("api-v1-models")).json()
    assert [model["active"] for model in models] == [True, False]
    assert models[0]["sha256"] == manifest["sha256"] and models[0]["metrics"] == manifest["metrics"]
    assert models[0]["metrics"]["accuracy"] > 0.5 and models[0]["manifest"]["name"] == manifest["name"]
    assert models[1] | {"created_at": None} == {
        "name": "older",
        "sha256": "ab" * 32,
        "active": False,
        "available": False,
        "created_at": None,
        "metrics": {"accuracy": 0.5},
        "manifest": None,
    }


def test_models_list_every_installed_model_the_active_one_first(alice_api, installed_models):
    services.model_versions_sync()
    services.model_version_activate(version=ModelVersion.objects.get(name="eigen-b"))

    models = alice_api.get(reverse("api-v1-models")).json()

    assert [(model["name"], model["active"], model["available"]) for model in models] == [
        ("eigen-b", True, True),
        ("eigen-a", False, True),
    ]
    assert models[0]["manifest"]["sha256"] == models[0]["sha256"] == ModelVersion.objects.get(name="eigen-b").sha256
