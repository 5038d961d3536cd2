"""Writes to study jobs (staff batches of FakeAVCeleb videos): create, count videos done, heartbeat, finish.

A study is a Job of kind ``study`` whose upload is the folder its archive's videos were unpacked into and
whose frames_total / frames_done count videos; it shares the status rules of jobs.py (conditional updates
that go on only when one row changed), its queueing, its final-state hooks and its purge.
"""

from __future__ import annotations

import logging
import tempfile
import uuid
from functools import partial
from pathlib import Path

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from .. import media
from ..archives import unpack_study_archive
from ..models import STUDIES_FOLDER, Job, ModelVersion
from ..selectors import job_counters, model_version_default
from .jobs import job_enqueue, job_succeed

logger = logging.getLogger(__name__)


def study_create(
    *,
    owner,
    upload: UploadedFile | None,
    every_n_frames: int,
    max_frames: int | None,
    model_version: ModelVersion | None = None,
) -> Job:
    """Check and unpack a study ZIP in a temporary folder, store its videos, create its PENDING job (its model
    recorded as job_create does) and queue it.

    Raises validators.UploadRejected with a readable message; on any failure no row and no object remain.
    """
    folder_name = uuid.uuid4().hex
    prefix = f"{STUDIES_FOLDER}/{folder_name}"
    try:
        with tempfile.TemporaryDirectory(prefix="genrec-study-", dir=settings.FILE_UPLOAD_TEMP_DIR) as scratch:
            archive = unpack_study_archive(upload, Path(scratch) / "videos")
            media.save_tree(Path(scratch) / "videos", prefix)
        with transaction.atomic():
            job = Job.objects.create(
                owner=owner,
                kind=Job.Kind.STUDY,
                original_name=archive.display_name,
                upload_name=folder_name,
                size_bytes=archive.size_bytes,
                every_n_frames=max(1, int(every_n_frames)),
                max_frames=max_frames,
                frames_total=len(archive.members),
                model_version=model_version or model_version_default(),
            )
            transaction.on_commit(partial(job_enqueue, job.pk))
    except BaseException:
        media.delete_tree(prefix)
        raise
    logger.info("Study %s: %d videos, %d bytes unpacked", job.public_id, len(archive.members), archive.unpacked_bytes)
    return job


def study_plan(*, job: Job, videos_total: int) -> None:
    """Record how many videos the worker found in the unpacked folder (the total of the progress)."""
    Job.objects.filter(pk=job.pk, status=Job.Status.RUNNING).update(
        frames_total=videos_total, heartbeat_at=timezone.now()
    )
    job.frames_total = videos_total


def study_heartbeat(*, job: Job) -> bool:
    """Tell the reaper the study is alive; False once it is no longer RUNNING (cancelled, or taken over)."""
    return Job.objects.filter(pk=job.pk, status=Job.Status.RUNNING).update(heartbeat_at=timezone.now()) == 1


def study_record_video(*, job: Job, faces: int) -> dict | None:
    """Count one more video done and its faces; the job's counters, or None when it is no longer RUNNING."""
    changed = Job.objects.filter(pk=job.pk, status=Job.Status.RUNNING).update(
        frames_done=F("frames_done") + 1, faces_found=F("faces_found") + faces, heartbeat_at=timezone.now()
    )
    if changed != 1:
        return None
    return job_counters(job=job)


def study_finish(*, job: Job, summary: dict) -> bool:
    """Mark a study SUCCEEDED with its result document (study.json) as the summary the report page renders."""
    return job_succeed(job=job, summary=summary)
