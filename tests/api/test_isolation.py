"""The isolation walk over every API route: others get 404 on every object, read keys cannot write, no key no entry."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from predictions import media
from predictions.api_v1 import urls as api_urls
from predictions.models import Job
from predictions.models_api import ApiKey, JobWebhook
from tests.predictions.web_factories import make_job

from .conftest import key_client

pytestmark = pytest.mark.django_db

# Every route of the API that names an object, with each method it answers: (name, method, extra kwargs).
OBJECT_ROUTES = [
    ("api-v1-job", "get", {}),
    ("api-v1-job", "delete", {}),
    ("api-v1-job-cancel", "post", {}),
    ("api-v1-job-results", "get", {}),
    ("api-v1-job-csv", "get", {}),
    ("api-v1-job-frame", "get", {"frame_index": 0}),
    ("api-v1-job-webhook", "get", {}),
    ("api-v1-study", "get", {}),
    ("api-v1-study-file", "get", {"name": "study.json"}),
]
# Routes without an object: the list and create of jobs and studies, who am I, the models.
COLLECTION_ROUTES = [
    ("api-v1-jobs", "get"),
    ("api-v1-jobs", "post"),
    ("api-v1-studies", "post"),
    ("api-v1-me", "get"),
    ("api-v1-models", "get"),
]
PUBLIC_ROUTES = {"api-v1-schema", "api-v1-docs", "api-v1-redoc"}
WRITES = {"post", "delete", "put", "patch"}


def test_the_walk_covers_every_api_route():
    names = {pattern.name for pattern in api_urls.urlpatterns if pattern.name.startswith("api-v1-")}
    walked = {name for name, _, _ in OBJECT_ROUTES} | {name for name, _ in COLLECTION_ROUTES}
    assert names == walked | PUBLIC_ROUTES


@pytest.fixture
def alices_things(alice, staff, settings):
    """A finished job of alice's (with a kept frame and a webhook), and a finished study of carol's (staff)."""
    job = make_job(alice)
    JobWebhook.objects.create(job=job, url="http://127.0.0.1:9/hook", secret="s")
    study = Job.objects.create(owner=staff, kind=Job.Kind.STUDY, status=Job.Status.SUCCEEDED, original_name="b.zip")
    media.save(f"{study.results_prefix}/study.json", b"{}")
    return {"job": job, "study": study}


def url_of(name: str, things: dict, extra: dict) -> str:
    target = things["study"] if name.startswith("api-v1-study") else things["job"]
    return reverse(name, kwargs={"public_id": target.public_id, **extra})


def call(client: Client, method: str, url: str):
    return getattr(client, method)(url)


def test_owners_reach_every_object_route(alices_things, alice, staff):
    """The positive control: the same walk by the owners answers (so the 404s below mean something)."""
    owners = {"job": key_client(alice), "study": key_client(staff)}
    for name, method, extra in OBJECT_ROUTES:
        if method == "delete" or name == "api-v1-job-cancel":
            continue  # destructive; answered below by their own tests
        client = owners["study" if name.startswith("api-v1-study") else "job"]
        response = call(client, method, url_of(name, alices_things, extra))
        assert response.status_code == 200, (name, response.status_code)


@pytest.mark.parametrize("credential", ["key", "session"])
def test_someone_else_gets_404_on_every_object(alices_things, django_user_model, credential):
    other_staff = django_user_model.objects.create_user("dave", password="dave-password-123", is_staff=True)
    if credential == "key":
        client = key_client(other_staff)
    else:
        client = Client()  # the test client skips CSRF checks; the CSRF test lives in test_keys
        client.force_login(other_staff)
    for name, method, extra in OBJECT_ROUTES:
        response = call(client, method, url_of(name, alices_things, extra))
        assert response.status_code == 404, (credential, name, method, response.status_code)
        assert response.json()["error"]
    assert Job.objects.filter(pk=alices_things["job"].pk, status=Job.Status.SUCCEEDED).exists()


def test_non_staff_cannot_reach_studies(alices_things, bob):
    """As on the site: the study's pages do not exist for them (404), and starting one is forbidden (403)."""
    api = key_client(bob)
    for name, method, extra in OBJECT_ROUTES:
        if name.startswith("api-v1-study"):
            assert call(api, method, url_of(name, alices_things, extra)).status_code == 404
    assert api.post(reverse("api-v1-studies")).status_code == 403


def test_a_read_key_cannot_write_anywhere(alices_things, alice, staff):
    for owner in (alice, staff):
        api = key_client(owner, scope="read")
        for name, method, extra in OBJECT_ROUTES:
            if method in WRITES:
                response = call(api, method, url_of(name, alices_things, extra))
                assert response.status_code == 403, (name, method)
        for name, method in COLLECTION_ROUTES:
            if method in WRITES:
                assert call(api, method, reverse(name)).status_code == 403, name
    assert Job.objects.filter(pk=alices_things["job"].pk).exists()


def test_no_credentials_gets_401_everywhere(alices_things):
    anonymous = Client()
    for name, method, extra in OBJECT_ROUTES:
        assert call(anonymous, method, url_of(name, alices_things, extra)).status_code == 401, name
    for name, method in COLLECTION_ROUTES:
        assert call(anonymous, method, reverse(name)).status_code == 401, name


def test_a_revoked_key_is_refused_on_every_route(alices_things, alice, settings):
    settings.GENREC_API_KEY_FAILURES_PER_WINDOW = 100  # each refusal counts as a failed attempt; not the subject here
    api = key_client(alice)
    ApiKey.objects.filter(owner=alice).update(revoked_at="2026-01-01T00:00:00Z")
    for name, method, extra in OBJECT_ROUTES:
        assert call(api, method, url_of(name, alices_things, extra)).status_code == 401, name
    for name, method in COLLECTION_ROUTES:
        assert call(api, method, reverse(name)).status_code == 401, name
