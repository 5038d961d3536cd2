"""Reads of user data; every one filters by owner, so someone else's job is a 404."""

from __future__ import annotations

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404

from .models import Job


def job_list_for_user(*, user) -> QuerySet[Job]:
    """The user's own jobs, newest first."""
    return Job.objects.filter(owner=user).order_by("-created_at")


def job_get_for_user(*, user, public_id) -> Job:
    """One of the user's jobs, or Http404 (never 403: ids of others must not be confirmed)."""
    return get_object_or_404(Job, owner=user, public_id=public_id)
