"""Per-user abuse limits on uploads: how many per hour and how many jobs at once."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from .models import Job


def upload_refusal(*, user) -> str | None:
    """Why this user may not start another job now (a message for a 429), or None when they may."""
    active_jobs = Job.objects.filter(owner=user, status__in=Job.ACTIVE_STATUSES).count()
    if active_jobs >= settings.GENREC_MAX_ACTIVE_JOBS:
        return (
            f"You already have {active_jobs} jobs running (the limit is {settings.GENREC_MAX_ACTIVE_JOBS}). "
            "Wait for one to finish or cancel it, then try again."
        )
    # Counted from the database: a deleted job no longer counts, which only matters for abuse by deletion.
    recent_uploads = Job.objects.filter(owner=user, created_at__gte=timezone.now() - timedelta(hours=1)).count()
    if recent_uploads >= settings.GENREC_UPLOADS_PER_HOUR:
        return (
            f"You have uploaded {recent_uploads} files in the last hour (the limit is "
            f"{settings.GENREC_UPLOADS_PER_HOUR}). Please try again later."
        )
    return None
