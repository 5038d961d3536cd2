"""The tracker keeps one id per person; persons, fragments and labels; the summary's maths match numpy."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import trim_mean

from workers.pipeline.tracking import (
    MAX_JOIN_GAP,
    MAX_MISSED_FRAMES,
    PERSON_MIN_SECONDS,
    SMOOTH_HALF_WINDOW,
    appearance_descriptors,
    assign_tracks,
    block_means,
    robust_p_female,
    summarize_video,
)
from workers.pipeline.types import Box, Face, FrameResult, label_for

# Two made-up appearances: standardised descriptors far apart (and one a little off the first).
LOOK_A = tuple(float(v) for v in np.linspace(-1.7, 1.7, 25))
LOOK_A_NOISY = tuple(v + 0.1 * (-1) ** k for k, v in enumerate(LOOK_A))
LOOK_B = tuple(-v for v in LOOK_A)


def face(x: int, y: int, p_female: float = 0.8, size: int = 60, look: tuple[float, ...] | None = None) -> Face:
    return Face(Box(x, y, size, size), label_for(p_female), p_female, max(p_female, 1 - p_female), descriptor=look)


def frames_of(*faces_per_frame: list[Face], seconds_per_frame: float = 0.1) -> list[FrameResult]:
    return [
        FrameResult(index=2 * n, time_seconds=n * seconds_per_frame, faces=faces)
        for n, faces in enumerate(faces_per_frame)
    ]


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
        [face(125, 100), face(404, 50)],
    )
    assign_tracks(frames)
    assert ids(frames) == [[1], [1], [], [1, 2], [1, 2], [1, 2]]


def test_one_track_through_a_gap_of_a_few_frames():
    # Moving 15 px a frame with +-5 px of detection jitter, unseen for 6 frames: it comes back 105 px (almost two
    # face widths) from where it was last seen, where the smoothed motion says it should be.
    seen = [n for n in range(24) if not 8 <= n <= 13]
    frames = frames_of(*[[face(100 + 15 * n + 5 * (-1) ** n, 100)] if n in seen else [] for n in range(24)])
    assign_tracks(frames)
    assert {f.track_id for frame in frames for f in frame.faces} == {1}
    summary = summarize_video(frames)
    assert [person.frames_seen for person in summary.persons] == [len(seen)] and summary.fragments == []


def seen_three_times(x: int, look: tuple[float, ...] | None = None) -> list[list[Face]]:
    """Three frames of one face at one place: the fewest that confirm it (confirmation.CONFIRM_FRAMES)."""
    return [[face(x, 100, look=look)] for _ in range(3)]


def test_a_face_back_at_its_place_after_a_long_gap_keeps_its_id():
    gap = MAX_MISSED_FRAMES + 5
    frames = frames_of(*seen_three_times(100, LOOK_A), *[[] for _ in range(gap)], *seen_three_times(104, LOOK_A_NOISY))
    assign_tracks(frames)
    assert ids(frames) == [[1]] * 3 + [[]] * gap + [[1]] * 3


def test_another_face_at_the_same_place_after_a_gap_gets_a_new_id():
    gap = MAX_MISSED_FRAMES + 5
    frames = frames_of(*seen_three_times(100, LOOK_A), *[[] for _ in range(gap)], *seen_three_times(104, LOOK_B))
    assign_tracks(frames)
    assert ids(frames) == [[1]] * 3 + [[]] * gap + [[2]] * 3


def test_a_face_gone_for_longer_than_the_join_gap_starts_a_new_track():
    frames = frames_of(*seen_three_times(100), *[[] for _ in range(MAX_JOIN_GAP + 1)], *seen_three_times(100))
    assign_tracks(frames)
    assert frames[0].faces[0].track_id == 1
    assert frames[-1].faces[0].track_id == 2


def test_two_people_crossing_keep_their_identities_when_one_hides_behind_the_other():
    # A walks right, B walks left at the same height; while they overlap only B (in front) is found.
    frames = []
    for n in range(16):
        a, b = face(20 + 25 * n, 100, 0.9, look=LOOK_A), face(395 - 25 * n, 100, 0.1, look=LOOK_B)
        frames.append([b] if 6 <= n <= 9 else [a, b])
    frames = frames_of(*frames)
    assign_tracks(frames)
    for frame in frames:
        for f in frame.faces:
            assert f.track_id == (1 if f.descriptor == LOOK_A else 2)
    summary = summarize_video(frames)
    assert [(person.track_id, person.label) for person in summary.persons] == [(1, "female"), (2, "male")]


def test_two_people_swapping_places_between_two_frames_keep_their_identities_by_appearance():
    # Side by side, then (between two analysed frames) each where the other was: position alone would swap them.
    before = [[face(100, 100, 0.9, look=LOOK_A), face(160, 100, 0.1, look=LOOK_B)] for _ in range(5)]
    after = [[face(100, 100, 0.1, look=LOOK_B), face(160, 100, 0.9, look=LOOK_A_NOISY)] for _ in range(5)]
    frames = frames_of(*before, *after)
    assign_tracks(frames)
    for frame in frames:
        assert [f.track_id for f in frame.faces] == [1 if f.descriptor != LOOK_B else 2 for f in frame.faces]


def test_a_one_frame_false_face_is_not_a_person():
    frames = frames_of(
        *[[face(100, 100, 0.2)] + ([face(400, 300, 0.99, size=40)] if n == 7 else []) for n in range(20)]
    )
    assign_tracks(frames)
    summary = summarize_video(frames)
    assert [(person.frames_seen, person.is_person) for person in summary.persons] == [(20, True)]
    # Never seen again at its place, it is not confirmed: no track at all, not even a fragment.
    assert summary.fragments == [] and summary.unconfirmed_faces == 1
    assert (frames[7].faces[1].track_id, frames[7].faces[1].p_female_smoothed) == (None, None)
    assert summary.main_track_id == summary.persons[0].track_id
    assert summary.label == "male"


def test_a_false_face_found_now_and_then_at_one_place_is_not_a_person():
    # Found at one spot every fifth frame (as a whole-frame search can): never confirmed, never a track.
    frames = frames_of(*[[face(100, 100, 0.3)] + ([face(500, 50, 0.9)] if n % 5 == 0 else []) for n in range(40)])
    assign_tracks(frames)
    summary = summarize_video(frames)
    assert len(summary.persons) == 1 and summary.fragments == [] and summary.unconfirmed_faces == 8


def test_a_false_face_found_in_short_bursts_at_one_place_is_a_fragment():
    # Three frames in a row (0.2 s) every tenth frame: confirmed, joined into one track, never long enough to be one.
    bursts = [n for n in range(40) if n % 10 < 3]
    frames = frames_of(*[[face(100, 100, 0.3)] + ([face(500, 50, 0.9)] if n in bursts else []) for n in range(40)])
    assign_tracks(frames)
    summary = summarize_video(frames)
    assert len(summary.persons) == 1 and summary.unconfirmed_faces == 0
    assert [(fragment.frames_seen, fragment.is_person) for fragment in summary.fragments] == [(len(bursts), False)]


def test_a_face_in_every_frame_of_a_two_frame_video_is_confirmed():
    frames = frames_of([face(100, 100)], [face(102, 100)])
    assign_tracks(frames)
    assert ids(frames) == [[1], [1]]


def test_a_short_glimpse_is_not_a_person_but_the_same_frames_further_apart_are():
    glimpse = int(PERSON_MIN_SECONDS / 0.1)  # consecutive frames 0.1 s apart, spanning just under the minimum
    short = summarize_video(frames_with_tracks(frames_of(*[[face(0, 0)] for _ in range(glimpse)])))
    spread = summarize_video(
        frames_with_tracks(frames_of(*[[face(0, 0)] for _ in range(glimpse)], seconds_per_frame=1))
    )
    assert (len(short.persons), len(short.fragments)) == (0, 1)
    assert (len(spread.persons), len(spread.fragments)) == (1, 0)
    assert short.label == "female"  # a video with only fragments still takes the longest one's label


def frames_with_tracks(frames: list[FrameResult]) -> list[FrameResult]:
    assign_tracks(frames)
    return frames


def test_the_robust_label_resists_outliers_that_sway_the_mean():
    # 16 faces at 0.65 and 6 outliers at 0.02 (a hand, a blurred frame): the mean says male, the person is female.
    p = np.array([0.65] * 8 + [0.02] * 6 + [0.65] * 8)
    summary = summarize_video(frames_with_tracks(frames_of(*[[face(100, 100, value)] for value in p])))
    (person,) = summary.persons
    log_odds = np.log(p / (1 - p))
    assert p.mean() < 0.5 and person.mean_p_female == pytest.approx(p.mean())
    assert person.p_female == pytest.approx(1 / (1 + np.exp(-trim_mean(log_odds, 0.25))))
    assert person.label == "female" and summary.label == "female"
    assert person.confidence == pytest.approx(person.p_female)
    assert person.p_female_low < person.p_female < person.p_female_high


def test_the_interval_narrows_with_more_frames():
    rng = np.random.default_rng(0)
    few = robust_p_female(np.clip(rng.normal(0.7, 0.1, 6), 0, 1))
    many = robust_p_female(np.clip(rng.normal(0.7, 0.1, 200), 0, 1))
    assert many[2] - many[1] < few[2] - few[1]
    assert robust_p_female([0.9]) == (pytest.approx(0.9), 0.0, 1.0)


def test_the_video_label_is_the_label_of_the_person_on_screen_longest():
    # A: 30 frames, unsure but female; B: 25 frames, very sure male. The mean over all faces would say male.
    frames = frames_of(*[[face(100, 100, 0.55)] + ([face(400, 100, 0.05)] if n < 25 else []) for n in range(30)])
    summary = summarize_video(frames_with_tracks(frames))
    assert summary.mean_p_female < 0.5
    assert summary.label == "female" and summary.main_track_id == 1
    assert summary.p_female == pytest.approx(summary.persons[0].p_female)


def test_the_smoothed_curve_averages_log_odds_over_the_window():
    p = [0.3, 0.7] * 15
    frames = frames_with_tracks(frames_of(*[[face(100, 100, value)] for value in p]))
    smoothed = [frame.faces[0].p_female_smoothed for frame in frames]
    middle = 15
    window = np.array(p[middle - SMOOTH_HALF_WINDOW : middle + SMOOTH_HALF_WINDOW + 1])
    expected = 1 / (1 + np.exp(-np.mean(np.log(window / (1 - window)))))
    assert smoothed[middle] == pytest.approx(expected, abs=1e-4)
    raw_steps = np.abs(np.diff(p)).mean()
    assert np.abs(np.diff(smoothed)).mean() < raw_steps / 4


def test_descriptors_are_standardised_block_means_the_same_from_a_thumbnail():
    vectors = np.random.default_rng(1).random((3, 100 * 100))
    descriptors = np.array(appearance_descriptors(vectors))
    assert descriptors.shape == (3, 25)
    assert np.allclose(descriptors.mean(axis=1), 0, atol=1e-3) and np.allclose(descriptors.std(axis=1), 1, atol=1e-3)
    from_thumbnails = np.array(appearance_descriptors(block_means(vectors, 20)))
    assert np.abs(from_thumbnails - descriptors).max() <= 0.0011


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
    tracks = summary.persons + summary.fragments
    person = next(track for track in tracks if track.first_frame == 0 and track.frames_seen == 4)
    assert person.mean_p_female == pytest.approx(left.mean())
    assert person.label == "female"
    assert person.std_confidence == pytest.approx(left.std())
    assert person.last_frame == 8
    # The face at x=200 (frames 0 and 3) is not confirmed; the other, never seen in three frames in a row, is a
    # fragment, not a person, and still labels the video.
    assert (len(summary.persons), len(summary.fragments), summary.unconfirmed_faces) == (0, 1, 2)


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
