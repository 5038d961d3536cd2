"""Job-finished webhooks: address checks, HMAC-SHA256 signatures with a timestamp, delivery with retries and a log."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import socket
import time
import urllib.error
import urllib.parse
import urllib.request

from celery import shared_task
from celery.signals import task_postrun
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from predictions.models import Job
from predictions.models_api import JobWebhook, WebhookDelivery
from predictions.selectors import job_snapshot

logger = logging.getLogger(__name__)

DELIVER_TASK = "predictions.api_v1.webhooks.deliver"
TIMEOUT_SECONDS = 10
SIGNATURE_HEADER = "X-Genrec-Signature"
TIMESTAMP_HEADER = "X-Genrec-Timestamp"
DELIVERY_HEADER = "X-Genrec-Delivery"
EVENT_HEADER = "X-Genrec-Event"
EVENT = "job.finished"


def address_refusal(url: str) -> str | None:
    """Why the site will not POST to this URL (scheme, no host, a private or local address), or None."""
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        return "A webhook URL must be http:// or https:// with a host name."
    try:
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        addresses = {info[4][0] for info in socket.getaddrinfo(parsed.hostname, port, proto=socket.IPPROTO_TCP)}
    except (OSError, ValueError):
        return "The webhook's host name does not resolve."
    if settings.GENREC_WEBHOOK_ALLOW_PRIVATE:
        return None
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        if not ip.is_global or ip.is_multicast:
            return "Webhooks to private, loopback or link-local addresses are not allowed."
    return None


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=<hex>`` of HMAC-SHA256(secret, "<timestamp>." + body): what a receiver recomputes to trust a call."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect could lead to an address the check refused: a 3xx is an answer, not a hop."""

    def redirect_request(self, *args, **kwargs):
        """No new request: the 3xx itself is the answer."""
        return None


_OPENER = urllib.request.build_opener(_NoRedirects)


def deliver_once(webhook: JobWebhook, attempt: int) -> WebhookDelivery:
    """POST the job's final snapshot once, signed; the logged attempt (ok for any 2xx answer)."""
    delivery = WebhookDelivery(webhook=webhook, attempt=attempt)
    body = json.dumps(
        {"event": EVENT, "delivery": str(delivery.delivery_id), "job": job_snapshot(webhook.job)}, sort_keys=True
    ).encode()
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "GEN_REC-webhook/1",
        EVENT_HEADER: EVENT,
        DELIVERY_HEADER: str(delivery.delivery_id),
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: signature(webhook.secret, timestamp, body),
    }
    began = time.perf_counter()
    refusal = address_refusal(webhook.url)  # again at delivery time: DNS may have changed since the job was created
    if refusal:
        delivery.error = refusal
    else:
        try:
            request = urllib.request.Request(webhook.url, data=body, headers=headers, method="POST")
            with _OPENER.open(request, timeout=TIMEOUT_SECONDS) as answer:
                delivery.status_code = answer.status
        except urllib.error.HTTPError as error:
            delivery.status_code = error.code
        except (OSError, ValueError) as error:
            delivery.error = str(error)[:300] or error.__class__.__name__
    delivery.duration_ms = round(1000 * (time.perf_counter() - began), 1)
    delivery.ok = delivery.status_code is not None and 200 <= delivery.status_code < 300
    delivery.save()
    if delivery.ok:
        JobWebhook.objects.filter(pk=webhook.pk).update(delivered_at=timezone.now())
    return delivery


def backoff_seconds(attempt: int) -> float:
    """The wait after a failed attempt: GENREC_WEBHOOK_BACKOFF_SECONDS, doubling each time."""
    return settings.GENREC_WEBHOOK_BACKOFF_SECONDS * 2 ** (attempt - 1)


@shared_task(name=DELIVER_TASK, ignore_result=True, acks_late=True)
def deliver(webhook_pk: int, attempt: int = 1) -> None:
    """Deliver one attempt; after a failure, queue the next with exponential backoff until the attempts run out."""
    webhook = JobWebhook.objects.select_related("job").filter(pk=webhook_pk).first()
    if webhook is None or webhook.delivered_at is not None:
        return  # the job was deleted, or a duplicate message arrived after success
    delivery = deliver_once(webhook, attempt)
    if not delivery.ok and attempt < settings.GENREC_WEBHOOK_MAX_ATTEMPTS:
        deliver.apply_async((webhook_pk, attempt + 1), countdown=backoff_seconds(attempt))


def webhooks_dispatch_ended() -> int:
    """Queue the first delivery of every webhook whose job has ended, exactly once each; how many were queued."""
    ready = JobWebhook.objects.filter(dispatched_at=None, job__status__in=Job.FINAL_STATUSES).values_list(
        "pk", flat=True
    )
    queued = 0
    for webhook_pk in list(ready):
        with transaction.atomic():
            if JobWebhook.objects.filter(pk=webhook_pk, dispatched_at=None).update(dispatched_at=timezone.now()):
                transaction.on_commit(lambda pk=webhook_pk: deliver.delay(pk, 1))
                queued += 1
    return queued


@task_postrun.connect
def _after_worker_task(sender=None, **kwargs) -> None:
    """Jobs end inside the worker's tasks (and the reaper's): look for ended jobs with webhooks after each one."""
    if sender is None or not getattr(sender, "name", "").startswith("workers.tasks."):
        return
    try:
        webhooks_dispatch_ended()
    except Exception:
        logger.exception("Could not queue job-finished webhooks")
