"""A detection is confirmed by its neighbours: three sightings at one place, one missed frame bridged."""

from __future__ import annotations

from workers.pipeline.confirmation import CONFIRM_FRAMES, CONFIRM_GAP, confirmed_frames, unconfirmed_faces
from workers.pipeline.types import Box, Face, FrameResult


def face(x: int, size: int = 60) -> Face:
    return Face(Box(x, 100, size, size), "female", 0.8, 0.8, track_id=9, p_female_smoothed=0.7)


def frames_at(positions: list[int], count: int, x: int = 100) -> list[FrameResult]:
    """``count`` analysed frames with a face at ``x`` (drifting 3 px a frame) in the frames at ``positions``."""
    return [FrameResult(n, n / 25, [face(x + 3 * n)] if n in positions else []) for n in range(count)]


def test_three_sightings_in_a_row_are_confirmed_and_two_are_not():
    assert CONFIRM_FRAMES == 3
    assert unconfirmed_faces(frames_at([2, 3, 4], 10)) == set()
    assert unconfirmed_faces(frames_at([2, 3], 10)) == {(2, 0), (3, 0)}


def test_a_missed_frame_does_not_break_the_chain_but_a_longer_gap_does():
    bridged = [0, CONFIRM_GAP, 2 * CONFIRM_GAP]
    broken = [0, CONFIRM_GAP + 1, 2 * (CONFIRM_GAP + 1)]
    assert unconfirmed_faces(frames_at(bridged, 10)) == set()
    assert unconfirmed_faces(frames_at(broken, 10)) == {(position, 0) for position in broken}


def test_a_face_elsewhere_does_not_confirm_a_false_one():
    # A person in every frame; one false face beside them in frame 5, another elsewhere in frame 6.
    frames = frames_at(list(range(10)), 10)
    frames[5].faces.append(face(400))
    frames[6].faces.append(face(700))
    assert unconfirmed_faces(frames) == {(5, 1), (6, 1)}


def test_a_video_shorter_than_the_chain_confirms_a_face_seen_in_every_frame():
    assert unconfirmed_faces(frames_at([0, 1], 2)) == set()
    assert unconfirmed_faces(frames_at([1], 2)) == {(1, 0)}


def test_confirmed_frames_keep_the_same_faces_and_clear_the_tracks_of_the_others():
    frames = frames_at([0, 1, 2, 6], 8)
    kept = confirmed_frames(frames)
    assert [len(frame.faces) for frame in kept] == [1, 1, 1, 0, 0, 0, 0, 0]
    assert kept[0].faces[0] is frames[0].faces[0] and frames[0].faces[0].track_id == 9
    assert (frames[6].faces[0].track_id, frames[6].faces[0].p_female_smoothed) == (None, None)
