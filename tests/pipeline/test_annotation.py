"""Annotation draws a box and a caption in the label's colour, inside the image, on a copy."""

from __future__ import annotations

import numpy as np
import pytest

from workers.pipeline.analysis import face_from_p_female
from workers.pipeline.annotation import LABEL_COLOURS_BGR, annotate, face_caption
from workers.pipeline.types import Box, Face


def make_face(box: Box, p_female: float) -> Face:
    return face_from_p_female(box, p_female)


def colour_pixels(image: np.ndarray, colour: tuple[int, int, int]) -> np.ndarray:
    return np.all(image == np.array(colour, dtype=np.uint8), axis=-1)


def test_caption_says_label_and_rounded_percent():
    assert face_caption(make_face(Box(0, 0, 10, 10), 0.874)) == "Female 87%"
    assert face_caption(make_face(Box(0, 0, 10, 10), 0.36)) == "Male 64%"


def test_annotate_draws_each_label_in_its_colour_on_a_copy():
    frame = np.full((360, 640, 3), 128, dtype=np.uint8)
    faces = [make_face(Box(60, 120, 100, 100), 0.9), make_face(Box(400, 150, 120, 120), 0.2)]
    annotated = annotate(frame, faces)
    assert np.all(frame == 128)
    female, male = (
        colour_pixels(annotated, LABEL_COLOURS_BGR["female"]),
        colour_pixels(annotated, LABEL_COLOURS_BGR["male"]),
    )
    assert female[:, :300].sum() > 200 and female[:, 300:].sum() == 0
    assert male[:, 300:].sum() > 200 and male[:, :300].sum() == 0
    # The caption sits above the box: its filled background covers the rows just over the box.
    assert female[100:118, 60:160].mean() > 0.5


@pytest.mark.parametrize("shape", [(120, 160), (1080, 1920, 3), (240, 320, 4)])
def test_caption_stays_inside_the_image_for_a_face_at_the_corner(shape):
    frame = np.zeros(shape, dtype=np.uint8)
    height, width = shape[:2]
    size = min(height, width) // 4
    annotated = annotate(frame, [make_face(Box(width - size, 0, size, size), 0.95)])
    assert annotated.shape == (height, width, 3)
    female = colour_pixels(annotated, LABEL_COLOURS_BGR["female"])
    # Caption background drawn inside the box's top rows, pushed left so the whole text fits.
    assert female[: size // 2, :].sum() > female[size // 2 :, :].sum() > 0
