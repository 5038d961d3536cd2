"""Job-finished webhooks: refused addresses, the signature a receiver checks, the delivery log, dispatch once."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import pytest
from django.urls import reverse

from predictions import services
from predictions.api_v1 import webhooks
from predictions.models import Job
from predictions.models_api import JobWebhook, WebhookDelivery
from tests.predictions.web_factories import make_job

from .receiver import WebhookReceiver

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1/", "http://localhost:8000/", "http://10.1.2.3/", "http://192.168.0.9/", "http://[::1]/",
     "http://169.254.169.254/", "http://[fe80::1]/", "http://0.0.0.0/", "http://224.0.0.1/"],
)  # fmt: skip
def test_private_loopback_and_link_local_addresses_are_refused(settings, url):
    settings.GENREC_WEBHOOK_ALLOW_PRIVATE = False
    assert "not allowed" in webhooks.address_refusal(url)


def test_public_addresses_pass_and_bad_urls_are_refused(settings):
    settings.GENREC_WEBHOOK_ALLOW_PRIVATE = False
    assert webhooks.address_refusal("https://93.184.215.14/hook") is None
    assert webhooks.address_refusal("file:///etc/passwd") is not None
    assert webhooks.address_refusal("http:///nohost") is not None
    assert "does not resolve" in webhooks.address_refusal("http://no-such-host.invalid/")


def test_the_operator_setting_allows_loopback(settings):
    settings.GENREC_WEBHOOK_ALLOW_PRIVATE = True
    assert webhooks.address_refusal("http://127.0.0.1:9/") is None


def ended_job_with_webhook(owner, url: str) -> JobWebhook:
    return JobWebhook.objects.create(job=make_job(owner), url=url, secret="whsec_test")


def test_delivery_is_signed_over_timestamp_and_body_and_logged(alice, alice_api):
    with WebhookReceiver([200]) as receiver:
        webhook = ended_job_with_webhook(alice, receiver.url)
        delivery = webhooks.deliver_once(webhook, 1)
    call = receiver.calls[0]
    timestamp = call["headers"]["X-Genrec-Timestamp"]
    expected = hmac.new(b"whsec_test", timestamp.encode() + b"." + call["body"], hashlib.sha256).hexdigest()
    assert call["headers"]["X-Genrec-Signature"] == f"sha256={expected}"
    assert abs(int(timestamp) - time.time()) < 60
    document = json.loads(call["body"])
    assert document["event"] == "job.finished" and document["job"]["id"] == str(webhook.job.public_id)
    assert document["delivery"] == call["headers"]["X-Genrec-Delivery"] == str(delivery.delivery_id)
    assert delivery.ok and delivery.status_code == 200
    webhook.refresh_from_db()
    assert webhook.delivered_at is not None
    log = alice_api.get(reverse("api-v1-job-webhook", args=[webhook.job.public_id])).json()
    assert log["url"] == receiver.url and [(d["attempt"], d["status_code"], d["ok"]) for d in log["deliveries"]] == [
        (1, 200, True)
    ]


def test_failures_are_logged_with_their_answer_or_error(alice, settings):
    with WebhookReceiver([500]) as receiver:
        webhook = ended_job_with_webhook(alice, receiver.url)
        failed = webhooks.deliver_once(webhook, 1)
    assert not failed.ok and failed.status_code == 500
    unreachable = webhooks.deliver_once(webhook, 2)  # the receiver is gone
    assert not unreachable.ok and unreachable.status_code is None and unreachable.error
    settings.GENREC_WEBHOOK_ALLOW_PRIVATE = False
    refused = webhooks.deliver_once(webhook, 3)  # checked again at delivery time
    assert "not allowed" in refused.error
    assert list(WebhookDelivery.objects.values_list("attempt", flat=True)) == [1, 2, 3]
    assert JobWebhook.objects.get().delivered_at is None


def test_redirects_are_not_followed(alice):
    with WebhookReceiver([302]) as receiver:
        delivery = webhooks.deliver_once(ended_job_with_webhook(alice, receiver.url), 1)
    assert delivery.status_code == 302 and not delivery.ok and len(receiver.calls) == 1


def test_backoff_doubles(settings):
    settings.GENREC_WEBHOOK_BACKOFF_SECONDS = 3
    assert [webhooks.backoff_seconds(attempt) for attempt in (1, 2, 3, 4)] == [3, 6, 12, 24]


def test_dispatch_queues_each_ended_job_once(alice, django_capture_on_commit_callbacks):
    ended = ended_job_with_webhook(alice, "http://127.0.0.1:9/")
    active = JobWebhook.objects.create(
        job=make_job(alice, status=Job.Status.RUNNING), url="http://127.0.0.1:9/", secret="s"
    )
    with django_capture_on_commit_callbacks(execute=False) as queued:
        assert webhooks.webhooks_dispatch_ended() == 1
        assert webhooks.webhooks_dispatch_ended() == 0
    assert len(queued) == 1
    ended.refresh_from_db()
    active.refresh_from_db()
    assert ended.dispatched_at is not None and active.dispatched_at is None
    with django_capture_on_commit_callbacks(execute=False):
        services.job_cancel(job=active.job)
    with django_capture_on_commit_callbacks(execute=False) as queued:
        assert webhooks.webhooks_dispatch_ended() == 1


def test_a_job_without_webhook_has_no_log(alice, alice_api):
    job = make_job(alice)
    assert alice_api.get(reverse("api-v1-job-webhook", args=[job.public_id])).status_code == 404
