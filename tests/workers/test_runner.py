"""The job runner (workers/runner.py, workers/run_control.py): the worker finishes the job, services only record."""

from __future__ import annotations

import pytest

from predictions import services
from predictions.models import Detection, Job
from tests.jobs_helpers import frames, make_job, train_tiny_model, write_face_clip
from workers import runner, tasks
from workers.pipeline.errors import AnalysisCancelled
from workers.run_control import CANCEL_CHECK_SECONDS, RunControl

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _worker_settings(settings, tmp_path_factory):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    settings.GENREC_MODEL_DIR = train_tiny_model(tmp_path_factory.mktemp("model"))


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


def test_finish_job_tracks_over_the_merged_parts_and_sums_up_once(alice):
    job = services.job_claim(job_id=make_job(alice).pk)
    # Two parts' rows, written out of order: one face in frames 0-11 and 13-14 (long enough to be a person,
    # tracking.PERSON_MIN_SECONDS at 25 frames a second), a frame without faces between.
    services.job_record_frames(job=job, frames=frames([12], faces_per_frame=0) + frames([13, 14]))
    services.job_record_frames(job=job, frames=frames(range(12)))

    assert runner.finish_job(job) is True
    assert runner.finish_job(job) is False  # the job already ended: nothing is written twice

    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED
    assert set(Detection.objects.filter(job=job).values_list("track_id", flat=True)) == {1}
    assert job.summary["frames_analyzed"] == 15 and job.summary["frames_without_faces"] == 1
    assert job.summary["label"] == "female" and [person["track_id"] for person in job.summary["persons"]] == [1]
    assert job.frames_total == 15 and job.progress_percent == 100


def test_a_video_job_is_planned_from_what_the_upload_checks_learned(alice, tmp_path):
    clip = write_face_clip(tmp_path / "clip.mp4", frames=12)
    # Were the worker to probe the file again it would find 12 frames; the row says 6, and the row is used.
    job = make_job(alice, upload_bytes=clip.read_bytes(), frame_count=6, frames_total=6, width=360, height=280)

    tasks.process_job(job.pk)

    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert job.result_frames == [0, 1, 2, 3, 4, 5]  # planned from 6 frames
    assert job.frames_total == 12  # the last part still reads to the real end of the stream


def test_run_control_asks_the_database_at_most_once_a_second(alice):
    job = services.job_claim(job_id=make_job(alice).pk)
    clock, asked = Clock(), []

    def is_running() -> bool:
        asked.append(clock.now)
        return Job.objects.filter(pk=job.pk, status=Job.Status.RUNNING).exists()

    control = RunControl(job, is_running=is_running, clock=clock)
    services.job_cancel(job=job)

    assert control.should_stop() is False  # not asked yet: less than a second since the start
    clock.now += CANCEL_CHECK_SECONDS
    assert control.should_stop() is True
    clock.now += 5 * CANCEL_CHECK_SECONDS
    assert control.should_stop() is True
    assert asked == [51.0]  # once stopped, it stays stopped without asking again
    with pytest.raises(AnalysisCancelled):
        control.stop()


def test_run_control_shares_the_event_rate_among_the_parts_of_a_job(alice, settings):
    settings.GENREC_PROGRESS_EVENTS_PER_SECOND = 10.0
    job = make_job(alice)

    single = RunControl(job, is_running=lambda: True)
    one_of_four = RunControl(job, is_running=lambda: True, share=4)

    assert single.throttle.min_interval == pytest.approx(0.1)
    assert one_of_four.throttle.min_interval == pytest.approx(0.4)
