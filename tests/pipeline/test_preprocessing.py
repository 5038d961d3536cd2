"""The shared preprocessing: one face becomes a (10000,) vector scaled to [0, 1]."""

import cv2
import numpy as np
import pytest

from workers.pipeline.alignment import AlignmentSettings
from workers.pipeline.features import pixel_features
from workers.pipeline.preprocessing import (
    STUDY_PREPROCESSING,
    Preprocessing,
    face_image,
    face_vector,
    face_vectors,
    prepared_face,
)
from workers.pipeline.types import Box


def _gradient_image() -> np.ndarray:
    rows, columns = np.mgrid[0:240, 0:320]
    return ((rows + columns) % 200 + 30).astype(np.uint8)


def test_face_vector_has_10000_values_scaled_to_unit_range():
    vector = face_vector(_gradient_image(), Box(40, 30, 150, 150))
    assert vector.shape == (10000,)
    assert vector.dtype == np.float32
    assert vector.min() == 0.0
    assert vector.max() == 1.0


def test_face_vector_is_independent_of_brightness_and_contrast():
    image = _gradient_image()
    darker = (image.astype(np.float32) * 0.5 + 10).astype(np.uint8)
    box = Box(10, 10, 100, 100)
    assert np.abs(face_vector(image, box) - face_vector(darker, box)).max() < 0.02


def test_face_vector_of_flat_crop_is_zeros():
    flat = np.full((50, 50), 128, dtype=np.uint8)
    assert not face_vector(flat, Box(0, 0, 50, 50)).any()


def test_face_vector_of_empty_box_is_refused():
    with pytest.raises(ValueError, match="empty face crop"):
        face_vector(_gradient_image(), Box(400, 400, 10, 10))


def test_face_vectors_stacks_one_row_per_box_and_handles_none():
    image = _gradient_image()
    boxes = [Box(0, 0, 60, 60), Box(100, 50, 80, 80)]
    matrix = face_vectors(image, boxes)
    assert matrix.shape == (2, 10000)
    np.testing.assert_array_equal(matrix[1], face_vector(image, boxes[1]))
    assert face_vectors(image, []).shape == (0, 10000)


def _astronaut() -> tuple[np.ndarray, Box]:
    from skimage import data

    return cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2GRAY), Box(177, 66, 95, 95)


def test_study_preprocessing_is_the_study_recipe_bit_for_bit():
    gray, box = _astronaut()
    crop = cv2.resize(gray[box.y : box.y + box.h, box.x : box.x + box.w], (100, 100), interpolation=cv2.INTER_AREA)
    crop = crop.astype(np.float32)
    expected = ((crop - crop.min()) / (crop.max() - crop.min())).reshape(-1)
    np.testing.assert_array_equal(face_vector(gray, box), expected)
    np.testing.assert_array_equal(face_vector(gray, box, STUDY_PREPROCESSING), expected)


@pytest.mark.parametrize("photometric", ["none", "equalize", "clahe"])
def test_aligned_vector_is_the_same_from_training_and_inference_paths(photometric):
    gray, box = _astronaut()
    preprocessing = Preprocessing(alignment=AlignmentSettings(), photometric=photometric)
    # Training vectorises one padded image at a time; inference stacks every face of a frame; the model's
    # batched features start from the same uint8 faces.
    single = face_vector(gray, box, preprocessing)
    batched = face_vectors(gray, [Box(0, 0, 80, 80), box], preprocessing)[1]
    from_faces = pixel_features(face_image(gray, box, preprocessing)[None])[0]
    np.testing.assert_array_equal(single, batched)
    np.testing.assert_array_equal(single, from_faces)
    assert prepared_face(gray, box, preprocessing).eyes_found
    assert not np.array_equal(single, face_vector(gray, box))


def test_photometric_normalisation_spreads_a_dim_face_over_the_full_range():
    gray, box = _astronaut()
    dim = (gray // 4).astype(np.uint8)
    for photometric in ("equalize", "clahe"):
        face = face_image(dim, box, Preprocessing(photometric=photometric))
        assert int(face.max()) - int(face.min()) > 2 * (int(dim.max()) - int(dim.min())) // 3
    with pytest.raises(ValueError, match="unknown photometric"):
        Preprocessing(photometric="gamma")
