"""Abuse limits: uploads per hour and active jobs per user answer 429; repeated wrong passwords lock the login."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from predictions.models import Job

from .web_factories import make_job, png_bytes

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """These tests log in many times; the production hasher's deliberate slowness is not what they test."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def upload(client):
    return client.post(reverse("job-upload"), {"file": SimpleUploadedFile("face.png", png_bytes())})


def test_upload_over_the_active_jobs_limit_is_429(client, alice, bob, settings, django_capture_on_commit_callbacks):
    settings.GENREC_MAX_ACTIVE_JOBS = 2
    make_job(alice, status=Job.Status.PENDING)
    make_job(alice, status=Job.Status.RUNNING)
    make_job(bob, status=Job.Status.RUNNING)
    client.force_login(alice)
    with django_capture_on_commit_callbacks() as queued:
        response = upload(client)
    assert response.status_code == 429
    assert "You already have 2 jobs running (the limit is 2)" in response.json()["error"]
    assert Job.objects.filter(owner=alice).count() == 2 and queued == []


def test_finished_jobs_do_not_count_as_active(client, alice, settings, django_capture_on_commit_callbacks):
    settings.GENREC_MAX_ACTIVE_JOBS = 1
    make_job(alice, status=Job.Status.SUCCEEDED)
    make_job(alice, status=Job.Status.FAILED)
    client.force_login(alice)
    with django_capture_on_commit_callbacks():
        assert upload(client).status_code == 201


def test_upload_over_the_hourly_rate_is_429(client, alice, bob, settings, django_capture_on_commit_callbacks):
    settings.GENREC_UPLOADS_PER_HOUR = 3
    for _ in range(3):
        make_job(alice, status=Job.Status.SUCCEEDED)
    make_job(bob, status=Job.Status.SUCCEEDED)
    client.force_login(alice)
    response = upload(client)
    assert response.status_code == 429
    assert "You have uploaded 3 files in the last hour (the limit is 3)" in response.json()["error"]
    client.force_login(bob)  # bob's own count is what limits bob
    with django_capture_on_commit_callbacks():
        assert upload(client).status_code == 201


def test_uploads_older_than_an_hour_do_not_count(client, alice, settings, django_capture_on_commit_callbacks):
    settings.GENREC_UPLOADS_PER_HOUR = 2
    for _ in range(2):
        make_job(alice, status=Job.Status.SUCCEEDED)
    Job.objects.filter(owner=alice).update(created_at=timezone.now() - timedelta(minutes=61))
    client.force_login(alice)
    with django_capture_on_commit_callbacks():
        assert upload(client).status_code == 201


def login(client, password):
    return client.post(reverse("login"), {"username": "alice", "password": password}, REMOTE_ADDR="10.1.2.3")


def test_sixth_wrong_password_locks_out_even_the_right_one(client, alice, settings):
    assert settings.AXES_FAILURE_LIMIT == 5
    for _ in range(4):
        response = login(client, "wrong-guess")
        assert (
            response.status_code == 200 and "Please enter a correct username and password" in response.content.decode()
        )
    response = login(client, "wrong-guess")  # the fifth failure reaches the limit
    assert response.status_code == 429
    assert login(client, "wrong-guess").status_code == 429  # the sixth
    response = login(client, "alice-password-123")
    assert response.status_code == 429
    assert "Too many failed log-ins" in response.content.decode()
    assert f"try again in {timedelta(hours=settings.AXES_COOLOFF_TIME)}" in response.content.decode()
    assert "_auth_user_id" not in client.session
    assert client.get(reverse("job-list")).status_code == 302


def test_a_success_before_the_limit_resets_the_count(client, alice):
    for _ in range(4):
        login(client, "wrong-guess")
    assert login(client, "alice-password-123").status_code == 302
    client.post(reverse("logout"))
    for _ in range(4):
        login(client, "wrong-guess")
    assert login(client, "alice-password-123").status_code == 302
