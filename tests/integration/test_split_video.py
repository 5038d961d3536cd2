"""One long video split across worker threads gives exactly a single run's results; cancelling stops every part."""

from __future__ import annotations

import json
import time
from dataclasses import asdict

import pytest

from predictions import media, services
from predictions.models import AnalysedFrame, Detection, Job, JobPart
from tests.jobs_helpers import validated_upload, wait_for_job, write_face_clip
from workers import runner
from workers.pipeline.analysis import Analyzer
from workers.pipeline.config import DEFAULT_DETECTION
from workers.pipeline.model import load_model
from workers.pipeline.summary import track_and_summarize

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True), pytest.mark.timeout(240)]

DETECTION_FIELDS = (
    "frame_index",
    "face_index",
    "x",
    "y",
    "w",
    "h",
    "label",
    "p_female",
    "confidence",
    "track_id",
    "p_female_smoothed",
    "descriptor",
)
IDLE_LIMIT_SECONDS = 60


def results_of(job: Job) -> tuple[list, list, dict]:
    detections = list(
        Detection.objects.filter(job=job).order_by("frame_index", "face_index").values_list(*DETECTION_FIELDS)
    )
    frames = list(AnalysedFrame.objects.filter(job=job).order_by("frame_index").values_list("frame_index", "faces"))
    return detections, frames, job.summary


def run_to_the_end(owner, clip, *, every_n_frames: int) -> Job:
    job = services.job_create(owner=owner, upload=validated_upload(clip), every_n_frames=every_n_frames)
    return wait_for_job(job, until=lambda job: job.status in Job.FINAL_STATUSES)


def test_split_run_equals_single_run_and_the_pipeline(alice, settings, tmp_path, worker, tiny_model_dir):
    # Parts start at multiples of every_n_frames * redetect_every (block): six blocks make three parts of two.
    block = 2 * DEFAULT_DETECTION.redetect_every
    clip = write_face_clip(tmp_path / "long.mp4", frames=6 * block, blank_every=17)
    with worker(concurrency=2):
        settings.GENREC_SPLIT_MIN_FRAMES = 10_000
        single = run_to_the_end(alice, clip, every_n_frames=2)
        settings.GENREC_SPLIT_MIN_FRAMES = 10
        settings.GENREC_SPLIT_PARTS = 3
        split = run_to_the_end(alice, clip, every_n_frames=2)

    assert (single.status, split.status) == (Job.Status.SUCCEEDED, Job.Status.SUCCEEDED), (single.error, split.error)
    assert single.parts_total == 1 and split.parts_total == 3
    starts = list(JobPart.objects.filter(job=split).values_list("start_frame", flat=True))
    assert starts == [0, 2 * block, 4 * block]
    assert set(JobPart.objects.filter(job=split).values_list("status", flat=True)) == {"DONE"}
    assert results_of(split) == results_of(single)
    assert split.frames_done == single.frames_done == 3 * block

    pipeline = track_and_summarize(Analyzer(model=load_model(tiny_model_dir)).analyze_video(clip, every_n_frames=2))
    expected = [
        (frame.index, number, face.box.x, face.box.y, face.box.w, face.box.h, face.label)
        + (face.track_id, face.p_female_smoothed, list(face.descriptor))
        for frame in pipeline.frames
        for number, face in enumerate(frame.faces)
    ]
    stored = [row[:7] + row[9:] for row in results_of(split)[0]]
    assert stored == expected
    # Persons, fragments, track ids and the main person: the stored descriptors make the merge track like one run.
    assert split.summary == json.loads(json.dumps(asdict(pipeline.summary)))
    assert split.summary["faces"] == pipeline.summary.faces > 0
    assert split.summary["persons"] and split.summary["main_track_id"] is not None


def test_cancel_stops_every_part_of_a_running_split_job(alice, settings, tmp_path, worker, celery_test_app):
    settings.GENREC_SPLIT_MIN_FRAMES = 10
    settings.GENREC_SPLIT_PARTS = 2
    clip = write_face_clip(tmp_path / "long.mp4", frames=900)
    with worker(concurrency=2) as started:
        job = services.job_create(owner=alice, upload=validated_upload(clip), every_n_frames=1)
        parts_running = lambda job: JobPart.objects.filter(job=job, status="RUNNING", frames_done__gt=0).count() == 2  # noqa: E731
        wait_for_job(job, until=parts_running)
        assert services.job_cancel(job=job) is True
        wait_until_idle(celery_test_app, started.hostname)
        job.refresh_from_db()
        frames_when_idle = job.frames_done

    assert job.status == Job.Status.CANCELLED
    assert frames_when_idle < job.frames_total
    for part in JobPart.objects.filter(job=job):
        assert part.status == JobPart.Status.FAILED
        assert part.frames_done < part.end_frame - part.start_frame
    assert AnalysedFrame.objects.filter(job=job).count() == frames_when_idle
    assert not media.exists(job.upload_key)


def wait_until_idle(app, hostname: str) -> None:
    """Ask the worker until it runs no task any more."""
    deadline = time.monotonic() + IDLE_LIMIT_SECONDS
    while time.monotonic() < deadline:
        active = (app.control.inspect(destination=[hostname], timeout=1.0).active() or {}).get(hostname)
        if active == []:
            return
        time.sleep(0.2)
    pytest.fail("the worker kept running tasks after the job was cancelled")


def test_split_parts_follow_the_worker_processes_when_not_configured(settings, worker):
    settings.GENREC_SPLIT_PARTS = 0

    with worker(concurrency=3):
        # A worker that has just started may miss the first short broadcast (then the fallback applies);
        # within a few tries it answers with its three processes.
        answers = []
        while len(answers) < 10 and (not answers or answers[-1] != 3):
            answers.append(runner.split_parts_wanted())

    assert answers[-1] == 3, answers
    assert set(answers) <= {runner.FALLBACK_SPLIT_PARTS, 3}
