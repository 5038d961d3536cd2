"""Reads (predictions/selectors.py): by owner for people, by the job in hand for workers; the merged sequence."""

from __future__ import annotations

import pytest
from django.http import Http404

from predictions import media, selectors, services
from predictions.models import Job
from tests.jobs_helpers import frames, make_job
from workers.pipeline.types import VideoInfo

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _in_memory_channel_layer(settings):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}


def running_job(owner, **fields) -> Job:
    return services.job_claim(job_id=make_job(owner, **fields).pk)


def test_job_get_for_user_is_404_for_anyone_but_the_owner(alice, bob):
    job = make_job(alice)

    assert selectors.job_get_for_user(user=alice, public_id=job.public_id) == job
    with pytest.raises(Http404):
        selectors.job_get_for_user(user=bob, public_id=job.public_id)


def test_job_list_for_user_lists_only_the_owners_jobs_newest_first(alice, bob):
    first, second = make_job(alice), make_job(alice)
    make_job(bob)

    assert list(selectors.job_list_for_user(user=alice)) == [second, first]


def test_study_get_for_user_is_404_for_a_job_of_another_kind(alice):
    video = make_job(alice)
    study = make_job(alice, kind=Job.Kind.STUDY, upload=False)

    assert selectors.study_get_for_user(user=alice, public_id=study.public_id) == study
    with pytest.raises(Http404):
        selectors.study_get_for_user(user=alice, public_id=video.public_id)


def test_job_frame_results_merges_the_parts_in_frame_order_with_frames_without_faces(alice):
    job = running_job(alice)
    # Parts write in any order; the merged sequence is in frame order, empty frames included.
    services.job_record_frames(job=job, frames=frames([20, 21], faces_per_frame=2))
    services.job_record_frames(job=job, frames=frames([0]) + frames([1], faces_per_frame=0))

    merged = selectors.job_frame_results(job)

    assert [frame.index for frame in merged] == [0, 1, 20, 21]
    assert [len(frame.faces) for frame in merged] == [1, 0, 2, 2]
    assert merged[2].faces[1].box.x == 70 and merged[2].time_seconds == pytest.approx(0.8)
    assert all(face.track_id is None for frame in merged for face in frame.faces)  # tracking is the worker's step


def test_job_counters_and_job_is_running_read_the_database_now(alice):
    job = running_job(alice)
    [part] = services.job_plan_video(
        job=job, info=VideoInfo(frame_count=40, fps=25.0, width=64, height=64), parts=1, redetect_every=10
    )
    part = services.part_claim(part_id=part.pk)
    services.job_record_frames(job=job, frames=frames(range(3)), part=part)

    assert selectors.job_counters(job=job) == {"frames_done": 3, "frames_total": 40, "faces_found": 3}
    assert selectors.job_is_running(job=job) and selectors.job_is_running(job=job, part=part)
    services.job_cancel(job=job)
    assert not selectors.job_is_running(job=job) and not selectors.job_is_running(job=job, part=part)


def test_job_snapshot_lists_only_result_frames_already_written(alice):
    job = running_job(alice)
    Job.objects.filter(pk=job.pk).update(result_frames=[0, 5])
    job.refresh_from_db()
    media.save(job.result_frame_key(5), b"jpeg")

    snapshot = selectors.job_snapshot(job)

    assert snapshot["result_frames"] == [{"index": 5, "url": selectors.job_frame_url(job, 5)}]
    assert (
        selectors.job_frame_url(job, 5)
        == selectors.job_frame_url(job.public_id, 5)
        == f"/jobs/{job.public_id}/frames/5.jpg"
    )
    assert selectors.job_frame_key(job, 0) is None and selectors.job_frame_key(job, 7) is None


def test_job_result_rows_are_one_per_face_with_the_documented_columns(alice):
    job = running_job(alice)
    services.job_record_frames(job=job, frames=frames([0], faces_per_frame=2) + frames([1], faces_per_frame=0))

    rows = selectors.job_result_rows(job)
    document = selectors.job_result_document(job)

    assert [list(row) for row in rows] == [list(selectors.RESULT_COLUMNS)] * 2
    assert [(row["frame_index"], row["face_index"]) for row in rows] == [(0, 0), (0, 1)]
    assert document["detections"] == rows and "urls" not in document
    assert [point[0] for point in document["timeline"]] == [0, 1]
