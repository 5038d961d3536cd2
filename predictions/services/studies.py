"""Writes to study jobs (staff batches of FakeAVCeleb videos): create, record each video, heartbeat, finish.

A study is a Job of kind ``study`` whose upload is its folder (the archive until the worker unpacks it, then
the videos) and whose frames_total / frames_done count videos; each analysed video is kept as a
StudyVideoResult, so a study that stops resumes at its first video without one. It shares the status rules
of jobs.py (conditional updates that go on only when one row changed), its queueing, final-state hooks and purge.
"""

from __future__ import annotations

import logging
import uuid
from functools import partial

from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from .. import media
from ..archives import ARCHIVE_NAME, check_study_archive
from ..models import STUDIES_FOLDER, Job, ModelVersion, StudyVideoResult
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
    """Check a study ZIP's central directory, store the archive by key for the worker, create its job and queue it.

    Its model is recorded as job_create does (the one chosen, else the default). The archive is stored as
    ``studies/<hex>/archive.zip``; the worker unpacks a local copy of it (workers.study_runner) before its
    first video. Raises validators.UploadRejected with a readable message; on any failure no row and no
    object remain.
    """
    folder_name = uuid.uuid4().hex
    prefix = f"{STUDIES_FOLDER}/{folder_name}"
    archive = check_study_archive(upload)
    try:
        upload.seek(0)
        media.save(f"{prefix}/{ARCHIVE_NAME}", upload)
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
    logger.info("Study %s: %d videos, %d bytes declared", job.public_id, len(archive.members), archive.unpacked_bytes)
    return job


def study_plan(*, job: Job, videos_total: int) -> dict[str, dict]:
    """Record how many videos the worker found, and count those an earlier attempt finished; their rows by path."""
    done = {result.path: result.row for result in job.study_results.all()}
    counters = {
        "frames_total": videos_total,
        "frames_done": len(done),
        "faces_found": sum(row["faces"] for row in done.values()),
    }
    Job.objects.filter(pk=job.pk, status=Job.Status.RUNNING).update(**counters, heartbeat_at=timezone.now())
    for name, value in counters.items():
        setattr(job, name, value)
    return done


def study_heartbeat(*, job: Job) -> bool:
    """Tell the reaper the study is alive; False once it is no longer RUNNING (cancelled, or taken over)."""
    return Job.objects.filter(pk=job.pk, status=Job.Status.RUNNING).update(heartbeat_at=timezone.now()) == 1


def study_record_video(*, job: Job, row: dict) -> dict | None:
    """Keep one finished video's row and count it; the job's counters, or None when it is no longer RUNNING."""
    with transaction.atomic():
        changed = Job.objects.filter(pk=job.pk, status=Job.Status.RUNNING).update(
            frames_done=F("frames_done") + 1, faces_found=F("faces_found") + row["faces"], heartbeat_at=timezone.now()
        )
        if changed != 1:
            return None
        StudyVideoResult.objects.update_or_create(
            job=job, path=row["path"], defaults={"row": row, "attempt": job.attempts}
        )
    return job_counters(job=job)


def study_finish(*, job: Job, summary: dict) -> bool:
    """Mark a study SUCCEEDED with its result document (study.json) as the summary the report page renders."""
    return job_succeed(job=job, summary=summary)
