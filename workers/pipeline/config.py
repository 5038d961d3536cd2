"""Named settings of the pipeline with their defaults; no magic numbers in the code."""

from __future__ import annotations

from dataclasses import dataclass

FACE_SIZE = 100  # the study's 100x100 gray crop
# OpenCV threads per process (cv2.setNumThreads): workers are one process per core, so parallel
# detection inside a process only fights the other processes for the same cores.
OPENCV_THREADS = 1


@dataclass(frozen=True)
class DetectionSettings:
    """Haar cascade parameters and the cost-saving knobs of video detection."""

    scale_factor: float = 1.2
    min_neighbors: int = 5
    min_size: int = 30  # pixels, in the (possibly downscaled) detection image
    detect_width: int | None = 480  # downscale frames wider than this before detecting; None = full size
    redetect_every: int = 10  # full-frame detection every K analysed frames; in between, tracked regions only
    track_margin: float = 0.5  # search margin around a tracked face, as a fraction of its size
    track_size_ratio: float = 1.5  # a tracked face is searched for at sizes within this factor of its last size
    track_face_size: int = 48  # tracked-face windows are shrunk so the face is about this wide (pixels)


# The study's way: full resolution, scale factor 1.1, every frame.
STUDY_DETECTION = DetectionSettings(scale_factor=1.1, min_neighbors=5, min_size=30, detect_width=None, redetect_every=1)
DEFAULT_DETECTION = DetectionSettings()
# Still images: one detection, so it can afford a finer scale step and more pixels than a video frame.
IMAGE_DETECTION = DetectionSettings(scale_factor=1.1, detect_width=1280, redetect_every=1)
