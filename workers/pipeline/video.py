"""Read videos frame by frame with OpenCV, sampling cheaply and never hanging on broken files."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import cv2
import numpy as np

from .errors import VideoReadError
from .types import VideoInfo

logger = logging.getLogger(__name__)

# A failed grab() before the container's frame count is reached may be one damaged packet; a few
# retries let the decoder resynchronise, more would spin forever on a file that has really ended.
MAX_CONSECUTIVE_FAILED_GRABS = 5


@contextmanager
def _open(path: str | Path) -> Iterator[cv2.VideoCapture]:
    capture = cv2.VideoCapture(str(path))
    try:
        if not capture.isOpened():
            raise VideoReadError(f"cannot open the video {Path(path).name!r}: not a video OpenCV can decode")
        yield capture
    finally:
        capture.release()


def _info(capture: cv2.VideoCapture) -> VideoInfo:
    return VideoInfo(
        frame_count=max(int(capture.get(cv2.CAP_PROP_FRAME_COUNT)), 0),
        fps=float(capture.get(cv2.CAP_PROP_FPS) or 0.0),
        width=int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)),
        height=int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)),
    )


def probe(path: str | Path) -> VideoInfo:
    """Return what the container says about a video; raise VideoReadError if it does not open or has no frame."""
    with _open(path) as capture:
        info = _info(capture)
        if info.width <= 0 or info.height <= 0 or not capture.grab():
            raise VideoReadError(f"the video {Path(path).name!r} has no readable frame")
    return info


def _seek(capture: cv2.VideoCapture, start_frame: int) -> int:
    """Move to start_frame and return the index of the next frame to be read.

    CAP_PROP_POS_FRAMES was frame-exact on every shared H.264 clip we compared against sequential
    reading, but OpenCV does not promise it for every container; when the capture does not report the
    requested position we fall back to grabbing forward, which is always exact.
    """
    if start_frame <= 0:
        return 0
    if capture.set(cv2.CAP_PROP_POS_FRAMES, start_frame) and int(capture.get(cv2.CAP_PROP_POS_FRAMES)) == start_frame:
        return start_frame
    capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
    for index in range(start_frame):
        if not capture.grab():
            return index
    return start_frame


def _grab(capture: cv2.VideoCapture, index: int, frame_count: int) -> bool:
    """Grab the next frame, retrying a few times while the container says more frames should follow."""
    attempts = MAX_CONSECUTIVE_FAILED_GRABS if index < frame_count else 1
    return any(capture.grab() for _ in range(attempts))


class FrameReader:
    """Iterate (index, time_seconds, bgr) over every n-th frame of [start_frame, end_frame), at most max_frames.

    Only frames whose index is a multiple of every_n_frames are decoded to BGR; the others are
    grabbed. The container's frame count is not trusted: reading stops where the stream ends, and
    afterwards ``frames_read`` and ``stopped_early`` say how far the stream really went.
    Raises VideoReadError when the file does not open or no frame at all can be read from it.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        every_n_frames: int = 1,
        start_frame: int = 0,
        end_frame: int | None = None,
        max_frames: int | None = None,
    ) -> None:
        if every_n_frames < 1:
            raise ValueError("every_n_frames must be at least 1")
        self.path = Path(path)
        self.every_n_frames = every_n_frames
        self.start_frame = max(start_frame, 0)
        self.end_frame = end_frame
        self.max_frames = max_frames
        self.frames_read = 0  # frames the decoder delivered (grabbed or decoded) from start_frame on
        self.stopped_early = False  # the stream ended before end_frame or the container's frame count
        self.info: VideoInfo | None = None  # what the container says, once iteration has opened it

    def __iter__(self) -> Iterator[tuple[int, float, np.ndarray]]:
        with _open(self.path) as capture:
            info = self.info = _info(capture)
            index = _seek(capture, self.start_frame)
            yielded = 0
            limit = info.frame_count if self.end_frame is None else self.end_frame
            while (self.end_frame is None or index < self.end_frame) and (
                self.max_frames is None or yielded < self.max_frames
            ):
                if not _grab(capture, index, info.frame_count):
                    self.stopped_early = index < limit
                    break
                if index >= self.start_frame:
                    self.frames_read += 1
                if index >= self.start_frame and index % self.every_n_frames == 0:
                    ok, bgr = capture.retrieve()
                    if not ok or bgr is None:
                        self.stopped_early = True
                        break
                    time_seconds = index / info.fps if info.fps > 0 else capture.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
                    yield index, time_seconds, bgr
                    yielded += 1
                index += 1
            if self.frames_read == 0:
                raise VideoReadError(f"no frame could be read from {self.path.name!r} at frame {self.start_frame}")
            if self.stopped_early:
                logger.warning("%s ended at frame %d; its container announces %d", self.path, index, info.frame_count)
