"""Analyse an image or a video frame by frame: detect, preprocess, classify all faces of a frame in one batch."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import cv2
import numpy as np

from .config import DEFAULT_DETECTION, IMAGE_DETECTION, OPENCV_THREADS, DetectionSettings
from .detection import FaceDetector, make_detector, to_gray
from .errors import AnalysisCancelled, ImageReadError
from .model import cached_model
from .tracking import appearance_descriptors
from .types import Box, Face, FrameResult, ImageResult, VideoResult, label_for
from .video import FrameReader

logger = logging.getLogger(__name__)

OnFrame = Callable[[FrameResult, np.ndarray], None]
ShouldStop = Callable[[], bool]

# A video's faces are classified this many analysed frames at a time (fewer when their decoded frames, held
# until then for on_frame, would pass CLASSIFY_BYTES): one model call for several frames reads the model's
# matrices from memory once instead of once per frame (bench/README.md, "Classifying several frames per model call").
CLASSIFY_FRAMES = 8
CLASSIFY_BYTES = 48 << 20


class FacesToClassify(NamedTuple):
    """One frame's faces, ready for the model: boxes, the model's vectors, the tracker's descriptors."""

    boxes: list[Box]
    vectors: np.ndarray
    descriptors: list[tuple[float, ...]]


def face_from_p_female(box: Box, p_female: float, descriptor: tuple[float, ...] | None = None) -> Face:
    """Build a Face from the model's probability, by the label and confidence conventions of DESIGN.md."""
    return Face(
        box=box,
        label=label_for(p_female),
        p_female=p_female,
        confidence=max(p_female, 1 - p_female),
        descriptor=descriptor,
    )


def read_image(image_or_path: str | Path | bytes | np.ndarray) -> np.ndarray:
    """Return a BGR or gray array from a path, encoded bytes, or an array given as it is."""
    if isinstance(image_or_path, np.ndarray):
        return image_or_path
    if isinstance(image_or_path, bytes):
        image = cv2.imdecode(np.frombuffer(image_or_path, dtype=np.uint8), cv2.IMREAD_COLOR)
        name = "the uploaded bytes"
    else:
        # imdecode of the file's bytes instead of imread: it also works for paths OpenCV cannot open.
        path = Path(image_or_path)
        try:
            image = cv2.imdecode(np.fromfile(path, dtype=np.uint8), cv2.IMREAD_COLOR)
        except OSError as error:
            raise ImageReadError(f"cannot read the image {path.name!r}: {error.strerror}") from error
        name = repr(path.name)
    if image is None:
        raise ImageReadError(f"{name} is not an image OpenCV can decode")
    return image


class Analyzer:
    """Find and classify faces with one model; build one per thread (detectors hold OpenCV objects that are not
    thread-safe).

    The detectors come from the named settings (``detection`` for video frames, ``image_detection`` for still
    images) unless given ready-made as ``detector`` / ``image_detector``; without a model, the process-wide
    cached default model is used.
    """

    def __init__(
        self,
        model: Any = None,
        detection: DetectionSettings = DEFAULT_DETECTION,
        image_detection: DetectionSettings = IMAGE_DETECTION,
        opencv_threads: int | None = OPENCV_THREADS,
        *,
        detector: FaceDetector | None = None,
        image_detector: FaceDetector | None = None,
    ) -> None:
        # OpenCV's thread count is process-wide; workers want one (see config.OPENCV_THREADS).
        # None leaves it as it is (benchmarks compare settings this way).
        if opencv_threads is not None:
            cv2.setNumThreads(opencv_threads)
        self.model = model if model is not None else cached_model()
        self.detection = detection
        self.image_detection = image_detection
        self.detector = detector if detector is not None else make_detector(detection)
        self.image_detector = image_detector if image_detector is not None else make_detector(image_detection)

    def describe(self, gray: np.ndarray, boxes: list[Box]) -> FacesToClassify:
        """The model's vectors and the tracker's descriptors of one frame's faces: all but the prediction."""
        if not boxes:
            return FacesToClassify([], np.empty((0, self.model.n_features), dtype=np.float32), [])
        vectors = self.model.face_vectors(gray, boxes)  # made by the model's own recipe
        # The descriptor reads the plain crop's 100x100 min-max pixels, whatever the model's recipe.
        pixels = self.model.recipe.tracking_pixels(gray, boxes, vectors)
        return FacesToClassify(boxes, vectors, appearance_descriptors(pixels))

    def classify_many(self, frames: list[FacesToClassify]) -> list[list[Face]]:
        """The faces of several frames, classified by one model call; each face carries its descriptor.

        A face's probability does not depend on the other faces of the call (GenderModel.predict_p_female), so
        how frames are grouped never changes an answer; grouping them keeps the model's matrices in the cache.
        """
        vectors = [frame.vectors for frame in frames if frame.boxes]
        p_female = iter(self.model.predict_p_female(np.concatenate(vectors)) if vectors else [])
        return [
            [
                face_from_p_female(box, float(next(p_female)), descriptor)
                for box, descriptor in zip(frame.boxes, frame.descriptors, strict=True)
            ]
            for frame in frames
        ]

    def classify(self, gray: np.ndarray, boxes: list[Box]) -> list[Face]:
        """Classify all faces of one frame with a single batched model call; each face carries its descriptor."""
        if not boxes:
            return []
        return self.classify_many([self.describe(gray, boxes)])[0]

    def analyze_image(self, image_or_path: str | Path | bytes | np.ndarray) -> ImageResult:
        """Find and classify every face of one image; an image without faces gives ``faces=[]``."""
        image = read_image(image_or_path)
        gray = to_gray(image)
        faces = self.classify(gray, self.image_detector.detect(gray, 0))
        return ImageResult(width=gray.shape[1], height=gray.shape[0], faces=faces)

    def analyze_video(
        self,
        path: str | Path,
        *,
        every_n_frames: int = 1,
        max_frames: int | None = None,
        start_frame: int = 0,
        end_frame: int | None = None,
        on_frame: OnFrame | None = None,
        should_stop: ShouldStop | None = None,
    ) -> VideoResult:
        """Analyse every n-th frame of [start_frame, end_frame) and call on_frame for each.

        The frames come back without track ids and the result without a summary: tracking and the summary
        are separate steps (summary.track_and_summarize) that a caller runs once over all the frames it has.
        """
        reader = FrameReader(
            path, every_n_frames=every_n_frames, start_frame=start_frame, end_frame=end_frame, max_frames=max_frames
        )
        detector = self.detector.for_video(every_n_frames)
        frames: list[FrameResult] = []
        waiting: list[tuple[int, float, np.ndarray, FacesToClassify]] = []  # analysed, not yet classified

        def classify_waiting() -> None:
            for (index, time_seconds, bgr, _), faces in zip(
                waiting, self.classify_many([item[3] for item in waiting]), strict=True
            ):
                if should_stop is not None and should_stop():  # nothing is reported after a stop
                    raise AnalysisCancelled(f"analysis of {Path(path).name!r} cancelled at frame {index}")
                frame = FrameResult(index=index, time_seconds=time_seconds, faces=faces)
                frames.append(frame)
                if on_frame is not None:
                    on_frame(frame, bgr)
            waiting.clear()

        for index, time_seconds, bgr in reader:
            if should_stop is not None and should_stop():
                raise AnalysisCancelled(f"analysis of {Path(path).name!r} cancelled at frame {index}")
            gray = to_gray(bgr)
            waiting.append((index, time_seconds, bgr, self.describe(gray, detector.detect(gray, index))))
            held = sum(item[2].nbytes for item in waiting)
            if len(waiting) >= CLASSIFY_FRAMES or held >= CLASSIFY_BYTES:
                classify_waiting()
        classify_waiting()
        return VideoResult(
            info=reader.info,  # the reader opened the file once for both (a separate probe cost 2 ms a run)
            every_n_frames=every_n_frames,
            frames=frames,
            frames_read=reader.frames_read,
            stopped_early=reader.stopped_early,
        )
