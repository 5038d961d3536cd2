"""Splitting a long video into frame ranges: boundaries, kept frames, part claims and the one merge."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from predictions import services
from predictions.models import AnalysedFrame, Job, JobPart
from predictions.validators import video_refusal
from tests.jobs_helpers import frames, make_job
from workers.pipeline.types import VideoInfo


@pytest.mark.parametrize(
    ("frame_count", "every_n_frames", "redetect_every", "parts"),
    [(95, 1, 10, 2), (95, 2, 10, 3), (1000, 3, 10, 4), (7, 1, 10, 4), (300, 1, 1, 7)],
)
def test_frame_ranges_cover_the_video_and_cut_only_where_detection_restarts(
    frame_count, every_n_frames, redetect_every, parts
):
    ranges = services.frame_ranges(
        frame_count=frame_count, every_n_frames=every_n_frames, redetect_every=redetect_every, parts=parts
    )

    assert ranges[0][0] == 0 and ranges[-1][1] == frame_count
    assert all(end == next_start for (_, end), (next_start, _) in zip(ranges, ranges[1:], strict=False))
    assert all(start % (every_n_frames * redetect_every) == 0 for start, _ in ranges)
    assert 1 <= len(ranges) <= parts


def test_frame_ranges_refuse_a_video_without_a_frame_count_which_the_upload_checks_refuse_too():
    with pytest.raises(ValueError):
        services.frame_ranges(frame_count=0, every_n_frames=1, redetect_every=10, parts=4)
    assert video_refusal(VideoInfo(frame_count=0, fps=25.0, width=64, height=64)) is not None


def test_planned_result_frames_spread_over_analysed_frames_first_and_last_included():
    kept = services.planned_result_frames(frame_count=100, every_n_frames=3, kept=5)

    assert kept[0] == 0 and kept[-1] == 99 and len(kept) == 5
    assert all(index % 3 == 0 for index in kept)
    assert services.planned_result_frames(frame_count=6, every_n_frames=2, kept=24) == [0, 2, 4]


@pytest.mark.django_db
def test_only_the_last_part_to_finish_merges(alice):
    job = services.job_claim(job_id=make_job(alice).pk)
    parts = services.job_plan_video(
        job=job, info=VideoInfo(frame_count=60, fps=25.0, width=64, height=64), parts=3, redetect_every=10
    )
    claimed = [services.part_claim(part_id=part.pk) for part in parts]

    merges = [services.job_part_done(part=part) for part in claimed]

    assert merges == [False, False, True]
    assert services.job_part_done(part=claimed[-1]) is False


@pytest.mark.django_db
def test_part_claim_is_refused_once_the_job_is_cancelled(alice):
    job = services.job_claim(job_id=make_job(alice).pk)
    parts = services.job_plan_video(
        job=job, info=VideoInfo(frame_count=60, fps=25.0, width=64, height=64), parts=2, redetect_every=10
    )
    services.job_cancel(job=job)

    assert services.part_claim(part_id=parts[0].pk) is None


@pytest.mark.django_db
def test_a_part_run_again_replaces_only_its_own_frames(alice, settings):
    job = services.job_claim(job_id=make_job(alice).pk)
    first, second = services.job_plan_video(
        job=job, info=VideoInfo(frame_count=40, fps=25.0, width=64, height=64), parts=2, redetect_every=10
    )
    first, second = services.part_claim(part_id=first.pk), services.part_claim(part_id=second.pk)
    services.job_record_frames(job=job, frames=frames(range(0, 20)), part=first)
    services.job_record_frames(job=job, frames=frames(range(20, 25), faces_per_frame=2), part=second)
    stale = timezone.now() - timedelta(seconds=settings.GENREC_STALE_AFTER_SECONDS + 1)
    JobPart.objects.filter(pk=second.pk).update(heartbeat_at=stale)

    rerun = services.part_claim(part_id=second.pk)

    assert rerun is not None and rerun.attempts == 2 and rerun.frames_done == 0
    job = Job.objects.get(pk=job.pk)
    assert (job.frames_done, job.faces_found) == (20, 20)
    assert list(AnalysedFrame.objects.filter(job=job).values_list("frame_index", flat=True)) == list(range(20))
