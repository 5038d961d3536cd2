"""Which detections are confirmed faces: seen at the same place in a few consecutive analysed frames.

The whole-frame search now and then finds a "face" in a jacket or a shelf for one or two frames; such a
detection is kept (it was analysed, and the downloads list it) but it starts no track. A pure function of
the frame sequence, so it gives the same answer over a split video's merged frames as over a whole run.
"""

from __future__ import annotations

from collections.abc import Sequence

from .haar import overlap
from .types import FrameResult

# A detection is confirmed when it is one of at least CONFIRM_FRAMES sightings (or as many as a shorter video
# has analysed frames) chained at one place: each sighting's box overlaps the previous one's by at least
# CONFIRM_OVERLAP (intersection over the smaller box), at most CONFIRM_GAP analysed frames later (so one missed
# detection does not break the chain). Three sightings is the least a person needs (tracking.is_person).
CONFIRM_FRAMES = 3
CONFIRM_GAP = 2
CONFIRM_OVERLAP = 0.5


def _chain_lengths(frames: Sequence[FrameResult], order: range, step: int) -> list[list[int]]:
    """For each face, the longest chain of sightings ending at it, walking the frames in ``order``."""
    chains = [[1] * len(frame.faces) for frame in frames]
    for position in order:
        for number, face in enumerate(frames[position].faces):
            linked = [
                chains[earlier][other]
                for earlier in range(position - step, position - step * (CONFIRM_GAP + 1), -step)
                if 0 <= earlier < len(frames)
                for other, candidate in enumerate(frames[earlier].faces)
                if overlap(face.box, candidate.box) >= CONFIRM_OVERLAP
            ]
            chains[position][number] = 1 + max(linked, default=0)
    return chains


def unconfirmed_faces(frames: Sequence[FrameResult]) -> set[tuple[int, int]]:
    """(position in ``frames``, face number) of every detection not confirmed by its neighbouring frames."""
    needed = min(CONFIRM_FRAMES, len(frames))
    before = _chain_lengths(frames, range(len(frames)), 1)
    after = _chain_lengths(frames, range(len(frames) - 1, -1, -1), -1)
    return {
        (position, number)
        for position, frame in enumerate(frames)
        for number in range(len(frame.faces))
        if before[position][number] + after[position][number] - 1 < needed
    }


def confirmed_frames(frames: Sequence[FrameResult]) -> list[FrameResult]:
    """The frames with their confirmed faces only (the same Face objects); the others lose any track they had."""
    unconfirmed = unconfirmed_faces(frames)
    confirmed = []
    for position, frame in enumerate(frames):
        faces = []
        for number, face in enumerate(frame.faces):
            if (position, number) in unconfirmed:
                face.track_id = face.p_female_smoothed = None
            else:
                faces.append(face)
        confirmed.append(FrameResult(index=frame.index, time_seconds=frame.time_seconds, faces=faces))
    return confirmed
