"""Link faces across analysed frames into tracks, and sum a video up (the study's Tables 1 and 2)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .types import FEMALE, MALE, Box, Face, FrameResult, LabelStats, PersonSummary, VideoSummary

# A face continues a track when its box overlaps the track's predicted box at least this much (IoU).
MIN_TRACK_IOU = 0.3
# A track that found no face for more analysed frames than this is closed; a later face starts a new one.
MAX_MISSED_FRAMES = 5


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two boxes."""
    ix = max(0, min(a.x + a.w, b.x + b.w) - max(a.x, b.x))
    iy = max(0, min(a.y + a.h, b.y + b.h) - max(a.y, b.y))
    inter = ix * iy
    union = a.w * a.h + b.w * b.h - inter
    return inter / union if union > 0 else 0.0


@dataclass
class _Track:
    track_id: int
    box: Box
    position: int  # analysed position (0, 1, 2, ...) of the last frame the track was seen in
    velocity: tuple[float, float] = (0.0, 0.0)  # box centre motion per analysed frame

    def predicted(self, position: int) -> Box:
        """Where the box should be now if it kept moving as between its last two sightings."""
        steps = position - self.position
        dx, dy = self.velocity[0] * steps, self.velocity[1] * steps
        return Box(round(self.box.x + dx), round(self.box.y + dy), self.box.w, self.box.h)

    def update(self, box: Box, position: int) -> None:
        steps = position - self.position
        self.velocity = ((box.x - self.box.x) / steps, (box.y - self.box.y) / steps)
        self.box, self.position = box, position


def assign_tracks(frames: Sequence[FrameResult]) -> None:
    """Set ``track_id`` on every face: greedy best-IoU matching against each open track's predicted box.

    Deterministic and a pure function of the frame sequence (ties break on track id, then face
    order), so it can be rerun on the merged frames of a video analysed in parts.
    """
    tracks: list[_Track] = []
    next_id = 1
    for position, frame in enumerate(frames):
        tracks = [track for track in tracks if position - track.position <= MAX_MISSED_FRAMES + 1]
        pairs = sorted(
            (
                (-overlap, track_number, face_number)
                for track_number, track in enumerate(tracks)
                for face_number, face in enumerate(frame.faces)
                if (overlap := iou(track.predicted(position), face.box)) >= MIN_TRACK_IOU
            ),
        )
        used_tracks: set[int] = set()
        used_faces: set[int] = set()
        for _, track_number, face_number in pairs:
            if track_number in used_tracks or face_number in used_faces:
                continue
            used_tracks.add(track_number)
            used_faces.add(face_number)
            track = tracks[track_number]
            track.update(frame.faces[face_number].box, position)
            frame.faces[face_number].track_id = track.track_id
        for face_number, face in enumerate(frame.faces):
            if face_number not in used_faces:
                tracks.append(_Track(next_id, face.box, position))
                face.track_id = next_id
                next_id += 1


def _label_for(mean_p_female: float) -> str:
    return FEMALE if mean_p_female >= 0.5 else MALE


def _confidences_for(label: str, p_female: np.ndarray) -> np.ndarray:
    """How confident each face is in the given label (not in its own)."""
    return p_female if label == FEMALE else 1.0 - p_female


def _label_stats(faces: Sequence[Face]) -> dict[str, LabelStats]:
    stats = {}
    for label in (FEMALE, MALE):
        confidences = np.array([face.confidence for face in faces if face.label == label], dtype=float)
        if confidences.size:
            stats[label] = LabelStats(int(confidences.size), float(confidences.mean()), float(confidences.std()))
    return stats


def _person_summaries(frames: Sequence[FrameResult]) -> list[PersonSummary]:
    sightings: dict[int, list[tuple[int, Face]]] = {}
    for frame in frames:
        for face in frame.faces:
            if face.track_id is not None:
                sightings.setdefault(face.track_id, []).append((frame.index, face))
    persons = []
    for track_id in sorted(sightings):
        seen = sightings[track_id]
        p_female = np.array([face.p_female for _, face in seen], dtype=float)
        label = _label_for(float(p_female.mean()))
        confidences = _confidences_for(label, p_female)
        persons.append(
            PersonSummary(
                track_id=track_id,
                frames_seen=len(seen),
                first_frame=seen[0][0],
                last_frame=seen[-1][0],
                label=label,
                mean_p_female=float(p_female.mean()),
                mean_confidence=float(confidences.mean()),
                std_confidence=float(confidences.std()),
            )
        )
    return persons


def summarize_video(frames: Sequence[FrameResult], frames_analyzed: int | None = None) -> VideoSummary:
    """Sum up a video: label by the mean p_female over all faces, with mean and std of that label's confidence.

    Standard deviations are population ones (ddof=0): the faces found are all the faces of the
    analysed frames, not a sample from a larger set. ``frames_analyzed`` defaults to len(frames).
    """
    faces = [face for frame in frames for face in frame.faces]
    frames_analyzed = len(frames) if frames_analyzed is None else frames_analyzed
    frames_with_faces = sum(1 for frame in frames if frame.faces)
    label = mean_p_female = mean_confidence = std_confidence = None
    if faces:
        p_female = np.array([face.p_female for face in faces], dtype=float)
        mean_p_female = float(p_female.mean())
        label = _label_for(mean_p_female)
        confidences = _confidences_for(label, p_female)
        mean_confidence, std_confidence = float(confidences.mean()), float(confidences.std())
    return VideoSummary(
        label=label,
        mean_p_female=mean_p_female,
        mean_confidence=mean_confidence,
        std_confidence=std_confidence,
        per_label=_label_stats(faces),
        frames_analyzed=frames_analyzed,
        frames_with_faces=frames_with_faces,
        frames_without_faces=frames_analyzed - frames_with_faces,
        faces=len(faces),
        persons=_person_summaries(frames),
    )
