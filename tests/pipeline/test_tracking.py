"""The tracker gives stable ids; the video summary's maths match numpy computed here independently."""

from __future__ import annotations

import numpy as np
import pytest

from workers.pipeline.tracking import MAX_MISSED_FRAMES, assign_tracks, summarize_video
from workers.pipeline.types import Box, Face, FrameResult


def face(x: int, y: int, p_female: float = 0.8, size: int = 60) -> Face:
    return Face(Box(x, y, size, size), "female" if p_female >= 0.5 else "male", p_female, max(p_female, 1 - p_female))


def frames_of(*faces_per_frame: list[Face]) -> list[FrameResult]:
    return [FrameResult(index=2 * n, time_seconds=n / 10, faces=faces) for n, faces in enumerate(faces_per_frame)]


def ids(frames: list[FrameResult]) -> list[list[int | None]]:
    return [[f.track_id for f in frame.faces] for frame in frames]


def test_two_faces_crossing_keep_their_ids():
    # A moves right, B moves left on nearly the same line; they overlap mid-way and swap sides.
    steps = range(11)
    frames = frames_of(*[[face(20 + 30 * n, 100), face(310 - 30 * n, 110)] for n in steps])
    assign_tracks(frames)
    first_ids = {f.box.x: f.track_id for f in frames[0].faces}
    a_id, b_id = first_ids[20], first_ids[310]
    assert a_id != b_id
    for n, frame in enumerate(frames):
        by_x = {f.box.x: f.track_id for f in frame.faces}
        assert by_x[20 + 30 * n] == a_id
        assert by_x[310 - 30 * n] == b_id


def test_a_face_missing_briefly_keeps_its_id_and_a_late_face_gets_a_new_one():
    frames = frames_of(
        [face(100, 100)],
        [face(105, 100)],
        [],
        [face(115, 100), face(400, 50)],
        [face(120, 100), face(402, 50)],
    )
    assign_tracks(frames)
    assert ids(frames) == [[1], [1], [], [1, 2], [1, 2]]


def test_a_face_gone_for_longer_than_the_gap_starts_a_new_track():
    frames = frames_of([face(100, 100)], *[[] for _ in range(MAX_MISSED_FRAMES + 1)], [face(100, 100)])
    assign_tracks(frames)
    assert frames[0].faces[0].track_id == 1
    assert frames[-1].faces[0].track_id == 2


def test_assign_tracks_is_a_pure_function_of_the_frames():
    def make():
        return frames_of(*[[face(10 * n, 50), face(300, 10 * n), face(500 - 5 * n, 300)] for n in range(8)])

    first, second = make(), make()
    assign_tracks(first)
    assign_tracks(second)
    assign_tracks(second)  # rerunning after a merge must not change anything
    assert ids(first) == ids(second)


def test_summary_matches_numpy():
    p_values = [[0.9, 0.2], [0.7], [], [0.4, 0.95], [0.55]]
    frames = frames_of(*[[face(200 * k, 100, p) for k, p in enumerate(ps)] for ps in p_values])
    assign_tracks(frames)
    summary = summarize_video(frames, frames_analyzed=6)

    p = np.array([v for ps in p_values for v in ps])
    assert summary.mean_p_female == pytest.approx(p.mean())
    assert summary.label == "female"  # mean 0.616
    assert summary.mean_confidence == pytest.approx(p.mean())
    assert summary.std_confidence == pytest.approx(np.std(p, ddof=0))
    assert (summary.faces, summary.frames_analyzed, summary.frames_with_faces, summary.frames_without_faces) == (
        6,
        6,
        4,
        2,
    )
    female = p[p >= 0.5]
    male_confidence = 1 - p[p < 0.5]
    assert summary.per_label["female"].count == female.size
    assert summary.per_label["female"].mean_confidence == pytest.approx(female.mean())
    assert summary.per_label["female"].std_confidence == pytest.approx(female.std())
    assert summary.per_label["male"].mean_confidence == pytest.approx(male_confidence.mean())
    assert summary.per_label["male"].std_confidence == pytest.approx(male_confidence.std())

    left = np.array([0.9, 0.7, 0.4, 0.55])  # the face at x=0 in frames 0, 1, 3, 4
    person = next(person for person in summary.persons if person.first_frame == 0 and person.frames_seen == 4)
    assert person.mean_p_female == pytest.approx(left.mean())
    assert person.label == "female"
    assert person.std_confidence == pytest.approx(left.std())
    assert person.last_frame == 8
    assert len(summary.persons) == 2


def test_summary_of_a_male_video_uses_male_confidence():
    p = np.array([0.1, 0.3, 0.6])
    summary = summarize_video(frames_of(*[[face(0, 0, v)] for v in p]))
    assert summary.label == "male"
    assert summary.mean_confidence == pytest.approx((1 - p).mean())
    assert summary.std_confidence == pytest.approx((1 - p).std())


def test_summary_without_faces_has_no_label():
    summary = summarize_video(frames_of([], []))
    assert summary.label is None and summary.mean_confidence is None and summary.std_confidence is None
    assert (summary.frames_analyzed, summary.frames_without_faces, summary.persons) == (2, 2, [])
