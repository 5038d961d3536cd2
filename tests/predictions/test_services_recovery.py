"""Dead owners: a claim tells a dead worker from a live one, a part resumes at a detector restart, recovery requeues."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from datetime import timedelta

import pytest
from django.utils import timezone

from predictions import services
from predictions.models import AnalysedFrame, Detection, Job, JobPart
from predictions.services.owners import owner_gone, this_worker
from tests.jobs_helpers import frames, make_job
from workers.pipeline.types import VideoInfo

pytestmark = pytest.mark.django_db

REDETECT_EVERY = 30  # the default detection's, which part_claim resumes by


@pytest.fixture(autouse=True)
def _in_memory_channel_layer(settings):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}


@pytest.fixture(scope="module")
def dead_pid() -> int:
    """The id of a process of this host that has exited."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def unsplit_video_run(owner, *, frame_count: int = 300, every_n_frames: int = 1) -> JobPart:
    """A claimed video job planned as one part, that part claimed: what run_job does before analysing."""
    job = services.job_claim(job_id=make_job(owner, every_n_frames=every_n_frames).pk)
    info = VideoInfo(frame_count=frame_count, fps=25.0, width=64, height=64)
    (part,) = services.job_plan_video(job=job, info=info, parts=1, redetect_every=REDETECT_EVERY)
    return services.part_claim(part_id=part.pk)


def die(part: JobPart, pid: int) -> None:
    """The part's and its job's owner is now a process that has exited (same host, fresh heartbeat)."""
    owner = f"{socket.gethostname()}:{pid}"
    JobPart.objects.filter(pk=part.pk).update(worker=owner)
    Job.objects.filter(pk=part.job_id).update(worker=owner)


def test_owner_is_gone_when_its_process_left_this_host_or_its_heartbeat_went_silent(settings, dead_pid):
    now = timezone.now()
    here = socket.gethostname()
    assert owner_gone(f"{here}:{dead_pid}", now, now)
    assert not owner_gone(f"{here}:{os.getppid()}", now, now)  # alive
    assert not owner_gone(f"elsewhere:{dead_pid}", now, now)  # another host: only its heartbeat tells
    silent = now - timedelta(seconds=settings.GENREC_DEAD_AFTER_SECONDS + 1)
    assert owner_gone(f"elsewhere:{dead_pid}", silent, now)
    assert owner_gone(f"{here}:{os.getppid()}", silent, now)


def test_frames_stored_until_moves_with_the_rows(alice):
    part = unsplit_video_run(alice)
    services.job_record_frames(job=part.job, frames=frames(range(0, 45)), part=part)
    part.refresh_from_db()
    assert part.frames_stored_until == 45 and part.worker == this_worker()


def test_part_of_a_dead_owner_resumes_at_the_detector_restart_before_its_stored_frames(alice, dead_pid):
    part = unsplit_video_run(alice, every_n_frames=2)
    stored = frames(range(0, 150, 2))  # frames 0..148: stored until 149
    services.job_record_frames(job=part.job, frames=stored, part=part)
    kept_rows = set(AnalysedFrame.objects.filter(job=part.job, frame_index__lt=120).values_list("pk", flat=True))
    die(part, dead_pid)

    resumed = services.part_claim(part_id=part.pk)

    block = 2 * REDETECT_EVERY
    assert resumed is not None and resumed.attempts == 2
    assert resumed.resumed_from == resumed.frames_stored_until == 149 // block * block == 120
    assert set(AnalysedFrame.objects.filter(job=part.job).values_list("pk", flat=True)) == kept_rows
    assert not Detection.objects.filter(job=part.job, frame_index__gte=120).exists()
    job = Job.objects.get(pk=part.job_id)
    assert job.frames_done == resumed.frames_done == 60 and job.faces_found == 60


def test_part_of_a_live_owner_is_not_taken(alice):
    part = unsplit_video_run(alice)
    services.job_record_frames(job=part.job, frames=frames(range(40)), part=part)
    assert services.part_claim(part_id=part.pk) is None
    assert services.job_claim(job_id=part.job_id) is None


def test_claim_of_a_dead_owners_video_keeps_its_parts_and_rows(alice, dead_pid):
    part = unsplit_video_run(alice)
    services.job_record_frames(job=part.job, frames=frames(range(70)), part=part)
    die(part, dead_pid)

    job = services.job_claim(job_id=part.job_id)

    assert job is not None and job.attempts == 2
    assert list(job.parts.values_list("pk", flat=True)) == [part.pk]
    assert AnalysedFrame.objects.filter(job=job).count() == 70


def test_recovery_requeues_the_run_of_a_dead_owner_then_fails_it_after_max_attempts(
    alice, settings, dead_pid, django_capture_on_commit_callbacks
):
    settings.GENREC_MAX_ATTEMPTS = 2
    part = unsplit_video_run(alice)
    die(part, dead_pid)
    with django_capture_on_commit_callbacks(execute=False) as queued:
        assert services.jobs_recover_dead() == (1, 0)
    assert len(queued) == 1
    assert Job.objects.get(pk=part.job_id).status == Job.Status.PENDING
    assert JobPart.objects.get(pk=part.pk).status == JobPart.Status.PENDING

    job = services.job_claim(job_id=part.job_id)
    assert services.part_claim(part_id=part.pk) is not None
    die(part, dead_pid)
    assert services.jobs_recover_dead() == (0, 1)
    job.refresh_from_db()
    assert job.status == Job.Status.FAILED and job.error == services.stale_error(2)


def test_recovery_leaves_live_runs_alone(alice):
    part = unsplit_video_run(alice)
    assert services.jobs_recover_dead() == (0, 0)
    assert Job.objects.get(pk=part.job_id).status == Job.Status.RUNNING


def test_recovery_requeues_only_the_dead_part_of_a_split_video(alice, dead_pid, django_capture_on_commit_callbacks):
    job = services.job_claim(job_id=make_job(alice).pk)
    info = VideoInfo(frame_count=300, fps=25.0, width=64, height=64)
    first, second = services.job_plan_video(job=job, info=info, parts=2, redetect_every=REDETECT_EVERY)
    first, second = services.part_claim(part_id=first.pk), services.part_claim(part_id=second.pk)
    die(first, dead_pid)
    Job.objects.filter(pk=job.pk).update(worker=this_worker())  # the planner lives on

    with django_capture_on_commit_callbacks(execute=False) as queued:
        assert services.jobs_recover_dead() == (1, 0)

    assert len(queued) == 1
    statuses = dict(JobPart.objects.filter(job=job).values_list("pk", "status"))
    assert statuses == {first.pk: JobPart.Status.PENDING, second.pk: JobPart.Status.RUNNING}
    assert Job.objects.get(pk=job.pk).status == Job.Status.RUNNING
