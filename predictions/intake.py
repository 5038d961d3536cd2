"""Taking a file in: the per-user limits, the checks and the job, one path for the site's pages and the API."""

from __future__ import annotations

from django.core.files.uploadedfile import UploadedFile

from . import limits, services
from .models import Job, ModelVersion
from .validators import UploadRejected, validate_upload


def limit_refusal(*, user) -> UploadRejected | None:
    """The per-user limits (active jobs, uploads per hour) as a 429 refusal, or None."""
    message = limits.upload_refusal(user=user)
    return UploadRejected(message, status=429) if message else None


def job_from_upload(
    *, owner, file: UploadedFile | None, every_n_frames: int, model_version: ModelVersion | None = None
) -> Job:
    """Check an uploaded file completely and create its job; raises UploadRejected and then leaves nothing behind.

    ``model_version`` is an available model already checked by the caller; None = the active one.
    """
    upload = validate_upload(file)
    # Checked again after the (possibly long) validation: uploads sent in parallel may have started jobs since.
    refusal = limit_refusal(user=owner)
    if refusal:
        upload.discard()
        raise refusal
    return services.job_create(owner=owner, upload=upload, every_n_frames=every_n_frames, model_version=model_version)


def study_from_zip(
    *,
    owner,
    file: UploadedFile | None,
    every_n_frames: int,
    max_frames: int | None,
    model_version: ModelVersion | None = None,
) -> Job:
    """Check and unpack a study ZIP and create its job; raises UploadRejected and then leaves nothing behind."""
    return services.study_create(
        owner=owner, upload=file, every_n_frames=every_n_frames, max_frames=max_frames, model_version=model_version
    )
