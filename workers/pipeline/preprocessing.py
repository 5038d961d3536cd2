"""The study's preprocessing, shared by training and inference: crop, gray, 100x100, min-max, flatten."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from .config import FACE_SIZE
from .types import Box


def face_vector(gray: np.ndarray, box: Box) -> np.ndarray:
    """Crop one face from a gray image and return its scaled, flattened 100x100 vector (float32)."""
    crop = gray[box.y : box.y + box.h, box.x : box.x + box.w]
    if crop.size == 0:
        raise ValueError(f"empty face crop for {box}")
    resized = cv2.resize(crop, (FACE_SIZE, FACE_SIZE), interpolation=cv2.INTER_AREA).astype(np.float32)
    low, high = float(resized.min()), float(resized.max())
    scaled = (resized - low) / (high - low) if high > low else np.zeros_like(resized)
    return scaled.reshape(-1)


def face_vectors(gray: np.ndarray, boxes: Sequence[Box]) -> np.ndarray:
    """Stack the vectors of all faces of one image into an (n, 10000) matrix for one batched prediction."""
    if not boxes:
        return np.empty((0, FACE_SIZE * FACE_SIZE), dtype=np.float32)
    return np.stack([face_vector(gray, box) for box in boxes])
