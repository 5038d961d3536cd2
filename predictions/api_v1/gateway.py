"""The API's only way into the site's writes: the same checks, limits and services as the upload page.

Each function here is the one place to re-point when the site's modules move.
"""

from __future__ import annotations

import logging

from django.core.files.uploadedfile import UploadedFile

from predictions import limits, services, study_services
from predictions.archives import check_study_archive_size
from predictions.models import Job
from predictions.study_views import STUDY_FILES, study_get_for_user
from predictions.validators import UploadRejected, check_content_length, validate_upload

logger = logging.getLogger(__name__)

__all__ = [
    "STUDY_FILES",
    "UploadRejected",
    "check_content_length",
    "check_study_archive_size",
    "job_from_upload",
    "study_from_zip",
    "study_get_for_user",
    "shipped_manifest",
]


def shipped_manifest() -> dict | None:
    """The manifest of the model the workers load (GENREC_MODEL_DIR), as the Concept page reads it."""
    from predictions.views import read_report_json  # the pages module: imported when asked, not at start-up

    return read_report_json("manifest.json")


def limit_refusal(*, user) -> UploadRejected | None:
    """The site's per-user limits (active jobs, uploads per hour) as a 429 refusal, or None."""
    message = limits.upload_refusal(user=user)
    return UploadRejected(message, status=429) if message else None


def job_from_upload(*, owner, file: UploadedFile | None, every_n_frames: int) -> Job:
    """Check an uploaded file as the site does and create its job; raises UploadRejected (nothing left behind)."""
    refusal = limit_refusal(user=owner)
    if refusal:
        raise refusal
    upload = validate_upload(file)
    # Checked again after the (possibly long) validation, as the site does: parallel uploads may have started jobs.
    refusal = limit_refusal(user=owner)
    if refusal:
        raise refusal
    return services.job_create(owner=owner, upload=upload, every_n_frames=every_n_frames)


def study_from_zip(*, owner, file: UploadedFile | None, every_n_frames: int, max_frames: int | None) -> Job:
    """Check and unpack a study ZIP as the study page does and create its job; raises UploadRejected."""
    refusal = limit_refusal(user=owner)
    if refusal:
        raise refusal
    return study_services.study_create(owner=owner, upload=file, every_n_frames=every_n_frames, max_frames=max_frames)


def job_cancel(*, job: Job) -> bool:
    """Cancel an active job through the site's service."""
    return services.job_cancel(job=job)


def job_delete(*, job: Job) -> None:
    """Delete a job and its files through the site's service."""
    services.job_delete(job=job)
