"""Geometric face alignment: find the eyes in a detected face, rotate them level and put them at fixed places."""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from typing import NamedTuple

import cv2
import numpy as np

from .config import FACE_SIZE
from .types import Box

EYE_CASCADES = {
    "eye": "haarcascade_eye.xml",
    "eyeglasses": "haarcascade_eye_tree_eyeglasses.xml",
    "2splits": ("haarcascade_lefteye_2splits.xml", "haarcascade_righteye_2splits.xml"),
}


WORK_INTERPOLATIONS = {"area": cv2.INTER_AREA, "linear": cv2.INTER_LINEAR}


@dataclass(frozen=True)
class AlignmentSettings:
    """Where eyes are searched for, which of them are believed, and where they are placed in the 100x100 face."""

    cascade: str = "eye"  # a key of EYE_CASCADES
    # The face box is resampled to this many pixels before the eye search: the eye cascades' smallest window
    # is 20 pixels, and the eyes of a Haar face box are 22-34% of its width.
    work_size: int = 90
    margin: float = 0.25  # context kept around the box for rotation, as a fraction of its size
    band: tuple[float, float] = (0.2, 0.58)  # rows of the box (fractions of its height) searched for eyes
    columns: tuple[float, float] = (0.08, 0.92)  # and its columns (fractions of its width)
    scale_factor: float = 1.15
    min_neighbors: int = 3
    eye_size: tuple[float, float] = (0.22, 0.34)  # smallest and largest eye box, as fractions of the face box
    eye_distance: tuple[float, float] = (0.25, 0.6)  # plausible distance between the eyes, fraction of box width
    max_angle: float = 20.0  # degrees; a steeper pair is a false detection more often than a tilted head
    # Eye centres in the aligned face as fractions of FACE_SIZE; the defaults are where the eyes of the plain
    # Haar crop sit on average (measured on the training faces), so aligned and fallback crops agree.
    left_eye: tuple[float, float] = (0.305, 0.38)
    right_eye: tuple[float, float] = (0.695, 0.38)
    scale: bool = True  # False: rotate about the eyes only, keeping the box's scale
    # How the box is resampled to work_size before the eye search: "area" (averaging) or "linear" (cheaper).
    work_interpolation: str = "area"
    # Columns (fractions of the box width) searched for the image-left and the image-right eye, each on its own;
    # None: one search over ``columns``. Two narrow searches skip the windows astride the nose (fewer windows,
    # and never an eye centred on the wrong side).
    eye_columns: tuple[tuple[float, float], tuple[float, float]] | None = None

    def __post_init__(self) -> None:
        if self.work_interpolation not in WORK_INTERPOLATIONS:
            raise ValueError(f"work_interpolation must be one of {sorted(WORK_INTERPOLATIONS)}")
        if self.eye_columns is not None:
            (left_start, left_end), (right_start, right_end) = self.eye_columns
            if not 0 <= left_start < left_end <= 0.5 <= right_start < right_end <= 1:
                raise ValueError("eye_columns must be two column ranges, one in each half of the box")


DEFAULT_ALIGNMENT = AlignmentSettings()


class AlignedFace(NamedTuple):
    """A 100x100 uint8 face and whether its eyes were found (False: the plain crop was used)."""

    face: np.ndarray
    eyes_found: bool


_cascades = threading.local()


def load_eye_cascades(name: str) -> tuple[cv2.CascadeClassifier, ...]:
    """The eye cascade(s) of one EYE_CASCADES key, loaded once per thread (a cascade is not thread-safe)."""
    cache = _cascades.__dict__.setdefault("by_name", {})
    if name not in cache:
        files = EYE_CASCADES[name]
        files = (files,) if isinstance(files, str) else files
        loaded = tuple(cv2.CascadeClassifier(cv2.data.haarcascades + file) for file in files)
        if any(cascade.empty() for cascade in loaded):
            raise RuntimeError(f"could not load eye cascade {name!r}")
        cache[name] = loaded
    return cache[name]


def plain_crop(gray: np.ndarray, box: Box) -> np.ndarray:
    """The study's crop: the box resized to 100x100 with INTER_AREA, uint8."""
    crop = gray[box.y : box.y + box.h, box.x : box.x + box.w]
    if crop.size == 0:
        raise ValueError(f"empty face crop for {box}")
    return cv2.resize(crop, (FACE_SIZE, FACE_SIZE), interpolation=cv2.INTER_AREA)


def _working_image(gray: np.ndarray, box: Box, settings: AlignmentSettings) -> tuple[np.ndarray, float, float]:
    """The box plus its margin, clipped to the image and resampled so the box is work_size wide.

    Returns the image and the box's top-left corner in it.
    """
    margin_x, margin_y = round(settings.margin * box.w), round(settings.margin * box.h)
    x0, y0 = max(box.x - margin_x, 0), max(box.y - margin_y, 0)
    x1, y1 = min(box.x + box.w + margin_x, gray.shape[1]), min(box.y + box.h + margin_y, gray.shape[0])
    sx, sy = settings.work_size / box.w, settings.work_size / box.h
    size = (max(round((x1 - x0) * sx), 1), max(round((y1 - y0) * sy), 1))
    work = cv2.resize(gray[y0:y1, x0:x1], size, interpolation=WORK_INTERPOLATIONS[settings.work_interpolation])
    return work, (box.x - x0) * sx, (box.y - y0) * sy


def _eye_candidates(band: np.ndarray, settings: AlignmentSettings) -> list[tuple[np.ndarray, float, float]]:
    """Eye boxes found in the search band as (x, y, w, h) rows, one array per cascade."""
    low, high = (max(round(f * settings.work_size), 1) for f in settings.eye_size)
    found = []
    for cascade in load_eye_cascades(settings.cascade):
        boxes = cascade.detectMultiScale(
            band,
            scaleFactor=settings.scale_factor,
            minNeighbors=settings.min_neighbors,
            minSize=(low, low),
            maxSize=(high, high),
        )
        found.append(np.asarray(boxes, dtype=np.float64).reshape(-1, 4))
    return found


def _eye_centres(work: np.ndarray, left: float, top: float, settings: AlignmentSettings) -> np.ndarray:
    """Centres of every eye box found in the search band(s) of the working image, one (x, y) row each."""
    size = settings.work_size
    band_top, band_bottom = round(top + settings.band[0] * size), round(top + settings.band[1] * size)
    centres = [np.empty((0, 2))]
    for start, end in (settings.columns,) if settings.eye_columns is None else settings.eye_columns:
        band_left = round(left + start * size)
        band = work[band_top:band_bottom, band_left : round(left + end * size)]
        if band.size:
            boxes = np.concatenate(_eye_candidates(band, settings))
            centres.append(boxes[:, :2] + boxes[:, 2:] / 2 + [band_left, band_top])
    return np.concatenate(centres)


def find_eyes(work: np.ndarray, left: float, top: float, settings: AlignmentSettings) -> np.ndarray | None:
    """Centres of the two eyes (image-left first) in the working image, or None when no plausible pair is found."""
    size = settings.work_size
    centres = _eye_centres(work, left, top, settings)
    if not len(centres):
        return None
    expected = [[left + fx * size, top + fy * size] for fx, fy in (settings.left_eye, settings.right_eye)]
    mid = left + size / 2
    eyes = []
    for side, target in zip((centres[:, 0] < mid, centres[:, 0] >= mid), expected, strict=True):
        if not side.any():
            return None
        candidates = centres[side]
        eyes.append(candidates[np.argmin(np.hypot(*(candidates - target).T))])
    dx, dy = eyes[1] - eyes[0]
    distance = math.hypot(dx, dy) / size
    low, high = settings.eye_distance
    if not low <= distance <= high or abs(math.degrees(math.atan2(dy, dx))) > settings.max_angle:
        return None
    return np.array(eyes)


def eye_transform(eyes: np.ndarray, settings: AlignmentSettings = DEFAULT_ALIGNMENT) -> np.ndarray:
    """The 2x3 similarity that levels the eyes (image-left first) and puts them at the settings' places."""
    (lx, ly), (rx, ry) = eyes
    angle = math.degrees(math.atan2(ry - ly, rx - lx))
    target_left, target_right = np.array(settings.left_eye) * FACE_SIZE, np.array(settings.right_eye) * FACE_SIZE
    if settings.scale:
        scale = float(np.hypot(*(target_right - target_left))) / math.hypot(rx - lx, ry - ly)
    else:
        scale = FACE_SIZE / settings.work_size
    centre = ((lx + rx) / 2, (ly + ry) / 2)
    matrix = cv2.getRotationMatrix2D(centre, angle, scale)
    matrix[:, 2] += (target_left + target_right) / 2 - np.array(centre)
    return matrix


def align_face(gray: np.ndarray, box: Box, settings: AlignmentSettings = DEFAULT_ALIGNMENT) -> AlignedFace:
    """The face in ``box`` as a 100x100 uint8 with level eyes at fixed places; the plain crop if no eyes are found."""
    work, left, top = _working_image(gray, box, settings)
    eyes = find_eyes(work, left, top, settings)
    if eyes is None:
        return AlignedFace(plain_crop(gray, box), False)
    matrix = eye_transform(eyes, settings)
    face = cv2.warpAffine(work, matrix, (FACE_SIZE, FACE_SIZE), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return AlignedFace(face, True)
