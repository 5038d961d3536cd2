"""The preprocessing shared by training and inference: crop (or align), gray, 100x100, light, min-max, flatten."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from .alignment import AlignedFace, AlignmentSettings, align_face, plain_crop
from .config import FACE_SIZE
from .types import Box

PHOTOMETRIC = ("none", "equalize", "clahe")
CLAHE_CLIP_LIMIT = 2.0
CLAHE_TILES = (4, 4)


@dataclass(frozen=True)
class Preprocessing:
    """How a detected face becomes a 100x100 face: eye alignment (None: the study's plain crop) and lighting."""

    alignment: AlignmentSettings | None = None
    photometric: str = "none"  # one of PHOTOMETRIC, applied to the uint8 face before min-max

    def __post_init__(self) -> None:
        if self.photometric not in PHOTOMETRIC:
            raise ValueError(f"unknown photometric normalisation {self.photometric!r}: expected one of {PHOTOMETRIC}")


# The study's preprocessing, which the shipped model was trained with.
STUDY_PREPROCESSING = Preprocessing()


def normalise_light(face: np.ndarray, photometric: str) -> np.ndarray:
    """Histogram equalisation or CLAHE of one uint8 face (unchanged for "none")."""
    if photometric == "equalize":
        return cv2.equalizeHist(face)
    if photometric == "clahe":
        return cv2.createCLAHE(clipLimit=CLAHE_CLIP_LIMIT, tileGridSize=CLAHE_TILES).apply(face)
    return face


def prepared_face(gray: np.ndarray, box: Box, preprocessing: Preprocessing = STUDY_PREPROCESSING) -> AlignedFace:
    """The 100x100 uint8 face of one box (plain crop or aligned, lighting normalised) and whether eyes were found."""
    if preprocessing.alignment is None:
        aligned = AlignedFace(plain_crop(gray, box), False)
    else:
        aligned = align_face(gray, box, preprocessing.alignment)
    return AlignedFace(normalise_light(aligned.face, preprocessing.photometric), aligned.eyes_found)


def face_image(gray: np.ndarray, box: Box, preprocessing: Preprocessing = STUDY_PREPROCESSING) -> np.ndarray:
    """The 100x100 uint8 face of one box: plain crop or aligned, then lighting normalised."""
    return prepared_face(gray, box, preprocessing).face


def scaled_vector(face: np.ndarray) -> np.ndarray:
    """Min-max scale one 100x100 face to [0, 1] and flatten it to 10000 float32."""
    resized = face.astype(np.float32)
    low, high = float(resized.min()), float(resized.max())
    scaled = (resized - low) / (high - low) if high > low else np.zeros_like(resized)
    return scaled.reshape(-1)


def face_vector(gray: np.ndarray, box: Box, preprocessing: Preprocessing = STUDY_PREPROCESSING) -> np.ndarray:
    """Crop (or align) one face from a gray image and return its scaled, flattened 100x100 vector (float32)."""
    return scaled_vector(face_image(gray, box, preprocessing))


def face_vectors(
    gray: np.ndarray, boxes: Sequence[Box], preprocessing: Preprocessing = STUDY_PREPROCESSING
) -> np.ndarray:
    """Stack the vectors of all faces of one image into an (n, 10000) matrix for one batched prediction."""
    if not boxes:
        return np.empty((0, FACE_SIZE * FACE_SIZE), dtype=np.float32)
    return np.stack([face_vector(gray, box, preprocessing) for box in boxes])
