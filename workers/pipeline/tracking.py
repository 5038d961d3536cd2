"""Link faces across analysed frames into persons, give each a robust label, and sum a video up."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .confirmation import confirmed_frames
from .types import FEMALE, MALE, Box, Face, FrameResult, LabelStats, PersonSummary, VideoSummary, label_for

# A face's appearance descriptor: its 100x100 model vector as DESCRIPTOR_SIDE x DESCRIPTOR_SIDE block means,
# standardised (zero mean, unit standard deviation), rounded so that a stored and reloaded copy tracks the same.
DESCRIPTOR_SIDE = 5
DESCRIPTOR_DECIMALS = 3

# A face continues a track when its box overlaps the track's predicted box at least this much (IoU), or when
# its centre lies within MAX_CENTRE_SHIFT face widths of the predicted centre (plus a little per missed frame).
MIN_TRACK_IOU = 0.3
MAX_CENTRE_SHIFT = 0.5
SHIFT_PER_MISSED_FRAME = 0.1
MAX_SIZE_RATIO = 1.5  # nor may its size differ more than this from the track's
# A track that found no face for more analysed frames than this is closed; a later face starts a new one
# (which the joining step below may still give back to it).
MAX_MISSED_FRAMES = 10
MOTION_SMOOTHING = 0.5  # weight of the newest sighting in the track's velocity and size
APPEARANCE_WEIGHT = 0.5  # cost of one unit of descriptor distance, in face widths of position error
APPEARANCE_SMOOTHING = 0.3  # weight of the newest descriptor in the track's appearance

MAX_JOIN_GAP = 150  # analysed frames between the end of one piece and the start of the next
MAX_JOIN_SHIFT = 1.5  # face widths between the last box of one piece and the first of the next
MAX_JOIN_DISTANCE = 0.9  # descriptor distance between the two pieces' mean appearances

FRAGMENT_MAX_FRAMES = 2  # a track seen in this many frames or fewer is a fragment, not a person
# Nor is a track that was never seen in more than FRAGMENT_MAX_FRAMES analysed frames in a row covering at least
# PERSON_MIN_SECONDS: a false face that the whole-frame search finds now and then, or a glimpse.
PERSON_MIN_SECONDS = 0.4
P_FLOOR = 0.01  # p_female is clipped to [P_FLOOR, 1 - P_FLOOR] before log-odds
TRIM = 0.25  # the person's log-odds are averaged with this share cut off at each end (interquartile mean)
Z_95 = 1.959964
SMOOTH_HALF_WINDOW = 7  # the smoothed curve averages log-odds over +- this many analysed frames of the person


def block_means(vectors: np.ndarray, side: int) -> np.ndarray:
    """(n, s*s) square face vectors -> (n, side*side) means of side x side blocks (s a multiple of side)."""
    vectors = np.asarray(vectors, dtype=np.float64)
    full = round(float(np.sqrt(vectors.shape[1]))) if vectors.ndim == 2 and vectors.shape[1] else side
    step = full // side
    return vectors.reshape(-1, side, step, side, step).mean(axis=(2, 4)).reshape(-1, side * side)


def appearance_descriptors(vectors: np.ndarray) -> list[tuple[float, ...]]:
    """``Face.descriptor`` of each row of ``face_vectors`` (or of any square side DESCRIPTOR_SIDE divides)."""
    means = block_means(vectors, DESCRIPTOR_SIDE)
    centred = means - means.mean(axis=1, keepdims=True)
    spread = centred.std(axis=1, keepdims=True)
    standard = np.divide(centred, spread, out=np.zeros_like(centred), where=spread > 0)
    return [tuple(round(float(v), DESCRIPTOR_DECIMALS) for v in row) for row in standard]


def appearance_distance(a: np.ndarray | None, b: np.ndarray | None) -> float | None:
    """Root-mean-square difference of two descriptors (0 = same, about 1.4 = unrelated), None if one is missing."""
    if a is None or b is None:
        return None
    return float(np.sqrt(np.mean((a - b) ** 2)))


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two boxes."""
    ix = max(0, min(a.x + a.w, b.x + b.w) - max(a.x, b.x))
    iy = max(0, min(a.y + a.h, b.y + b.h) - max(a.y, b.y))
    inter = ix * iy
    union = a.w * a.h + b.w * b.h - inter
    return inter / union if union > 0 else 0.0


def _centre(box: Box) -> tuple[float, float]:
    return box.x + box.w / 2, box.y + box.h / 2


def _descriptor(face: Face) -> np.ndarray | None:
    return None if face.descriptor is None else np.asarray(face.descriptor, dtype=np.float64)


@dataclass
class _Track:
    """One piece of a person: linked frame to frame, with a constant-velocity, smoothed-size prediction."""

    number: int
    box: Box
    position: int  # analysed position of the last sighting
    size: tuple[float, float]
    appearance: np.ndarray | None
    velocity: tuple[float, float] = (0.0, 0.0)  # box centre motion per analysed frame
    sightings: list[tuple[int, int]] = field(default_factory=list)  # (position, face number in its frame)
    descriptors: list[np.ndarray] = field(default_factory=list)

    def predicted(self, position: int) -> Box:
        """Where the box should be now if it kept its velocity and smoothed size."""
        steps, (cx, cy), (w, h) = position - self.position, _centre(self.box), self.size
        cx, cy = cx + self.velocity[0] * steps, cy + self.velocity[1] * steps
        return Box(round(cx - w / 2), round(cy - h / 2), round(w), round(h))

    def cost(self, face: Face, position: int) -> float | None:
        """Position error (face widths) plus weighted appearance distance, or None when the face cannot be this."""
        expected = self.predicted(position)
        ratio = face.box.w / max(expected.w, 1)
        if not 1 / MAX_SIZE_RATIO <= ratio <= MAX_SIZE_RATIO:
            return None
        (ex, ey), (fx, fy) = _centre(expected), _centre(face.box)
        shift = math.hypot(fx - ex, fy - ey) / max(expected.w, 1)
        allowed = MAX_CENTRE_SHIFT + SHIFT_PER_MISSED_FRAME * (position - self.position - 1)
        if shift > allowed and iou(expected, face.box) < MIN_TRACK_IOU:
            return None
        distance = appearance_distance(self.appearance, _descriptor(face))
        if distance is not None and distance > MAX_JOIN_DISTANCE:
            return None
        return shift + APPEARANCE_WEIGHT * (distance or 0.0)

    def update(self, face: Face, position: int, face_number: int) -> None:
        a, steps = MOTION_SMOOTHING, position - self.position
        (ox, oy), (nx, ny), (vx, vy) = _centre(self.box), _centre(face.box), self.velocity
        self.velocity = (a * (nx - ox) / steps + (1 - a) * vx, a * (ny - oy) / steps + (1 - a) * vy)
        self.size = (a * face.box.w + (1 - a) * self.size[0], a * face.box.h + (1 - a) * self.size[1])
        self.box, self.position = face.box, position
        self._see(face, position, face_number)

    def _see(self, face: Face, position: int, face_number: int) -> None:
        self.sightings.append((position, face_number))
        descriptor = _descriptor(face)
        if descriptor is not None:
            self.descriptors.append(descriptor)
            b = APPEARANCE_SMOOTHING
            self.appearance = descriptor if self.appearance is None else b * descriptor + (1 - b) * self.appearance

    @classmethod
    def start(cls, number: int, face: Face, position: int, face_number: int) -> _Track:
        track = cls(number, face.box, position, (float(face.box.w), float(face.box.h)), None)
        track._see(face, position, face_number)
        return track


def _link_frames(frames: Sequence[FrameResult]) -> list[_Track]:
    """Greedy lowest-cost matching of each frame's faces to the open tracks; ties break on track, then face."""
    closed: list[_Track] = []
    open_tracks: list[_Track] = []
    for position, frame in enumerate(frames):
        still_open = []
        for track in open_tracks:
            (still_open if position - track.position <= MAX_MISSED_FRAMES + 1 else closed).append(track)
        open_tracks = still_open
        pairs = sorted(
            (cost, track.number, face_number)
            for track in open_tracks
            for face_number, face in enumerate(frame.faces)
            if (cost := track.cost(face, position)) is not None
        )
        by_number = {track.number: track for track in open_tracks}
        used_tracks, used_faces = set(), set()
        for _, number, face_number in pairs:
            if number in used_tracks or face_number in used_faces:
                continue
            used_tracks.add(number)
            used_faces.add(face_number)
            by_number[number].update(frame.faces[face_number], position, face_number)
        for face_number, face in enumerate(frame.faces):
            if face_number not in used_faces:
                open_tracks.append(_Track.start(len(closed) + len(open_tracks) + 1, face, position, face_number))
    return sorted(closed + open_tracks, key=lambda track: track.sightings[0])


@dataclass
class _Chain:
    """The pieces of one person so far, in time order, with the sum of their descriptors."""

    pieces: list[_Track]
    descriptor_sum: np.ndarray | None = None
    descriptors: int = 0

    def add(self, piece: _Track) -> None:
        self.pieces.append(piece)
        if piece.descriptors:
            total = np.sum(piece.descriptors, axis=0)
            self.descriptor_sum = total if self.descriptor_sum is None else self.descriptor_sum + total
            self.descriptors += len(piece.descriptors)

    def appearance(self) -> np.ndarray | None:
        return None if self.descriptor_sum is None else self.descriptor_sum / self.descriptors


def _join_cost(frames: Sequence[FrameResult], chain: _Chain, then: _Track) -> float | None:
    """How well piece ``then`` continues a chain of pieces after a gap (face widths + appearance), or None."""
    last = chain.pieces[-1]
    gap = then.sightings[0][0] - last.sightings[-1][0]
    if not 0 < gap <= MAX_JOIN_GAP:
        return None
    end = frames[last.sightings[-1][0]].faces[last.sightings[-1][1]].box
    begin = frames[then.sightings[0][0]].faces[then.sightings[0][1]].box
    ratio = begin.w / max(end.w, 1)
    if not 1 / MAX_SIZE_RATIO <= ratio <= MAX_SIZE_RATIO:
        return None
    (ex, ey), (bx, by) = _centre(end), _centre(begin)
    shift = math.hypot(bx - ex, by - ey) / max(end.w, begin.w, 1)
    if shift > MAX_JOIN_SHIFT:
        return None
    piece_appearance = np.mean(then.descriptors, axis=0) if then.descriptors else None
    distance = appearance_distance(chain.appearance(), piece_appearance)
    if distance is not None and distance > MAX_JOIN_DISTANCE:
        return None
    return shift + APPEARANCE_WEIGHT * (distance or 0.0)


def _join_pieces(frames: Sequence[FrameResult], pieces: list[_Track]) -> list[_Chain]:
    """Chain the pieces in order of appearance: each continues the chain it fits best that ended before it began.

    Chains only grow at their end, so the pieces of two people at one place cannot interleave. A chain that
    ended more than MAX_JOIN_GAP frames before a piece began is out of reach for every later piece too.
    """
    chains: list[_Chain] = []
    reachable: list[int] = []
    for piece in pieces:
        start = piece.sightings[0][0]
        reachable = [n for n in reachable if start - chains[n].pieces[-1].sightings[-1][0] <= MAX_JOIN_GAP]
        costs = [(cost, n) for n in reachable if (cost := _join_cost(frames, chains[n], piece)) is not None]
        if not costs:
            reachable.append(len(chains))
            chains.append(_Chain([]))
        chains[min(costs)[1] if costs else -1].add(piece)
    return chains


def assign_tracks(frames: Sequence[FrameResult]) -> None:
    """Set ``track_id`` and ``p_female_smoothed`` on every face: one track per person as far as can be told.

    Only confirmed faces (confirmation.unconfirmed_faces) are tracked; the others keep no track id. They
    are linked frame to frame (predicted position and size, appearance when faces carry a descriptor),
    bridging up to MAX_MISSED_FRAMES missed frames; pieces are then joined across longer gaps when
    position, size and appearance agree. Ids count persons in order of first appearance. Deterministic
    and a pure function of the frame sequence, so it can be rerun on a split video's merged frames.
    """
    frames = confirmed_frames(frames)
    chains = _join_pieces(frames, _link_frames(frames))
    for track_id, chain in enumerate(chains, start=1):
        sightings = sorted(sighting for piece in chain.pieces for sighting in piece.sightings)
        faces = [frames[position].faces[number] for position, number in sightings]
        for face in faces:
            face.track_id = track_id
        positions = np.array([position for position, _ in sightings])
        for face, value in zip(faces, smoothed_p_female(positions, [f.p_female for f in faces]), strict=True):
            face.p_female_smoothed = value


def _log_odds(p_female: Sequence[float]) -> np.ndarray:
    p = np.clip(np.asarray(p_female, dtype=np.float64), P_FLOOR, 1 - P_FLOOR)
    return np.log(p / (1 - p))


def _probability(log_odds: float) -> float:
    return float(1 / (1 + math.exp(-log_odds)))


def smoothed_p_female(positions: np.ndarray, p_female: Sequence[float]) -> list[float]:
    """One person's P(female) curve: mean log-odds over their sightings within +-SMOOTH_HALF_WINDOW positions."""
    log_odds = _log_odds(p_female)
    positions = np.asarray(positions)
    low = np.searchsorted(positions, positions - SMOOTH_HALF_WINDOW, side="left")
    high = np.searchsorted(positions, positions + SMOOTH_HALF_WINDOW, side="right")
    sums = np.concatenate([[0.0], np.cumsum(log_odds)])
    return [round(_probability((sums[b] - sums[a]) / (b - a)), 4) for a, b in zip(low, high, strict=True)]


def robust_p_female(p_female: Sequence[float]) -> tuple[float, float, float]:
    """One person's P(female) from all their faces, with a 95% interval: the interquartile mean of the log-odds.

    Faces of one person in consecutive frames are not independent, so the interval's standard error
    uses the effective count n(1 - r)/(1 + r) of a series with lag-1 autocorrelation r.
    """
    log_odds = _log_odds(p_female)
    n = log_odds.size
    cut = int(TRIM * n)
    kept = np.sort(log_odds)[cut : n - cut]
    centre = float(kept.mean())
    if n < 2:
        return _probability(centre), 0.0, 1.0
    winsorized = np.clip(log_odds, kept[0], kept[-1])
    deviations = log_odds - log_odds.mean()
    denominator = float(np.dot(deviations, deviations))
    r = min(max(float(np.dot(deviations[:-1], deviations[1:]) / denominator) if denominator > 0 else 0.0, 0.0), 0.98)
    effective = max(n * (1 - r) / (1 + r), 1.0)
    error = float(winsorized.std(ddof=1)) / ((1 - 2 * cut / n) * math.sqrt(effective))
    return _probability(centre), _probability(centre - Z_95 * error), _probability(centre + Z_95 * error)


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


def is_person(positions: Sequence[int], times: Sequence[float]) -> bool:
    """Whether a track (its analysed positions and times, in order) was ever seen long enough in a row to be a person.

    That takes more than FRAGMENT_MAX_FRAMES consecutive analysed frames spanning at least PERSON_MIN_SECONDS.
    """
    run_start = 0
    for number in range(len(positions)):
        if number and positions[number] != positions[number - 1] + 1:
            run_start = number
        run = number - run_start + 1
        if run > FRAGMENT_MAX_FRAMES and times[number] - times[run_start] >= PERSON_MIN_SECONDS:
            return True
    return False


def _person_summary(track_id: int, seen: list[tuple[int, FrameResult, Face]]) -> PersonSummary:
    p_female = np.array([face.p_female for _, _, face in seen], dtype=float)
    robust, low, high = robust_p_female(p_female)
    label = label_for(robust)
    confidences = _confidences_for(label, p_female)
    return PersonSummary(
        track_id=track_id,
        frames_seen=len(seen),
        first_frame=seen[0][1].index,
        last_frame=seen[-1][1].index,
        label=label,
        mean_p_female=float(p_female.mean()),
        mean_confidence=float(confidences.mean()),
        std_confidence=float(confidences.std()),
        is_person=is_person([position for position, _, _ in seen], [frame.time_seconds for _, frame, _ in seen]),
        p_female=robust,
        confidence=max(robust, 1 - robust),
        p_female_low=low,
        p_female_high=high,
        first_time_seconds=seen[0][1].time_seconds,
        last_time_seconds=seen[-1][1].time_seconds,
    )


def _track_summaries(frames: Sequence[FrameResult]) -> list[PersonSummary]:
    sightings: dict[int, list[tuple[int, FrameResult, Face]]] = {}
    for position, frame in enumerate(frames):
        for face in frame.faces:
            if face.track_id is not None:
                sightings.setdefault(face.track_id, []).append((position, frame, face))
    return [_person_summary(track_id, sightings[track_id]) for track_id in sorted(sightings)]


def main_person(tracks: Sequence[PersonSummary]) -> PersonSummary | None:
    """The person on screen longest (fragments only when there is no person); ties go to the earlier one."""
    candidates = [track for track in tracks if track.is_person] or list(tracks)
    return min(candidates, key=lambda track: (-track.frames_seen, track.first_frame, track.track_id), default=None)


def summarize_video(frames: Sequence[FrameResult], frames_analyzed: int | None = None) -> VideoSummary:
    """Sum up a video: its label is the robust label of the person on screen longest (see ``main_person``).

    ``mean_p_female`` and the confidence figures stay face-level (all faces, the video label's confidence);
    ``p_female``/``confidence`` are the main person's (the mean over all faces when no face was confirmed).
    Standard deviations are population ones (ddof=0). ``frames_analyzed`` defaults to len(frames). Call
    ``assign_tracks`` first: faces without a track id (unconfirmed) belong to no person.
    """
    faces = [face for frame in frames for face in frame.faces]
    frames_analyzed = len(frames) if frames_analyzed is None else frames_analyzed
    frames_with_faces = sum(1 for frame in frames if frame.faces)
    tracks = _track_summaries(frames)
    main = main_person(tracks)
    label = mean_p_female = mean_confidence = std_confidence = p_main = None
    if faces:
        p_female = np.array([face.p_female for face in faces], dtype=float)
        mean_p_female = float(p_female.mean())
        p_main = main.p_female if main is not None else mean_p_female
        label, confidences = label_for(p_main), _confidences_for(label_for(p_main), p_female)
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
        persons=[track for track in tracks if track.is_person],
        fragments=[track for track in tracks if not track.is_person],
        main_track_id=main.track_id if main is not None else None,
        p_female=p_main,
        confidence=None if p_main is None else max(p_main, 1 - p_main),
        unconfirmed_faces=sum(face.track_id is None for face in faces),
    )
