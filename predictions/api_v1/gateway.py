"""The API's only way into the site's writes: the same checks, limits and services as the upload page.

Each function here is the one place to re-point when the site's modules move.
"""

from __future__ import annotations

import logging

from predictions import services
from predictions.archives import check_declared_archive_size
from predictions.forms import model_refusal_message
from predictions.intake import job_from_upload, limit_refusal, study_from_zip
from predictions.models import Job
from predictions.selectors import (
    model_version_default,
    model_version_named,
    model_versions_available,
    study_get_for_user,
)
from predictions.study_views import STUDY_FILES, study_file_key, study_files_stored
from predictions.validators import UploadRejected, check_content_length

logger = logging.getLogger(__name__)

__all__ = [
    "STUDY_FILES",
    "UploadRejected",
    "check_content_length",
    "check_declared_archive_size",
    "job_from_upload",
    "limit_refusal",
    "model_refusal_message",
    "model_version_default",
    "model_version_named",
    "model_versions_available",
    "study_file_key",
    "study_files_stored",
    "study_from_zip",
    "study_get_for_user",
    "shipped_manifest",
]


def shipped_manifest() -> dict | None:
    """The manifest of the model new jobs use (the active one, else GENREC_MODEL_DIR), as the Concept page reads it."""
    from predictions.views import read_report_json  # the pages module: imported when asked, not at start-up

    return read_report_json("manifest.json")


def job_cancel(*, job: Job) -> bool:
    """Cancel an active job through the site's service."""
    return services.job_cancel(job=job)


def job_delete(*, job: Job) -> None:
    """Delete a job and its files through the site's service."""
    services.job_delete(job=job)
