"""The shared preprocessing: one face becomes a (10000,) vector scaled to [0, 1]."""

import numpy as np
import pytest

from workers.pipeline.preprocessing import face_vector, face_vectors
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
