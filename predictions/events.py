"""Live job events: channel group names, message builders and the throttled progress sender.

Workers send ids, never URLs: a progress message names its latest kept frame by ``latest_frame_index`` and
the consumer turns that into ``latest_frame_url`` before the browser sees it (``browser_message``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from workers.pipeline.types import Face, FrameResult

logger = logging.getLogger(__name__)

# The consumer method that receives a group event ("job.event" -> JobProgressConsumer.job_event).
EVENT_TYPE = "job.event"


def job_group(public_id) -> str:
    """The channel group of one job: ``job.<uuid>``."""
    return f"job.{public_id}"


def face_dict(*, box: tuple[int, int, int, int], label: str, p_female: float, confidence: float, track_id) -> dict:
    """One face as the snapshot and progress messages show it."""
    return {
        "box": [int(value) for value in box],
        "label": label,
        "p_female": round(float(p_female), 4),
        "confidence": round(float(confidence), 4),
        "track_id": track_id,
    }


def timeline_point(*, frame_index: int, time_seconds: float, mean_p_female: float | None, faces: int) -> list:
    """One timeline entry: ``[frame_index, time_seconds, mean_p_female_or_null, n_faces]``."""
    mean = None if mean_p_female is None else round(float(mean_p_female), 4)
    return [int(frame_index), round(float(time_seconds), 3), mean, int(faces)]


def mean_p_female(faces: list[Face]) -> float | None:
    """The mean p_female of one frame's faces, None for a frame without faces."""
    return sum(face.p_female for face in faces) / len(faces) if faces else None


def frame_point(frame: FrameResult) -> list:
    """The timeline entry of one analysed frame."""
    return timeline_point(
        frame_index=frame.index,
        time_seconds=frame.time_seconds,
        mean_p_female=mean_p_female(frame.faces),
        faces=len(frame.faces),
    )


def frame_faces(frame: FrameResult) -> list[dict]:
    """The faces of one analysed frame as messages show them."""
    return [
        face_dict(
            box=(face.box.x, face.box.y, face.box.w, face.box.h),
            label=face.label,
            p_female=face.p_female,
            confidence=face.confidence,
            track_id=face.track_id,
        )
        for face in frame.faces
    ]


def progress_message(
    *,
    frames_done: int,
    frames_total: int,
    faces_found: int,
    points: list[list],
    latest_faces: list[dict],
    latest_frame_index: int | None,
) -> dict[str, Any]:
    """A ``progress`` message as workers send it: counters of the whole job plus every frame since the last one."""
    return {
        "type": "progress",
        "frames_done": frames_done,
        "frames_total": frames_total,
        "faces_found": faces_found,
        "points": points,
        "latest_faces": latest_faces,
        "latest_frame_index": latest_frame_index,
    }


def browser_message(message: dict[str, Any], frame_url: Callable[[int], str]) -> dict[str, Any]:
    """The message as the page receives it: a progress message's ``latest_frame_index`` becomes its URL."""
    if message.get("type") != "progress" or "latest_frame_index" not in message:
        return message
    forwarded = dict(message)
    index = forwarded.pop("latest_frame_index")
    forwarded["latest_frame_url"] = None if index is None else frame_url(index)
    return forwarded


def finished_message(snapshot: dict[str, Any]) -> dict[str, Any]:
    """The ``finished`` message: the job's final snapshot."""
    return {"type": "finished", "job": snapshot}


def send_job_event(public_id, message: dict[str, Any]) -> None:
    """Send one message to everyone watching a job; a broken channel layer never breaks the job itself."""
    try:
        async_to_sync(get_channel_layer().group_send)(job_group(public_id), {"type": EVENT_TYPE, "message": message})
    except Exception:  # the socket only carries hints: the database stays the truth
        logger.warning("Could not send a %s event for job %s", message.get("type"), public_id, exc_info=True)


class ProgressThrottle:
    """Sends progress of one job at most ``per_second`` times a second; points wait for the next send, never lost.

    The one throttle of every run: a job's frames, a split video's parts and a study's videos.
    """

    def __init__(
        self,
        public_id,
        *,
        per_second: float,
        send: Callable[[Any, dict], None] = send_job_event,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.public_id = public_id
        self.min_interval = 1.0 / per_second if per_second > 0 else 0.0
        self._send = send
        self._clock = clock
        self._last_sent: float | None = None
        self._points: list[list] = []
        self._pending = False
        self._latest_faces: list[dict] = []
        self._latest_frame_index: int | None = None

    def add(
        self, *, points: list[list] | None = None, latest_faces: list[dict] | None = None, latest_frame_index=None
    ) -> None:
        """Note new progress: the points of newly recorded frames, the faces of the latest one, a kept frame."""
        self._pending = True
        if points:
            self._points.extend(points)
            self._latest_faces = latest_faces or []
        if latest_frame_index is not None:
            self._latest_frame_index = latest_frame_index

    def send(
        self, *, frames_done: int, frames_total: int, faces_found: int, force: bool = False, extra: dict | None = None
    ) -> bool:
        """Send what was added unless the last send was too recent (``force`` for the last one); ``extra`` joins it."""
        now = self._clock()
        if not self._pending and not force:
            return False
        if not force and self._last_sent is not None and now - self._last_sent < self.min_interval:
            return False
        message = progress_message(
            frames_done=frames_done,
            frames_total=frames_total,
            faces_found=faces_found,
            points=self._points,
            latest_faces=self._latest_faces,
            latest_frame_index=self._latest_frame_index,
        )
        self._send(self.public_id, message | (extra or {}))
        self._last_sent = now
        self._points = []
        self._pending = False
        return True
