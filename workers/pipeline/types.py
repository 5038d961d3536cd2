"""Plain dataclasses the pipeline returns; they turn into JSON with ``asdict``."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

MALE = "male"
FEMALE = "female"
DECISION_THRESHOLD = 0.5  # p_female at or above this is labelled female


def label_for(p_female: float) -> str:
    """The label of a probability of female: FEMALE at or above DECISION_THRESHOLD, else MALE."""
    return FEMALE if p_female >= DECISION_THRESHOLD else MALE


def analysed_frames(frame_count: int, every_n_frames: int) -> int:
    """How many frames a video of frame_count frames yields when every every_n_frames-th frame is analysed."""
    return -(-max(frame_count, 0) // every_n_frames)


@dataclass(frozen=True)
class Box:
    """A face rectangle in pixel coordinates of the original (not downscaled) frame."""

    x: int
    y: int
    w: int
    h: int


@dataclass
class Face:
    """One classified face: ``confidence`` is the probability of the predicted ``label``."""

    box: Box
    label: str  # MALE or FEMALE
    p_female: float
    confidence: float
    track_id: int | None = None


@dataclass
class ImageResult:
    """All faces found in one image."""

    width: int
    height: int
    faces: list[Face] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "image", **asdict(self)}


@dataclass
class FrameResult:
    """The faces of one analysed video frame."""

    index: int
    time_seconds: float
    faces: list[Face] = field(default_factory=list)


@dataclass
class VideoInfo:
    """What the container says about a video (frame_count may lie; readers never trust it)."""

    frame_count: int
    fps: float
    width: int
    height: int

    @property
    def duration_seconds(self) -> float:
        return self.frame_count / self.fps if self.fps > 0 else 0.0


@dataclass
class LabelStats:
    """Count, mean and standard deviation of confidence of the faces given one label."""

    count: int
    mean_confidence: float
    std_confidence: float


@dataclass
class PersonSummary:
    """One tracked face across frames."""

    track_id: int
    frames_seen: int
    first_frame: int
    last_frame: int
    label: str
    mean_p_female: float
    mean_confidence: float
    std_confidence: float


@dataclass
class VideoSummary:
    """The video-level figures of the study's Tables 1 and 2, plus per-person lines."""

    label: str | None  # by mean p_female over all faces; None when no face was found
    mean_p_female: float | None
    mean_confidence: float | None  # mean confidence of the video-level label over all faces
    std_confidence: float | None
    per_label: dict[str, LabelStats]
    frames_analyzed: int
    frames_with_faces: int
    frames_without_faces: int
    faces: int
    persons: list[PersonSummary]


@dataclass
class VideoResult:
    """Everything ``analyze_video`` learned from one video; ``summary`` is None until summary.track_and_summarize."""

    info: VideoInfo
    every_n_frames: int
    frames: list[FrameResult]
    summary: VideoSummary | None = None
    frames_read: int = 0  # frames the decoder delivered in the requested range (analysed or skipped)
    stopped_early: bool = False  # the stream ended before the range's end or the container's frame count

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "video", **asdict(self)}
