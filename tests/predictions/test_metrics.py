"""/metrics: valid Prometheus text for staff and the scrape token, a 404 for everyone else (loopback included)."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta

import pytest
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from predictions import counters
from predictions.models import Job
from tests.jobs_helpers import make_job

pytestmark = pytest.mark.django_db

TOKEN = "a-scrape-token-that-is-long-enough-0123456789"


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_user("carol", password="carol-password-123", is_staff=True)


@pytest.fixture
def scrape_token(settings):
    settings.GENREC_METRICS_TOKEN = TOKEN
    return TOKEN


def samples(response) -> dict[tuple[str, tuple], float]:
    """Every sample of the exposition by (name, sorted labels), parsed by prometheus_client's own parser."""
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    text = response.content.decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_metrics_refused_to_anonymous_even_from_loopback(client, scrape_token):
    response = client.get("/metrics", REMOTE_ADDR="127.0.0.1")
    assert response.status_code == 404
    assert b"genrec_" not in response.content


def test_metrics_refused_to_a_signed_in_user_who_is_not_staff(client, alice, scrape_token):
    client.force_login(alice)
    assert client.get("/metrics").status_code == 404


@pytest.mark.parametrize("header", [f"Bearer {TOKEN}x", f"Bearer {TOKEN[:-1]}", f"Basic {TOKEN}", "Bearer ", TOKEN])
def test_metrics_refused_to_a_wrong_token(client, scrape_token, header):
    assert client.get("/metrics", HTTP_AUTHORIZATION=header).status_code == 404


def test_metrics_refuse_every_token_when_none_is_configured(client, settings):
    settings.GENREC_METRICS_TOKEN = ""
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 404


def test_metrics_answer_the_scrape_token(client, scrape_token):
    assert ("genrec_worker_processes_online", ()) in samples(
        client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    )


def test_metrics_count_jobs_by_status_and_kind_as_the_database_does(client, staff, alice):
    make_job(alice, status=Job.Status.PENDING)
    make_job(alice, status=Job.Status.PENDING)
    make_job(alice, status=Job.Status.RUNNING)
    make_job(alice, kind=Job.Kind.IMAGE, status=Job.Status.FAILED)
    client.force_login(staff)
    found = samples(client.get("/metrics"))
    for status in Job.Status.values:
        for kind in Job.Kind.values:
            expected = Job.objects.filter(status=status, kind=kind).count()
            assert found[("genrec_jobs", (("kind", kind), ("status", status)))] == expected
    assert found[("genrec_jobs", (("kind", "video"), ("status", "PENDING")))] == 2


def test_metrics_give_the_age_of_the_oldest_pending_job(client, staff, alice):
    old = make_job(alice, status=Job.Status.PENDING)
    make_job(alice, status=Job.Status.PENDING)
    Job.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(minutes=5))
    client.force_login(staff)
    age = samples(client.get("/metrics"))[("genrec_oldest_pending_job_age_seconds", ())]
    assert 300 <= age < 330


def test_metrics_photo_latency_histogram_comes_from_upload_and_finish_times(client, staff, alice):
    now = timezone.now()
    for latency in (0.15, 0.35, 0.9):
        photo = make_job(alice, kind=Job.Kind.IMAGE, status=Job.Status.SUCCEEDED)
        Job.objects.filter(pk=photo.pk).update(
            created_at=now, started_at=now, finished_at=now + timedelta(seconds=latency)
        )
    client.force_login(staff)
    found = samples(client.get("/metrics"))
    assert found[("genrec_photo_latency_seconds_bucket", (("le", "0.4"),))] == 2
    assert found[("genrec_photo_latency_seconds_bucket", (("le", "+Inf"),))] == 3
    assert found[("genrec_photo_latency_seconds_count", ())] == 3
    assert found[("genrec_photo_latency_seconds_sum", ())] == pytest.approx(1.4)
    assert found[("genrec_job_duration_seconds_count", ())] == 3


def test_metrics_report_the_shared_counters(client, staff):
    client.force_login(staff)
    before = samples(client.get("/metrics"))
    counters.counter_add(counters.REDELIVERIES)
    counters.counter_add(counters.REAPED_FAILED, 2)
    after = samples(client.get("/metrics"))
    assert after[("genrec_redeliveries_total", ())] == before[("genrec_redeliveries_total", ())] + 1
    failed = ("genrec_reaped_jobs_total", (("outcome", "failed"),))
    assert after[failed] == before[failed] + 2


def test_metrics_short_token_stops_the_start():
    env = {
        **os.environ,
        "GENREC_METRICS_TOKEN": "short",
        "DEBUG": "1",
        "DJANGO_SETTINGS_MODULE": "genrec_site.settings",
    }
    check = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"], env=env, capture_output=True, text=True
    )
    assert check.returncode != 0 and "GENREC_METRICS_TOKEN must be at least 32 characters" in check.stderr
