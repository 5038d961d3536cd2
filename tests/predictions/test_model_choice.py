"""Choosing a model: Try it now and the study page offer the available ones, the server checks the choice, the
Concept page compares them."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from predictions import media, services
from predictions.models import Job, ModelVersion

from .web_factories import jpeg_bytes

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _synced(installed_models, settings):
    """Two installed models, eigen-a (GENREC_MODEL_DIR) and eigen-b, made active."""
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    services.model_versions_sync()
    services.model_version_activate(version=ModelVersion.objects.get(name="eigen-b"))


def stored(prefix: str) -> list[str]:
    return list(media.walk(prefix))


def upload(client, **fields):
    return client.post(reverse("job-upload"), {"file": SimpleUploadedFile("a.jpg", jpeg_bytes()), **fields})


def test_try_it_now_offers_the_available_models_with_the_active_one_selected(client, alice):
    client.force_login(alice)

    page = client.get(reverse("try")).content.decode()

    details = page[page.index("<details") : page.index("</details>")]
    options = re.findall(r'<option value="([^"]+)"( selected)?', details)
    assert "<summary>Advanced options</summary>" in details and 'name="model"' in details
    assert options == [("eigen-a", ""), ("eigen-b", " selected")]
    assert ">eigen-b (active)</option>" in details and ">eigen-a</option>" in details


def test_upload_with_a_chosen_model_records_it(client, alice, django_capture_on_commit_callbacks):
    client.force_login(alice)

    with django_capture_on_commit_callbacks():
        chosen = upload(client, model="eigen-a")
        default = upload(client)

    assert chosen.status_code == 201 and default.status_code == 201
    jobs = {str(job.public_id): job.model_version.name for job in Job.objects.all()}
    assert jobs == {chosen.json()["job"]["id"]: "eigen-a", default.json()["job"]["id"]: "eigen-b"}


@pytest.mark.parametrize("asked", ["no-such-model", "eigen-c"])
def test_upload_naming_an_unknown_or_unavailable_model_is_400_and_leaves_nothing(client, alice, asked):
    ModelVersion.objects.create(name="eigen-c", sha256="cd" * 32)  # known from old jobs, not installed
    client.force_login(alice)

    response = upload(client, model=asked)

    assert response.status_code == 400
    assert response.json()["error"] == (
        f"There is no available model called {asked!r}; the available models are: eigen-a, eigen-b."
    )
    assert Job.objects.count() == 0 and stored("uploads") == []


def test_study_page_offers_the_models_and_refuses_an_unknown_one_before_unpacking(client):
    staff = User.objects.create_user("carol", password="carol-password-123", is_staff=True)
    client.force_login(staff)

    page = client.get(reverse("study-index")).content.decode()
    refused = client.post(
        reverse("study-upload"),
        {"file": SimpleUploadedFile("batch.zip", b"PK\x03\x04 not read"), "model": "no-such-model"},
    )

    assert re.findall(r'<option value="([^"]+)"', page) == ["eigen-a", "eigen-b"] and 'id="study-model"' in page
    assert refused.status_code == 400 and "no available model called 'no-such-model'" in refused.json()["error"]
    assert Job.objects.count() == 0 and stored("studies") == []


def test_concept_page_compares_every_available_model(client):
    ModelVersion.objects.create(name="eigen-c", sha256="cd" * 32)  # not installed: not compared

    page = client.get(reverse("concept")).content.decode()

    table = page[page.index("data-model-comparison") : page.index("</table>", page.index("data-model-comparison"))]
    assert re.findall(r'data-model="([^"]+)"', table) == ["eigen-a", "eigen-b"]
    active_header = re.search(r'data-model="eigen-b">(.*?)</th>', table).group(1)
    assert "data-active-model" in active_header and "data-active-model" not in table.replace(active_header, "")
    for version in ModelVersion.objects.filter(available=True):
        adults = version.metrics["adults"]["accuracy"]
        assert f"{100 * adults:.1f}%" in table
        assert f"{version.metrics['ece']:.3f}" in table
    assert "Worst race group, adults" in table
