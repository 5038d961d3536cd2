"""Named settings of the pipeline with their defaults; no magic numbers in the code."""

from __future__ import annotations

from dataclasses import dataclass

FACE_SIZE = 100  # the study's 100x100 gray crop
# OpenCV threads per process (cv2.setNumThreads): workers are one process per core, so parallel
# detection inside a process only fights the other processes for the same cores.
OPENCV_THREADS = 1
HAAR = "haar"  # the name of OpenCV's frontal-face cascade detector (detection.DETECTORS)


@dataclass(frozen=True)
class DetectionSettings:
    """Which face detector runs (by name), its cascade parameters and the cost-saving knobs of video detection."""

    # Defaults tuned on the shared clips against STUDY_DETECTION (bench/README.md): a 640-pixel-wide copy
    # with the study's finer scale step keeps faces down to ~50 px (720p) / ~75 px (1080p) findable.
    scale_factor: float = 1.1
    min_neighbors: int = 4
    min_size: int = 24  # pixels, in the (possibly downscaled) detection image
    detect_width: int | None = 640  # downscale frames wider than this before detecting; None = full size
    redetect_every: int = 30  # full-frame detection every K analysed frames; in between, tracked regions only
    track_margin: float = 0.4  # search margin around a tracked face, as a fraction of its size
    # A tracked face is searched for at sizes within this factor of the size its whole-frame detection gave.
    track_size_ratio: float = 1.25
    # A tracked window is small and its size range narrow, so a face there gathers fewer overlapping
    # hits than in a whole-frame search: a finer scale step and fewer required neighbours make up for it.
    track_scale_factor: float = 1.1
    track_min_neighbors: int = 3
    # Tracked-face windows are shrunk so the face is about this wide (pixels): a window that is mostly face
    # is the cascade's costliest input, and at 32 px the boxes it returns have the whole-frame size
    # (at 48 px they came out about 9% wider).
    track_face_size: int = 32
    detector: str = HAAR  # which face detector runs: a key of detection.DETECTORS


# The study's way: full resolution, scale factor 1.1, every frame.
STUDY_DETECTION = DetectionSettings(scale_factor=1.1, min_neighbors=5, min_size=30, detect_width=None, redetect_every=1)
DEFAULT_DETECTION = DetectionSettings()
# Still images: one detection, so it can afford more pixels than a video frame, with the study's cascade settings.
IMAGE_DETECTION = DetectionSettings(min_neighbors=5, min_size=30, detect_width=1280, redetect_every=1)
# Training faces (tight crops, padded): the cascade settings the shipped model was trained with. Kept apart
# from the video defaults so that tuning video speed never changes what `train_model` reproduces.
TRAINING_DETECTION = DetectionSettings(
    scale_factor=1.2, min_neighbors=5, min_size=30, detect_width=480, redetect_every=1
)
