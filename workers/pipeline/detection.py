"""The face-detector seam: the FaceDetector protocol, the named detectors, and the gray conversion they share.

A detector turns a gray frame into face boxes in the frame's own pixels. Adding one (or an aligner
wrapped around one) is a new module with a class that has ``detect`` and ``for_video``, one entry in
DETECTORS, and a DetectionSettings whose ``detector`` names it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import cv2
import numpy as np

from .config import DEFAULT_DETECTION, HAAR, DetectionSettings
from .haar import HaarDetector
from .types import Box


class FaceDetector(Protocol):
    """Finds faces in gray frames; an instance may hold OpenCV objects, so each thread builds its own."""

    def detect(self, gray: np.ndarray, frame_index: int) -> list[Box]:
        """The face boxes of one gray frame, sorted by (x, y), in the frame's pixels."""
        ...

    def for_video(self, every_n_frames: int) -> FaceDetector:
        """A detector for one video's analysed frames, given in increasing index order (it may track between them)."""
        ...


# Detector name (DetectionSettings.detector) -> the class built from those settings.
DETECTORS: dict[str, Callable[[DetectionSettings], FaceDetector]] = {HAAR: HaarDetector}


def make_detector(settings: DetectionSettings = DEFAULT_DETECTION) -> FaceDetector:
    """The detector that ``settings.detector`` names, built with those settings."""
    try:
        factory = DETECTORS[settings.detector]
    except KeyError:
        known = ", ".join(DETECTORS)
        raise ValueError(f"unknown face detector {settings.detector!r}: expected one of {known}") from None
    return factory(settings)


def to_gray(image: np.ndarray) -> np.ndarray:
    """Return a single-channel uint8 copy of a BGR, BGRA or gray image."""
    if image.ndim == 2:
        return image
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2GRAY)
    return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
