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
    # tracking.appearance_descriptors of the face's vector; lets the tracker tell people apart and rejoin one
    descriptor: tuple[float, ...] | None = None
    # this person's P(female) smoothed over neighbouring frames (tracking.smoothed_p_female); set with track_id
    p_female_smoothed: float | None = None


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
    """One track across frames: a person, or a fragment (seen in too few frames to be one)."""

    track_id: int
    frames_seen: int
    first_frame: int
    last_frame: int
    label: str  # label_for(p_female): the robust label, not the mean's
    mean_p_female: float  # plain mean over the track's faces
    mean_confidence: float  # mean and std over the track's faces of their confidence in ``label``
    std_confidence: float
    is_person: bool = True  # False for a fragment (tracking.FRAGMENT_MAX_FRAMES frames or fewer)
    p_female: float = 0.5  # robust aggregate over the track (tracking.robust_p_female)
    confidence: float = 0.5  # max(p_female, 1 - p_female)
    p_female_low: float = 0.0  # 95% interval of p_female
    p_female_high: float = 1.0
    first_time_seconds: float = 0.0
    last_time_seconds: float = 0.0


@dataclass
class VideoSummary:
    """The video-level figures of the study's Tables 1 and 2, plus per-person lines."""

    label: str | None  # the label of the person on screen longest (main_track_id); None when no face was found
    mean_p_female: float | None
    mean_confidence: float | None  # mean confidence of the video-level label over all faces
    std_confidence: float | None
    per_label: dict[str, LabelStats]
    frames_analyzed: int
    frames_with_faces: int
    frames_without_faces: int
    faces: int
    persons: list[PersonSummary]  # tracks seen long enough to be persons
    fragments: list[PersonSummary] = field(default_factory=list)  # the other tracks (false faces, glimpses)
    main_track_id: int | None = None  # the person on screen longest, whose label is the video's
    p_female: float | None = None  # that person's robust P(female) (no confirmed face: the mean) and its confidence
    confidence: float | None = None
    unconfirmed_faces: int = 0  # detections seen in too few frames in a row to start a track (confirmation.py)


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
