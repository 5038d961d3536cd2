"""API keys: shown once, stored hashed, scoped, revoked at once, rate limited when wrong, useless for the admin."""

from __future__ import annotations

import hashlib
import re

import pytest
from django.test import Client
from django.urls import reverse

from predictions.api_v1.keys import api_key_create
from predictions.models_api import ApiAuthFailure, ApiKey

from .conftest import KeyClient, key_client

pytestmark = pytest.mark.django_db

KEY_PATTERN = re.compile(r"grk_[0-9a-f]{8}_[A-Za-z0-9]{40,}")


def test_account_page_creates_a_key_shows_it_once_and_stores_only_its_hash(client, alice):
    client.force_login(alice)
    response = client.post(reverse("api-keys"), {"name": "notebook", "scope": "write"})
    assert response.status_code == 201 and response["Cache-Control"] == "no-store"
    key = KEY_PATTERN.search(response.content.decode()).group(0)
    row = ApiKey.objects.get(owner=alice)
    assert row.name == "notebook" and row.scope == "write" and key.startswith(f"grk_{row.prefix}_")
    assert row.key_sha256 == hashlib.sha256(key.encode()).hexdigest()
    assert key not in str(ApiKey.objects.filter(pk=row.pk).values().get())  # no column holds the key
    later = client.get(reverse("api-keys")).content.decode()
    assert key not in later and f"grk_{row.prefix}_" in later  # listed by its prefix only
    assert KeyClient(key).get(reverse("api-v1-me")).json() == {
        "username": "alice",
        "is_staff": False,
        "auth": "key",
        "scope": "write",
    }


def test_account_page_needs_a_session(client):
    assert client.get(reverse("api-keys")).status_code == 302


def test_a_key_cannot_manage_keys(alice_api):
    """The key page is a site page: a Bearer key is not a session there."""
    response = alice_api.post(reverse("api-keys"), {"name": "more", "scope": "write"})
    assert response.status_code == 302 and ApiKey.objects.count() == 1


def test_revoked_key_is_refused_at_once(client, alice):
    api = key_client(alice)
    assert api.get(reverse("api-v1-jobs")).status_code == 200
    client.force_login(alice)
    row = ApiKey.objects.get(owner=alice)
    assert client.post(reverse("api-key-revoke", args=[row.pk])).status_code == 302
    response = api.get(reverse("api-v1-jobs"))
    assert response.status_code == 401 and "not valid" in response.json()["error"]
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'


def test_someone_else_cannot_revoke_my_key(client, alice, bob):
    api = key_client(alice)
    client.force_login(bob)
    client.post(reverse("api-key-revoke", args=[ApiKey.objects.get(owner=alice).pk]))
    assert ApiKey.objects.get(owner=alice).revoked_at is None
    assert api.get(reverse("api-v1-jobs")).status_code == 200


def test_read_key_reads_but_cannot_write(alice):
    api = key_client(alice, scope="read")
    assert api.get(reverse("api-v1-jobs")).status_code == 200
    response = api.post(reverse("api-v1-jobs"), {})
    assert response.status_code == 403 and "read-only" in response.json()["error"]


def test_no_credentials_is_401_json(client):
    response = client.get(reverse("api-v1-jobs"))
    assert response.status_code == 401 and response.json()["error"]


@pytest.mark.parametrize("header", ["Bearer", "Bearer grk_00000000_nope", "Bearer a b", "Bearer grk_short_x"])
def test_malformed_or_unknown_keys_are_401(client, alice, header):
    response = Client(HTTP_AUTHORIZATION=header).get(reverse("api-v1-jobs"))
    assert response.status_code == 401


def test_wrong_secret_with_a_real_prefix_is_refused(alice):
    key = api_key_create(owner=alice, name="k", scope="write").key
    forged = key[:-4] + ("AAAA" if not key.endswith("AAAA") else "BBBB")
    assert KeyClient(forged).get(reverse("api-v1-jobs")).status_code == 401


def test_failed_keys_from_one_address_are_rate_limited_even_for_a_good_key(alice, settings):
    settings.GENREC_API_KEY_FAILURES_PER_WINDOW = 3
    good = key_client(alice)
    for _ in range(3):
        assert KeyClient("grk_12345678_guess").get(reverse("api-v1-jobs")).status_code == 401
    assert ApiAuthFailure.objects.count() == 3
    blocked = KeyClient("grk_12345678_guess").get(reverse("api-v1-jobs"))
    assert blocked.status_code == 429 and "Too many" in blocked.json()["error"]
    assert good.get(reverse("api-v1-jobs")).status_code == 429  # the address waits, whatever key it sends now
    other_address = good.get(reverse("api-v1-jobs"), REMOTE_ADDR="10.9.8.7")
    assert other_address.status_code == 200


def test_a_staff_members_key_never_opens_the_admin(staff):
    api = key_client(staff)
    assert api.get(reverse("api-v1-me")).json()["is_staff"] is True
    for path in ("/admin/", "/admin/predictions/job/", "/admin/auth/user/"):
        response = api.get(path)
        assert response.status_code == 302 and "/admin/login/" in response["Location"], path


def test_session_keeps_working_on_the_site_and_on_the_api_with_csrf(alice):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(alice)
    assert browser.get(reverse("job-list")).status_code == 200
    assert browser.get(reverse("api-v1-me")).json()["auth"] == "session"
    refused = browser.post(reverse("api-v1-jobs"), {})
    assert refused.status_code == 403 and "CSRF" in refused.json()["error"]
    browser.get(reverse("api-keys"))
    token = browser.cookies["csrftoken"].value
    answered = browser.post(reverse("api-v1-jobs"), {}, HTTP_X_CSRFTOKEN=token)
    assert answered.status_code == 400 and answered.json()["error"] == "Choose an image or a video to upload."


def test_a_taken_prefix_is_drawn_again(alice, monkeypatch):
    first = api_key_create(owner=alice, name="first", scope="read")
    # token_hex draws a prefix, then a webhook secret, per try; the taken prefix comes up first.
    drawn = iter([first.row.prefix, "ab" * 24, "0badcafe", "cd" * 24])
    monkeypatch.setattr("predictions.api_v1.keys.secrets.token_hex", lambda n: next(drawn))
    second = api_key_create(owner=alice, name="second", scope="read")
    assert second.row.prefix == "0badcafe" and second.key.startswith("grk_0badcafe_")
    assert KeyClient(second.key).get(reverse("api-v1-me")).json()["scope"] == "read"
