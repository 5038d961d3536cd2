"""Uploads through the API: the site's refusals for the hostile corpus (JSON, 4xx, nothing left), and good uploads."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from predictions import media, services
from predictions.models import Job, ModelVersion
from predictions.models_api import JobWebhook
from tests.predictions.test_validators import CORPUS_NAMES, hostile_corpus  # noqa: F401  (the site's corpus)
from tests.predictions.web_factories import astronaut_video, png_bytes

from .conftest import KeyClient

pytestmark = pytest.mark.django_db


def stored_files(settings) -> list:
    return [path for path in settings.MEDIA_ROOT.rglob("*") if path.is_file()]


@pytest.mark.parametrize("case", CORPUS_NAMES)
def test_hostile_upload_gets_the_sites_refusal_and_leaves_nothing(
    client,
    alice,
    alice_api,
    hostile_corpus,  # noqa: F811  (pytest passes the imported fixture)
    case,
    settings,
    django_capture_on_commit_callbacks,
):
    file_name, content, message = hostile_corpus[case]
    client.force_login(alice)
    site = client.post(reverse("job-upload"), {"file": SimpleUploadedFile(file_name, content, "image/png")})
    with django_capture_on_commit_callbacks() as queued:
        api = alice_api.post(reverse("api-v1-jobs"), {"file": SimpleUploadedFile(file_name, content, "image/png")})
    assert (api.status_code, api.json()) == (site.status_code, site.json()) == (400, {"error": message})
    assert Job.objects.count() == 0 and stored_files(settings) == [] and queued == []


def test_good_upload_creates_the_job_stores_the_file_and_queues_it_once(
    alice, alice_api, settings, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as queued:
        response = alice_api.post(reverse("api-v1-jobs"), {"file": SimpleUploadedFile("../a.png", png_bytes())})
    assert response.status_code == 201
    job = Job.objects.get()
    assert response.json()["id"] == str(job.public_id) and response.json()["status"] == "PENDING"
    assert job.owner == alice and job.kind == "image" and job.original_name == "a.png"
    assert stored_files(settings) == [media.local_path(job.upload_key)] and len(queued) == 1


def test_video_upload_records_sampling(alice_api, tmp_path, django_capture_on_commit_callbacks):
    clip = astronaut_video(tmp_path / "c.mp4", fourcc="mp4v", frames=30)
    with clip.open("rb") as file, django_capture_on_commit_callbacks():
        response = alice_api.post(reverse("api-v1-jobs"), {"file": file, "every_n_frames": "4"})
    assert response.status_code == 201, response.content
    assert response.json()["kind"] == "video" and response.json()["every_n_frames"] == 4
    assert response.json()["frames_total"] == 8  # ceil(30 / 4), as the site counts


def test_raw_body_upload_with_options_in_the_query(alice_api, tmp_path, django_capture_on_commit_callbacks):
    clip = astronaut_video(tmp_path / "c.mp4", fourcc="mp4v", frames=30)
    with django_capture_on_commit_callbacks():
        response = alice_api.post(
            reverse("api-v1-jobs") + "?every_n_frames=10",
            clip.read_bytes(),
            content_type="application/octet-stream",
            HTTP_CONTENT_DISPOSITION='attachment; filename="raw clip.mp4"',
        )
    assert response.status_code == 201, response.content
    assert response.json()["original_name"] == "raw clip.mp4" and response.json()["frames_total"] == 3


@pytest.mark.parametrize("every_n_frames", ["0", "301", "many"])
def test_sampling_out_of_range_is_a_json_400(alice_api, every_n_frames):
    response = alice_api.post(
        reverse("api-v1-jobs"), {"file": SimpleUploadedFile("a.png", png_bytes()), "every_n_frames": every_n_frames}
    )
    assert response.status_code == 400 and "every_n_frames" in response.json()["fields"]
    assert Job.objects.count() == 0


def test_declared_content_length_over_the_limit_is_413_before_reading(alice_api, settings):
    settings.GENREC_MAX_UPLOAD_BYTES = 1000
    response = alice_api.post(
        reverse("api-v1-jobs"), {"file": SimpleUploadedFile("a.png", b"x" * 100_000)}, CONTENT_LENGTH="100000000"
    )
    assert response.status_code == 413 and "too large" in response.json()["error"]


def test_the_sites_limits_apply(alice, alice_api, settings):
    settings.GENREC_MAX_ACTIVE_JOBS = 1
    Job.objects.create(owner=alice, kind="image", original_name="busy.png")
    response = alice_api.post(reverse("api-v1-jobs"), {"file": SimpleUploadedFile("a.png", png_bytes())})
    assert response.status_code == 429 and "jobs running" in response.json()["error"]
    assert Job.objects.count() == 1


def test_webhook_needs_a_key_and_an_allowed_address(client, alice, alice_api, settings):
    def upload(api, url):
        return api.post(reverse("api-v1-jobs"), {"file": SimpleUploadedFile("a.png", png_bytes()), "webhook_url": url})

    client.force_login(alice)
    assert "API key" in upload(client, "http://127.0.0.1:9/hook").json()["error"]
    settings.GENREC_WEBHOOK_ALLOW_PRIVATE = False
    for url in ("http://127.0.0.1:9/", "http://10.0.0.5/", "http://169.254.169.254/latest", "http://[::1]/"):
        response = upload(alice_api, url)
        assert response.status_code == 400 and "not allowed" in response.json()["error"], url
    assert upload(alice_api, "ftp://example.org/").status_code == 400
    assert Job.objects.count() == 0 and JobWebhook.objects.count() == 0


def test_webhook_is_kept_with_the_keys_signing_secret(alice_api, django_capture_on_commit_callbacks):
    url = "http://127.0.0.1:9/hook"
    with django_capture_on_commit_callbacks():
        response = alice_api.post(
            reverse("api-v1-jobs"), {"file": SimpleUploadedFile("a.png", png_bytes()), "webhook_url": url}
        )
    assert response.status_code == 201
    webhook = JobWebhook.objects.get()
    assert webhook.url == url and webhook.secret.startswith("whsec_") and webhook.dispatched_at is None
    assert isinstance(alice_api, KeyClient)


def test_any_available_model_can_be_asked_for_and_others_are_refused(
    alice_api, installed_models, settings, django_capture_on_commit_callbacks
):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    services.model_versions_sync()
    ModelVersion.objects.create(name="retired", sha256="cd" * 32)  # analysed old jobs; its folder is gone

    def upload(model):
        fields = {"file": SimpleUploadedFile("a.png", png_bytes()), "model": model}
        return alice_api.post(reverse("api-v1-jobs"), fields)

    for asked in ("some-other-model", "retired"):
        refused = upload(asked)
        assert refused.status_code == 400 and "/api/v1/models/" in refused.json()["error"], asked
        assert "the available models are: eigen-a, eigen-b" in refused.json()["error"]
    assert Job.objects.count() == 0 and stored_files(settings) == []
    eigen_b = ModelVersion.objects.get(name="eigen-b")
    with django_capture_on_commit_callbacks():
        by_name, by_sha256 = upload("eigen-b"), upload(eigen_b.sha256)
    assert by_name.status_code == 201 and by_sha256.status_code == 201
    assert [job.model_version for job in Job.objects.all()] == [eigen_b, eigen_b]
