"""The Haar-cascade face detector: whole-frame search on a (possibly downscaled) copy, tracked search in between."""

from __future__ import annotations

from collections.abc import Iterable

import cv2
import numpy as np

from .config import DEFAULT_DETECTION, DetectionSettings
from .types import Box

CASCADE_FILE = "haarcascade_frontalface_default.xml"
# Two windows around neighbouring tracked faces can both find the same face; keep it once.
DUPLICATE_OVERLAP = 0.5
CASCADE_WINDOW = 24  # the frontal-face cascade's own window: no face smaller than this is ever found


def load_cascade() -> cv2.CascadeClassifier:
    """Load the frontal-face cascade shipped with OpenCV; one per thread/process (not thread-safe)."""
    path = cv2.data.haarcascades + CASCADE_FILE
    cascade = cv2.CascadeClassifier(path)
    if cascade.empty():
        raise RuntimeError(f"OpenCV could not load its face cascade from {path}")
    return cascade


def _detection_image(gray: np.ndarray, settings: DetectionSettings) -> tuple[np.ndarray, float]:
    """Return the image detection runs on and the factor from its pixels back to the original's."""
    height, width = gray.shape[:2]
    if settings.detect_width and width > settings.detect_width:
        scale = width / settings.detect_width
        small = cv2.resize(gray, (settings.detect_width, round(height / scale)), interpolation=cv2.INTER_AREA)
        return small, scale
    return gray, 1.0


def _run_cascade(
    cascade: cv2.CascadeClassifier,
    image: np.ndarray,
    scale_factor: float,
    min_neighbors: int,
    min_size: int,
    max_size: int = 0,
) -> list[tuple[int, int, int, int]]:
    found = cascade.detectMultiScale(
        image,
        scaleFactor=scale_factor,
        minNeighbors=min_neighbors,
        minSize=(min_size, min_size),
        maxSize=(max_size, max_size),
    )
    return [tuple(int(v) for v in row) for row in found]


def detect_faces(
    gray: np.ndarray,
    settings: DetectionSettings = DEFAULT_DETECTION,
    cascade: cv2.CascadeClassifier | None = None,
) -> list[Box]:
    """Find frontal faces in a gray image; detection may run on a downscaled copy, boxes are mapped back.

    Without a cascade a fresh one is loaded for this call: callers that detect often hold a HaarDetector.
    """
    cascade = cascade or load_cascade()
    small, scale = _detection_image(gray, settings)
    found = _run_cascade(cascade, small, settings.scale_factor, settings.min_neighbors, settings.min_size)
    return _sorted_boxes(_scaled_box(x, y, w, h, scale, gray.shape[1], gray.shape[0]) for (x, y, w, h) in found)


def _sorted_boxes(boxes: Iterable[Box]) -> list[Box]:
    return sorted(boxes, key=lambda box: (box.x, box.y))


def _scaled_box(x: int, y: int, w: int, h: int, scale: float, width: int, height: int) -> Box:
    bx, by = round(x * scale), round(y * scale)
    bw, bh = min(round(w * scale), width - bx), min(round(h * scale), height - by)
    return Box(int(bx), int(by), int(bw), int(bh))


def overlap(a: Box, b: Box) -> float:
    """Intersection over the smaller box's area: 1.0 when one box lies inside the other."""
    ix = max(0, min(a.x + a.w, b.x + b.w) - max(a.x, b.x))
    iy = max(0, min(a.y + a.h, b.y + b.h) - max(a.y, b.y))
    smaller = min(a.w * a.h, b.w * b.h)
    return ix * iy / smaller if smaller > 0 else 0.0


class VideoFaceDetector:
    """Detect faces frame after frame: whole-frame detection every ``redetect_every`` analysed frames
    (and whenever the previous analysed frame had no face, or the tracked search finds none of its
    faces), in between only a margin around each face found in the previous analysed frame.

    A tracked face is looked for at sizes near the size the whole-frame detection gave it (its anchor),
    not near its last tracked size: the cascade's grouped boxes lean slightly large, and feeding each
    tracked size into the next search let boxes grow frame after frame (by a quarter within ten frames
    on the shared clips), so crops drifted away from what the model was trained on.

    The tracked state restarts at every frame whose analysed position (index // every_n_frames) is a
    multiple of redetect_every, so any frame range starting at such a frame gets exactly the
    detections a whole-video run gets: a long video can be split across workers.
    """

    def __init__(
        self,
        settings: DetectionSettings = DEFAULT_DETECTION,
        every_n_frames: int = 1,
        cascade: cv2.CascadeClassifier | None = None,
    ) -> None:
        self.settings = settings
        self.every_n_frames = every_n_frames
        self._cascade = cascade if cascade is not None else load_cascade()
        self._previous: list[tuple[Box, int]] = []  # (last box, anchor width from the whole-frame detection)

    def for_video(self, every_n_frames: int = 1) -> VideoFaceDetector:
        """A fresh detector with the same settings and cascade, for another video."""
        return VideoFaceDetector(self.settings, every_n_frames, self._cascade)

    def detect(self, gray: np.ndarray, frame_index: int) -> list[Box]:
        """Return the face boxes of one analysed frame (frames must come in increasing index order)."""
        position = frame_index // self.every_n_frames
        # With nothing to track, search the whole frame again: tracking cannot find a face it never had.
        tracked = []
        if self._previous and position % max(self.settings.redetect_every, 1) != 0:
            tracked = self._search_around(gray, self._previous)
        if tracked:
            self._previous = tracked
            return _sorted_boxes(box for box, _ in tracked)
        # A whole-frame search: at a redetection frame, with nothing to track, or when every tracked face
        # was lost (then on this same frame, so a face that moved or turned a little costs no frame).
        boxes = detect_faces(gray, self.settings, self._cascade)
        self._previous = [(box, box.w) for box in boxes]
        return boxes

    def _search_around(self, gray: np.ndarray, tracked: list[tuple[Box, int]]) -> list[tuple[Box, int]]:
        """Look for each tracked face again in a window around its last box, at sizes near its anchor size.

        The window is cut from the full-resolution frame and shrunk so the face is about
        track_face_size pixels wide: the cascade's cost grows with the window's pixels (and a window
        that is mostly face is the costliest kind), and a face that size is still above the cascade's
        24-pixel window.
        """
        height, width = gray.shape[:2]
        ratio = self.settings.track_size_ratio
        found: list[tuple[Box, int]] = []
        for box, anchor in tracked:
            margin = self.settings.track_margin * max(box.w, box.h)
            x0, y0 = max(int(box.x - margin), 0), max(int(box.y - margin), 0)
            x1, y1 = min(int(box.x + box.w + margin + 1), width), min(int(box.y + box.h + margin + 1), height)
            factor = min(1.0, self.settings.track_face_size / anchor)
            window = gray[y0:y1, x0:x1]
            if factor < 1.0:
                size = (max(round((x1 - x0) * factor), 1), max(round((y1 - y0) * factor), 1))
                window = cv2.resize(window, size, interpolation=cv2.INTER_AREA)
            face_size = anchor * factor
            min_size, max_size = max(int(face_size / ratio), CASCADE_WINDOW), int(face_size * ratio) + 1
            if min(window.shape[:2]) < min_size:
                continue
            found_here = _run_cascade(
                self._cascade,
                window,
                self.settings.track_scale_factor,
                self.settings.track_min_neighbors,
                min_size,
                max_size,
            )
            for fx, fy, fw, fh in found_here:
                candidate = _scaled_box(fx, fy, fw, fh, 1 / factor, x1 - x0, y1 - y0)
                candidate = Box(candidate.x + x0, candidate.y + y0, candidate.w, candidate.h)
                if all(overlap(candidate, kept) < DUPLICATE_OVERLAP for kept, _ in found):
                    found.append((candidate, anchor))
        return found


class HaarDetector:
    """The FaceDetector of OpenCV's frontal-face cascade: whole-frame search for images, tracked search for videos.

    It holds the one cascade its searches use and hands it to the per-video detectors it makes. A
    CascadeClassifier must not be shared between threads, so each thread builds its own HaarDetector
    (one Analyzer per thread does that); there is no module-level cascade cache besides.
    """

    def __init__(self, settings: DetectionSettings = DEFAULT_DETECTION) -> None:
        self.settings = settings
        self._cascade = load_cascade()

    def detect(self, gray: np.ndarray, frame_index: int = 0) -> list[Box]:
        """Search the whole frame (the frame index plays no part: no state is kept between calls)."""
        return detect_faces(gray, self.settings, self._cascade)

    def for_video(self, every_n_frames: int = 1) -> VideoFaceDetector:
        """A detector for one video's analysed frames in order: whole-frame search, tracked search in between."""
        return VideoFaceDetector(self.settings, every_n_frames, self._cascade)
