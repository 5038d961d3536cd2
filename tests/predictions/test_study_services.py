"""Study folders follow their job: kept while it waits or runs, gone when it ends, swept when no job names them."""

from __future__ import annotations

import os
from datetime import timedelta

import pytest
from django.utils import timezone

from predictions import services
from predictions.models import Job, studies_dir

pytestmark = pytest.mark.django_db


def study_folder(name: str, *, hours_old: float = 0.0):
    folder = studies_dir() / name
    (folder / "RealVideo-RealAudio").mkdir(parents=True)
    (folder / "RealVideo-RealAudio" / "a.mp4").write_bytes(b"video")
    stamp = (timezone.now() - timedelta(hours=hours_old)).timestamp()
    os.utime(folder, (stamp, stamp))
    return folder


def study_job(owner, folder, status: str) -> Job:
    return Job.objects.create(
        owner=owner, kind=Job.Kind.STUDY, status=status, original_name="batch.zip", upload_name=folder.name
    )


def test_sweep_removes_unclaimed_old_study_folders_and_ended_studies_videos_only(alice):
    orphan = study_folder("0" * 32, hours_old=2)
    recent_orphan = study_folder("1" * 32)
    pending = study_job(alice, study_folder("2" * 32, hours_old=2), Job.Status.PENDING)
    running = study_job(alice, study_folder("3" * 32, hours_old=2), Job.Status.RUNNING)
    failed = study_job(alice, study_folder("4" * 32, hours_old=2), Job.Status.FAILED)

    removed = services.media_purge_expired()

    assert removed == 2  # the failed study's folder (as an upload) and the orphan's one video
    assert not orphan.exists() and not failed.upload_path.exists()
    assert recent_orphan.exists() and pending.upload_path.exists() and running.upload_path.exists()


def test_deleting_a_study_removes_its_videos_and_report(alice):
    job = study_job(alice, study_folder("5" * 32), Job.Status.SUCCEEDED)
    job.results_dir.mkdir(parents=True)
    (job.results_dir / "study.json").write_text("{}")

    services.job_delete(job=job)

    assert not studies_dir().joinpath("5" * 32).exists() and not job.results_dir.exists()
    assert not Job.objects.exists()
