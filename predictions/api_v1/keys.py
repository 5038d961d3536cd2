"""API keys: made from 32 random bytes, kept as a sha256, looked up by a short visible prefix; failed tries counted."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from predictions.models_api import ApiAuthFailure, ApiKey

KEY_MARK = "grk"
PREFIX_LENGTH = 8
PREFIX_TRIES = 5
# last_used_at is written at most this often per key: a busy script must not turn every read into a write.
LAST_USED_PRECISION = timedelta(minutes=1)


@dataclass(frozen=True)
class NewKey:
    """A key just created: the row, and the full key text, which is shown once and never stored."""

    row: ApiKey
    key: str


def key_sha256(key: str) -> str:
    """The stored form of a key."""
    return hashlib.sha256(key.encode()).hexdigest()


def api_key_create(*, owner, name: str, scope: str) -> NewKey:
    """Create a key for its owner: ``grk_<prefix>_<secret>``; only its prefix and sha256 are kept."""
    for _ in range(PREFIX_TRIES):
        prefix = secrets.token_hex(PREFIX_LENGTH // 2)
        key = f"{KEY_MARK}_{prefix}_{secrets.token_urlsafe(32).replace('-', 'A').replace('_', 'B')}"
        try:
            with transaction.atomic():
                row = ApiKey.objects.create(
                    owner=owner,
                    name=name.strip()[:80] or "script",
                    scope=scope if scope in ApiKey.Scope.values else ApiKey.Scope.READ,
                    prefix=prefix,
                    key_sha256=key_sha256(key),
                    webhook_secret=f"whsec_{secrets.token_hex(24)}",
                )
        except IntegrityError:
            continue  # that prefix is taken (one chance in four billion per key): draw another
        return NewKey(row=row, key=key)
    raise RuntimeError("could not draw a free key prefix")


def api_key_revoke(*, owner, key_id: int) -> bool:
    """Revoke one of the owner's keys at once; False when it is not theirs or already revoked."""
    return ApiKey.objects.filter(pk=key_id, owner=owner, revoked_at=None).update(revoked_at=timezone.now()) == 1


def api_key_list_for_user(*, user):
    """The user's keys, newest first, revoked ones included (they show as revoked)."""
    return ApiKey.objects.filter(owner=user).order_by("-created_at")


def api_key_find(key: str) -> ApiKey | None:
    """The live key this text is, or None (unknown, wrong secret, revoked, or its owner deactivated)."""
    parts = key.split("_")
    if len(parts) != 3 or parts[0] != KEY_MARK or len(parts[1]) != PREFIX_LENGTH:
        return None
    row = ApiKey.objects.select_related("owner").filter(prefix=parts[1], revoked_at=None).first()
    if row is None or not hmac.compare_digest(row.key_sha256, key_sha256(key)) or not row.owner.is_active:
        return None
    now = timezone.now()
    if row.last_used_at is None or now - row.last_used_at > LAST_USED_PRECISION:
        ApiKey.objects.filter(pk=row.pk).update(last_used_at=now)
    return row


def key_failures_exceeded(address: str) -> bool:
    """Whether this address has had too many keys refused within the window."""
    since = timezone.now() - timedelta(seconds=settings.GENREC_API_KEY_FAILURE_WINDOW_SECONDS)
    recent = ApiAuthFailure.objects.filter(address=address, created_at__gte=since).count()
    return recent >= settings.GENREC_API_KEY_FAILURES_PER_WINDOW


def key_failure_record(address: str) -> None:
    """Count one refused key from this address (and forget counts older than the window)."""
    ApiAuthFailure.objects.create(address=address)
    since = timezone.now() - timedelta(seconds=settings.GENREC_API_KEY_FAILURE_WINDOW_SECONDS)
    ApiAuthFailure.objects.filter(created_at__lt=since).delete()


def key_from_text(address: str, key: str) -> ApiKey | None:
    """Check a presented key for a client address: None when refused (and counted); raises KeyAttemptsExceeded."""
    if key_failures_exceeded(address):
        raise KeyAttemptsExceeded
    row = api_key_find(key)
    if row is None:
        key_failure_record(address)
    return row


class KeyAttemptsExceeded(Exception):
    """Too many refused keys from one address: it must wait for the window to pass."""
