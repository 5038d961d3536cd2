"""Draw face boxes and ``Female 87%`` labels on a copy of a frame."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from .types import FEMALE, MALE, Face

LABEL_COLOURS_BGR = {FEMALE: (180, 80, 235), MALE: (235, 150, 40)}  # magenta-pink and blue, told apart easily
TEXT_COLOUR_BGR = (255, 255, 255)
FONT = cv2.FONT_HERSHEY_SIMPLEX
# Line and text sizes grow with the frame so labels stay readable from 240p thumbnails to 4K.
REFERENCE_SIDE = 720


def face_caption(face: Face) -> str:
    """The text drawn over a face, e.g. ``Female 87%``."""
    return f"{face.label.capitalize()} {round(face.confidence * 100)}%"


def annotate(bgr: np.ndarray, faces: Sequence[Face]) -> np.ndarray:
    """Return a BGR copy of the frame with each face boxed and captioned in its label's colour."""
    canvas = cv2.cvtColor(bgr, cv2.COLOR_GRAY2BGR) if bgr.ndim == 2 else bgr[..., :3].copy()
    height, width = canvas.shape[:2]
    size = min(height, width) / REFERENCE_SIDE
    thickness = max(1, round(3 * size))
    font_scale = max(0.4, 0.9 * size)
    text_thickness = max(1, round(2 * size))
    padding = max(2, round(6 * size))
    for face in faces:
        box, colour = face.box, LABEL_COLOURS_BGR.get(face.label, TEXT_COLOUR_BGR)
        cv2.rectangle(canvas, (box.x, box.y), (box.x + box.w - 1, box.y + box.h - 1), colour, thickness)
        caption = face_caption(face)
        (text_w, text_h), baseline = cv2.getTextSize(caption, FONT, font_scale, text_thickness)
        label_w, label_h = text_w + 2 * padding, text_h + baseline + 2 * padding
        # Above the box when there is room, else just inside its top edge; never past the image's sides.
        left = min(max(box.x, 0), max(width - label_w, 0))
        top = box.y - label_h if box.y - label_h >= 0 else min(max(box.y, 0), max(height - label_h, 0))
        cv2.rectangle(canvas, (left, top), (left + label_w, top + label_h), colour, cv2.FILLED)
        origin = (left + padding, top + padding + text_h)
        cv2.putText(canvas, caption, origin, FONT, font_scale, TEXT_COLOUR_BGR, text_thickness, cv2.LINE_AA)
    return canvas
