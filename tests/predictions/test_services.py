"""Job services: create, claim, record, finish, cancel, delete, retry and the split bookkeeping."""

from __future__ import annotations

import time
from dataclasses import asdict
from datetime import timedelta

import pytest
from django.utils import timezone

from predictions import media, selectors, services
from predictions.models import AnalysedFrame, Detection, Job, JobPart
from tests.jobs_helpers import frames, make_job, validated_upload, write_face_clip, write_face_image
from workers.pipeline.tracking import summarize_video
from workers.pipeline.types import VideoInfo

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _in_memory_channel_layer(settings):
    """Events sent by services go to a process-local layer here; the Redis one is tested in tests/integration."""
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}


def running_job(owner, **fields) -> Job:
    job = make_job(owner, **fields)
    return services.job_claim(job_id=job.pk)


def test_job_create_names_the_file_by_uuid_and_content_type_not_by_the_user(alice, tmp_path, media_backend):
    clip = write_face_clip(tmp_path / "clip.mp4", frames=12)
    upload = validated_upload(clip, name="../../holiday.exe")

    job = services.job_create(owner=alice, upload=upload, every_n_frames=5)

    assert job.status == Job.Status.PENDING
    assert job.upload_name.endswith(".mp4") and "holiday" not in job.upload_name
    assert job.upload_key == f"uploads/{job.upload_name}"
    assert media.read_bytes(job.upload_key) == clip.read_bytes()
    assert job.original_name == "holiday.exe"
    assert (job.frames_total, job.width, job.height) == (3, 360, 280)


def test_job_create_for_an_image_analyses_one_frame(alice, tmp_path):
    upload = validated_upload(write_face_image(tmp_path / "face.jpg"))

    job = services.job_create(owner=alice, upload=upload, every_n_frames=7)

    assert (job.kind, job.every_n_frames, job.frames_total) == (Job.Kind.IMAGE, 1, 1)
    assert job.upload_name.endswith(".jpg")


def test_job_create_that_fails_leaves_neither_row_nor_file(tmp_path, media_backend):
    upload = validated_upload(write_face_image(tmp_path / "face.jpg"))

    with pytest.raises(Exception):  # noqa: B017 - whatever the database raises for a missing owner
        services.job_create(owner=None, upload=upload, every_n_frames=1)

    assert Job.objects.count() == 0
    assert list(media.walk("uploads")) == []


def test_job_create_queues_the_task_only_after_commit(alice, tmp_path, django_capture_on_commit_callbacks):
    upload = validated_upload(write_face_image(tmp_path / "face.jpg"))

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        job = services.job_create(owner=alice, upload=upload, every_n_frames=1)

    assert [callback.args for callback in callbacks] == [(job.pk,)]


def test_job_claim_is_exclusive(alice):
    job = make_job(alice)

    first = services.job_claim(job_id=job.pk)
    second = services.job_claim(job_id=job.pk)

    assert first is not None and first.status == Job.Status.RUNNING and first.attempts == 1
    assert second is None


def test_job_claim_takes_over_a_stale_run_and_forgets_what_it_wrote(alice, settings):
    job = running_job(alice)
    services.job_record_frames(job=job, frames=frames(range(5)))
    Job.objects.filter(pk=job.pk).update(
        heartbeat_at=timezone.now() - timedelta(seconds=settings.GENREC_STALE_AFTER_SECONDS + 1)
    )

    again = services.job_claim(job_id=job.pk)

    assert again is not None and again.attempts == 2
    assert (again.frames_done, again.faces_found) == (0, 0)
    assert not Detection.objects.filter(job=job).exists()
    assert not AnalysedFrame.objects.filter(job=job).exists()


def test_job_claim_leaves_a_live_run_alone(alice):
    job = running_job(alice)

    assert services.job_claim(job_id=job.pk) is None


def test_job_record_frames_keeps_frames_without_faces_in_the_timeline(alice):
    job = running_job(alice)

    counters = services.job_record_frames(
        job=job, frames=frames([0, 1], faces_per_frame=2) + frames([2], faces_per_frame=0)
    )

    assert counters == {"frames_done": 3, "frames_total": 40, "faces_found": 4}
    timeline = selectors.job_snapshot(Job.objects.get(pk=job.pk))["timeline"]
    assert [point[0] for point in timeline] == [0, 1, 2]
    assert timeline[2][2:] == [None, 0]
    assert timeline[0][3] == 2


def test_job_record_frames_writes_nothing_once_the_job_is_cancelled(alice):
    job = running_job(alice)
    services.job_cancel(job=job)

    assert services.job_record_frames(job=job, frames=frames(range(3))) is None
    assert not AnalysedFrame.objects.filter(job=job).exists()
    assert Job.objects.get(pk=job.pk).frames_done == 0


def test_job_finish_records_the_summary_and_track_ids_it_is_given(alice):
    job = running_job(alice)
    services.job_record_frames(job=job, frames=frames([0, 1], faces_per_frame=2) + frames([2], faces_per_frame=0))
    sequence = selectors.job_frame_results(job)
    summary = summarize_video(sequence, len(sequence))
    given = {(0, 0): 7, (0, 1): 9, (1, 0): 7}  # (1, 1) is left out on purpose: it must end up without a track
    smoothed = {(0, 0): 0.25, (0, 1): 0.5, (1, 0): 0.75}

    assert services.job_finish(job=job, summary=summary, track_ids=given, p_female_smoothed=smoothed) is True
    assert services.job_finish(job=job, summary=summary, track_ids=given) is False

    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED and job.finished_at is not None
    rows = job.detections.values_list("frame_index", "face_index", "track_id", "p_female_smoothed")
    assert {(frame, face): track for frame, face, track, _ in rows} == {**given, (1, 1): None}
    assert {(frame, face): value for frame, face, _, value in rows} == {**smoothed, (1, 1): None}
    assert job.summary == asdict(summary)
    assert job.frames_total == 3 and job.progress_percent == 100


def test_job_finish_writes_the_tracks_of_3000_detections_in_a_fraction_of_a_second(alice):
    job = running_job(alice)
    services.job_record_frames(job=job, frames=frames(range(1000), faces_per_frame=3))
    sequence = selectors.job_frame_results(job)
    summary = summarize_video(sequence, len(sequence))
    keys = [(frame.index, number) for frame in sequence for number in range(len(frame.faces))]

    started = time.perf_counter()
    services.job_finish(
        job=job,
        summary=summary,
        track_ids={key: key[1] + 1 for key in keys},
        p_female_smoothed={key: key[0] / 1000 for key in keys},
    )
    seconds = time.perf_counter() - started

    assert len(keys) == 3000
    assert job.detections.filter(track_id=2).count() == 1000
    assert job.detections.get(frame_index=500, face_index=0).p_female_smoothed == 0.5
    assert seconds < 1.5, f"writing 3,000 tracks took {seconds:.2f} s"


def test_recorded_descriptors_come_back_with_the_frames(alice):
    job = running_job(alice)
    recorded = frames([0, 1], faces_per_frame=2)
    for frame in recorded:
        for number, face in enumerate(frame.faces):
            face.descriptor = tuple(round(0.125 * (frame.index + number + k), 3) for k in range(25))
    services.job_record_frames(job=job, frames=recorded)

    loaded = selectors.job_frame_results(job)

    assert [[face.descriptor for face in frame.faces] for frame in loaded] == [
        [face.descriptor for face in frame.faces] for frame in recorded
    ]


def test_job_create_keeps_what_the_checks_learned_about_the_video(alice, tmp_path):
    upload = validated_upload(write_face_clip(tmp_path / "clip.mp4", frames=12))

    job = services.job_create(owner=alice, upload=upload, every_n_frames=1)

    assert job.video_info == upload.info
    assert (job.frame_count, job.video_info.fps) == (12, upload.fps)


def test_job_cancel_deletes_the_upload_and_stops_every_part(alice, django_capture_on_commit_callbacks):
    job = running_job(alice)
    services.job_plan_video(
        job=job, info=VideoInfo(frame_count=40, fps=25.0, width=64, height=64), parts=2, redetect_every=10
    )

    with django_capture_on_commit_callbacks(execute=True):
        assert services.job_cancel(job=job) is True

    job.refresh_from_db()
    assert job.status == Job.Status.CANCELLED
    assert not media.exists(job.upload_key)
    assert set(job.parts.values_list("status", flat=True)) == {JobPart.Status.FAILED}
    assert services.job_cancel(job=job) is False


def test_job_delete_removes_row_upload_and_result_frames(alice, media_backend):
    job = running_job(alice)
    media.save(job.result_frame_key(0), b"jpeg")

    services.job_delete(job=job)

    assert not Job.objects.filter(pk=job.pk).exists()
    assert not media.exists(job.upload_key) and list(media.walk(job.results_prefix)) == []


def test_job_retry_requeues_an_ended_job_whose_upload_is_still_there(alice, django_capture_on_commit_callbacks):
    job = running_job(alice)
    services.job_record_frames(job=job, frames=frames(range(3)))
    services.job_fail(job=job, error="boom")  # on_commit not run here: the upload stays

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert services.job_retry(job=job) is True

    job.refresh_from_db()
    assert (job.status, job.error, job.attempts, job.frames_done) == (Job.Status.PENDING, "", 0, 0)
    assert not Detection.objects.filter(job=job).exists()
    assert len(callbacks) == 1


def test_job_retry_refuses_a_job_whose_upload_is_gone(alice):
    job = running_job(alice)
    services.job_fail(job=job, error="boom")
    media.delete(job.upload_key)

    assert services.job_retry(job=job) is False
    assert Job.objects.get(pk=job.pk).status == Job.Status.FAILED


def test_job_retry_refuses_an_active_job(alice):
    job = running_job(alice)

    assert services.job_retry(job=job) is False
