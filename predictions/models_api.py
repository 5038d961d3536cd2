"""API keys (stored hashed), failed key attempts per address, and job-finished webhooks with their delivery log."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models


class ApiKey(models.Model):
    """A person's key for scripts: shown once, kept as the sha256 of the whole key, found by its short prefix."""

    class Scope(models.TextChoices):
        """Read only, or read and write."""

        READ = "read", "Read"
        WRITE = "write", "Read and write"

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=80)
    scope = models.CharField(max_length=5, choices=Scope.choices, default=Scope.READ)
    prefix = models.CharField(max_length=16, unique=True, help_text="The visible start of the key, for lookup.")
    key_sha256 = models.CharField(max_length=64, help_text="sha256 of the whole key; the key itself is never stored.")
    webhook_secret = models.CharField(max_length=64, help_text="Signs the webhooks of the jobs this key creates.")
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…, {self.scope})"

    @property
    def can_write(self) -> bool:
        """Whether the key may upload, cancel and delete."""
        return self.scope == self.Scope.WRITE


class ApiAuthFailure(models.Model):
    """One refused key from one client address: counted to slow down guessing."""

    address = models.CharField(max_length=45, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    def __str__(self) -> str:
        return f"refused key from {self.address} at {self.created_at:%Y-%m-%d %H:%M:%S}"


class JobWebhook(models.Model):
    """Where to POST a job's final snapshot, signed with the secret of the key that created the job."""

    job = models.OneToOneField("predictions.Job", on_delete=models.CASCADE, related_name="webhook")
    url = models.URLField(max_length=500)
    secret = models.CharField(max_length=64)
    dispatched_at = models.DateTimeField(
        null=True, blank=True, help_text="Set once, by conditional update, when the first delivery is queued."
    )
    delivered_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"webhook of job {self.job_id} to {self.url}"


class WebhookDelivery(models.Model):
    """One attempt to deliver a job's webhook, as its owner sees it in the log."""

    webhook = models.ForeignKey(JobWebhook, on_delete=models.CASCADE, related_name="deliveries")
    delivery_id = models.UUIDField(default=uuid.uuid4, editable=False)
    attempt = models.PositiveSmallIntegerField()
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    ok = models.BooleanField(default=False)
    error = models.CharField(max_length=300, blank=True)
    duration_ms = models.FloatField(default=0.0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["webhook", "attempt"]

    def __str__(self) -> str:
        return f"attempt {self.attempt} of {self.webhook_id}: {self.status_code or self.error}"
