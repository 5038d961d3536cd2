"""Haar-cascade face detection on a (possibly downscaled) gray copy, boxes in original pixels."""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

from .config import DEFAULT_DETECTION, DetectionSettings
from .types import Box

CASCADE_FILE = "haarcascade_frontalface_default.xml"


@lru_cache(maxsize=1)
def _cascade_path() -> str:
    return cv2.data.haarcascades + CASCADE_FILE


def load_cascade() -> cv2.CascadeClassifier:
    """Load the frontal-face cascade shipped with OpenCV; one per thread/process (not thread-safe)."""
    cascade = cv2.CascadeClassifier(_cascade_path())
    if cascade.empty():
        raise RuntimeError(f"OpenCV could not load its face cascade from {_cascade_path()}")
    return cascade


def to_gray(image: np.ndarray) -> np.ndarray:
    """Return a single-channel uint8 copy of a BGR, BGRA or gray image."""
    if image.ndim == 2:
        return image
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2GRAY)
    return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)


def detect_faces(
    gray: np.ndarray,
    settings: DetectionSettings = DEFAULT_DETECTION,
    cascade: cv2.CascadeClassifier | None = None,
) -> list[Box]:
    """Find frontal faces in a gray image; detection may run on a downscaled copy, boxes are mapped back."""
    cascade = cascade or _thread_cascade()
    height, width = gray.shape[:2]
    scale = 1.0
    small = gray
    if settings.detect_width and width > settings.detect_width:
        scale = width / settings.detect_width
        small = cv2.resize(gray, (settings.detect_width, round(height / scale)), interpolation=cv2.INTER_AREA)
    found = cascade.detectMultiScale(
        small,
        scaleFactor=settings.scale_factor,
        minNeighbors=settings.min_neighbors,
        minSize=(settings.min_size, settings.min_size),
    )
    boxes = [_scaled_box(x, y, w, h, scale, width, height) for (x, y, w, h) in found]
    return sorted(boxes, key=lambda box: (box.x, box.y))


def _scaled_box(x: int, y: int, w: int, h: int, scale: float, width: int, height: int) -> Box:
    bx, by = round(x * scale), round(y * scale)
    bw, bh = min(round(w * scale), width - bx), min(round(h * scale), height - by)
    return Box(int(bx), int(by), int(bw), int(bh))


_cascades: dict[int, cv2.CascadeClassifier] = {}


def _thread_cascade() -> cv2.CascadeClassifier:
    """One cascade per thread: CascadeClassifier is not safe to share across threads."""
    import threading

    key = threading.get_ident()
    if key not in _cascades:
        _cascades[key] = load_cascade()
    return _cascades[key]
