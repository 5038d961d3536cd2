"""Eye alignment of detected faces, and the feature extractors of aligned faces."""

import math

import cv2
import numpy as np
import pytest
from skimage import data

from workers.pipeline.alignment import (
    AlignmentSettings,
    _working_image,
    align_face,
    eye_transform,
    find_eyes,
    plain_crop,
)
from workers.pipeline.config import FACE_SIZE
from workers.pipeline.features import feature_matrix, hog_features, lbp_codes, lbp_features, pixel_features
from workers.pipeline.training import NAMED_RECIPES
from workers.pipeline.types import Box

# The astronaut's face as the Haar cascade finds it with IMAGE_DETECTION.
ASTRONAUT_FACE = Box(177, 66, 95, 95)


def _astronaut_gray() -> np.ndarray:
    return cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2GRAY)


def _rotated(gray: np.ndarray, degrees: float) -> np.ndarray:
    centre = (ASTRONAUT_FACE.x + ASTRONAUT_FACE.w / 2, ASTRONAUT_FACE.y + ASTRONAUT_FACE.h / 2)
    matrix = cv2.getRotationMatrix2D(centre, degrees, 1.0)
    return cv2.warpAffine(gray, matrix, gray.shape[::-1], flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def _eye_angle(gray: np.ndarray, box: Box, settings: AlignmentSettings) -> float:
    work, left, top = _working_image(gray, box, settings)
    eyes = find_eyes(work, left, top, settings)
    assert eyes is not None, "no eye pair found"
    (lx, ly), (rx, ry) = eyes
    return math.degrees(math.atan2(ry - ly, rx - lx))


# Each eye searched for in its own half of the box: the default model's recipe's search.
HALVES = NAMED_RECIPES["splitlin-aligned-pixels50-hog-250"]["recipe"].preprocessing.alignment
SEARCHES = {
    "whole band, area": AlignmentSettings(),
    "whole band, linear": AlignmentSettings(work_interpolation="linear"),
    "halves, linear": HALVES,
}


@pytest.mark.parametrize("search", SEARCHES)
@pytest.mark.parametrize("degrees", [-12.0, 10.0])
def test_align_face_of_rotated_astronaut_levels_her_eyes(degrees, search):
    gray, settings = _astronaut_gray(), SEARCHES[search]
    upright = _eye_angle(gray, ASTRONAUT_FACE, settings)
    rotated = _rotated(gray, degrees)
    # OpenCV's positive angle turns the image counter-clockwise; eye boxes are coarse, so the measured
    # tilt follows the true one within a few degrees.
    tilt = _eye_angle(rotated, ASTRONAUT_FACE, settings)
    assert tilt == pytest.approx(upright - degrees, abs=6.0)
    aligned = align_face(rotated, ASTRONAUT_FACE, settings)
    assert aligned.eyes_found
    whole = Box(0, 0, FACE_SIZE, FACE_SIZE)
    residual = _eye_angle(aligned.face, whole, AlignmentSettings(margin=0.0, work_size=FACE_SIZE))
    assert abs(residual) <= 5.0
    assert abs(residual) < abs(tilt) / 2
    # Aligned faces of the upright and rotated photo agree far better than their plain crops do.
    reference = align_face(gray, ASTRONAUT_FACE, settings).face.astype(float)
    aligned_error = np.abs(aligned.face - reference).mean()
    plain_error = np.abs(plain_crop(rotated, ASTRONAUT_FACE).astype(float) - plain_crop(gray, ASTRONAUT_FACE)).mean()
    assert aligned_error < 0.6 * plain_error


@pytest.mark.parametrize("scale", [True, False])
def test_eye_transform_puts_found_eyes_level_at_their_places(scale):
    settings = AlignmentSettings(scale=scale)
    work, left, top = _working_image(_rotated(_astronaut_gray(), 8.0), ASTRONAUT_FACE, settings)
    eyes = find_eyes(work, left, top, settings)
    mapped = np.hstack([eyes, np.ones((2, 1))]) @ eye_transform(eyes, settings).T
    assert mapped[0, 1] == pytest.approx(mapped[1, 1])
    expected = np.array([settings.left_eye, settings.right_eye]) * FACE_SIZE
    assert mapped.mean(axis=0) == pytest.approx(expected.mean(axis=0))
    if scale:
        np.testing.assert_allclose(mapped, expected, atol=1e-9)
    else:
        spacing = np.hypot(*(eyes[1] - eyes[0])) * FACE_SIZE / settings.work_size
        assert mapped[1, 0] - mapped[0, 0] == pytest.approx(spacing)


@pytest.mark.parametrize("kind", ["blank", "noise"])
def test_align_face_without_eyes_falls_back_to_the_plain_crop(kind):
    rng = np.random.default_rng(0)
    gray = np.full((300, 300), 128, np.uint8) if kind == "blank" else rng.integers(0, 256, (300, 300), np.uint8)
    box = Box(60, 60, 150, 150)
    aligned = align_face(gray, box)
    assert not aligned.eyes_found
    np.testing.assert_array_equal(aligned.face, plain_crop(gray, box))


def test_align_face_is_deterministic_and_keeps_the_face_size():
    gray = _astronaut_gray()
    first, second = align_face(gray, ASTRONAUT_FACE), align_face(gray.copy(), ASTRONAUT_FACE)
    assert first.face.shape == (FACE_SIZE, FACE_SIZE) and first.face.dtype == np.uint8
    np.testing.assert_array_equal(first.face, second.face)


def test_align_face_of_box_at_image_edge_still_gives_a_face():
    gray = _astronaut_gray()[40:, 170:]
    aligned = align_face(gray, Box(7, 26, 95, 95))
    assert aligned.face.shape == (FACE_SIZE, FACE_SIZE)


@pytest.mark.parametrize("cascade", ["eye", "eyeglasses", "2splits"])
def test_every_eye_cascade_loads_and_finds_the_astronauts_eyes(cascade):
    assert align_face(_astronaut_gray(), ASTRONAUT_FACE, AlignmentSettings(cascade=cascade, work_size=80)).eyes_found


def _faces() -> np.ndarray:
    gray = _astronaut_gray()
    return np.stack([plain_crop(gray, ASTRONAUT_FACE), align_face(gray, ASTRONAUT_FACE).face])


def test_hog_and_lbp_features_have_fixed_sizes_per_face():
    faces = _faces()
    assert hog_features(faces).shape == (2, 2916)
    lbp = lbp_features(faces)
    assert lbp.shape == (2, 7 * 7 * 59)
    np.testing.assert_allclose(lbp.reshape(2, 49, 59).sum(axis=2), 1.0, rtol=1e-5)


def test_alignment_settings_refuse_an_unknown_interpolation():
    with pytest.raises(ValueError, match="work_interpolation"):
        AlignmentSettings(work_interpolation="cubic")


@pytest.mark.parametrize(
    "columns", [((0.1, 0.6), (0.5, 0.9)), ((0.5, 0.9), (0.1, 0.5)), ((0.3, 0.2), (0.5, 0.9)), ((0.1, 0.5), (0.5, 1.2))]
)
def test_alignment_settings_refuse_eye_columns_that_are_not_one_range_per_half(columns):
    with pytest.raises(ValueError, match="eye_columns"):
        AlignmentSettings(eye_columns=columns)


def test_searching_each_half_finds_the_eyes_the_whole_band_finds():
    gray = _astronaut_gray()
    whole_settings = AlignmentSettings(work_interpolation="linear")
    work, left, top = _working_image(gray, ASTRONAUT_FACE, whole_settings)
    whole = find_eyes(work, left, top, whole_settings)
    halves = find_eyes(work, left, top, HALVES)
    assert halves is not None and whole is not None
    # The same eyes, within the scan's step of two pixels of the working image.
    np.testing.assert_allclose(halves, whole, atol=3.0)
    # With no eye in the image-right half there is no pair: the left half's search never lends it a candidate.
    blanked = work.copy()
    blanked[:, round(left + 0.5 * HALVES.work_size) :] = 128
    assert find_eyes(blanked, left, top, HALVES) is None


def test_half_resolution_pixels_are_the_min_max_block_means_of_the_face():
    faces = _faces()
    half = feature_matrix(faces, ["pixels50"])
    assert half.shape == (2, 2500) and half.dtype == np.float32
    assert half.min(axis=1).tolist() == [0.0, 0.0] and half.max(axis=1).tolist() == [1.0, 1.0]
    blocks = faces.astype(np.float64).reshape(2, 50, 2, 50, 2).mean(axis=(2, 4)).reshape(2, -1)
    expected = (blocks - blocks.min(axis=1, keepdims=True)) / np.ptp(blocks, axis=1, keepdims=True)
    np.testing.assert_allclose(half, expected, atol=1e-6)
    flat = feature_matrix(np.full((1, FACE_SIZE, FACE_SIZE), 90, np.uint8), ["pixels50"])
    assert not flat.any()  # a flat face has no range to scale: zeros, not NaN


def test_lbp_of_a_flat_face_is_the_all_ones_pattern_only():
    codes = lbp_codes(np.full((1, FACE_SIZE, FACE_SIZE), 90, np.uint8))
    assert len(np.unique(codes)) == 1
    assert (lbp_features(np.full((1, FACE_SIZE, FACE_SIZE), 90, np.uint8)).reshape(49, 59).max(axis=1) == 1).all()


def test_features_of_a_batch_equal_the_features_of_each_face():
    faces = _faces()
    for kinds in (["hog"], ["lbp"], ["pixels", "hog", "lbp"], ["pixels50", "hog"]):
        batch = feature_matrix(faces, kinds)
        np.testing.assert_array_equal(batch[1], feature_matrix(faces[1:], kinds)[0])


def test_concatenated_features_give_each_block_the_same_weight():
    combined = feature_matrix(_faces(), ["pixels", "hog"])
    assert combined.shape == (2, 10000 + 2916)
    np.testing.assert_allclose(np.linalg.norm(combined[:, :10000], axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(combined[:, 10000:], axis=1), 1.0, rtol=1e-5)


def test_features_refuse_unknown_kinds_and_wrong_shapes():
    with pytest.raises(ValueError, match="unknown feature kinds"):
        feature_matrix(_faces(), ["sift"])
    with pytest.raises(ValueError, match="expected faces"):
        pixel_features(np.zeros((2, 50, 50), np.uint8))
