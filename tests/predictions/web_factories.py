"""Rows and files for the web tests: finished jobs with detections, a timeline and a kept annotated frame."""

from __future__ import annotations

import io
from pathlib import Path

import cv2
import numpy as np
from django.utils import timezone
from PIL import Image

from predictions import media
from predictions.models import AnalysedFrame, Detection, Job


def png_bytes(width: int = 64, height: int = 48) -> bytes:
    """A small real PNG (a gradient), as an upload would send it."""
    gradient = np.tile(np.linspace(0, 255, width, dtype=np.uint8), (height, 1))
    buffer = io.BytesIO()
    Image.fromarray(np.dstack([gradient, gradient[::-1], gradient])).save(buffer, format="PNG")
    return buffer.getvalue()


def jpeg_bytes(width: int = 64, height: int = 48) -> bytes:
    """A small real JPEG."""
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (90, 120, 200)).save(buffer, format="JPEG")
    return buffer.getvalue()


def make_job(
    owner, *, name: str = "holiday.png", kind: str = Job.Kind.IMAGE, status: str = Job.Status.SUCCEEDED
) -> Job:
    """A job of `owner` as the worker leaves it: one face detected, its timeline row and its annotated frame."""
    now = timezone.now()
    finished = status in Job.FINAL_STATUSES
    job = Job.objects.create(
        owner=owner,
        kind=kind,
        status=status,
        original_name=name,
        frames_total=1,
        frames_done=1 if finished else 0,
        faces_found=1,
        width=64,
        height=48,
        started_at=now,
        finished_at=now if finished else None,
        result_frames=[0],
        summary={"label": "female", "mean_confidence": 0.9, "std_confidence": 0.0, "persons": []},
    )
    AnalysedFrame.objects.create(job=job, frame_index=0, time_seconds=0.0, faces=1, mean_p_female=0.9)
    Detection.objects.create(
        job=job, frame_index=0, face_index=0, x=4, y=5, w=30, h=30, label="female", p_female=0.9, confidence=0.9
    )
    media.save(job.result_frame_key(0), jpeg_bytes())
    return job


def astronaut_video(path: Path, *, fourcc: str, frames: int = 30, size: int = 160, fps: float = 10.0) -> Path:
    """A short clip of a real face photo (scikit-image's public-domain astronaut) sliding across the frame."""
    from skimage import data

    face = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)
    face = cv2.resize(face, (size, size))
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (size, size))
    assert writer.isOpened(), f"OpenCV cannot write {fourcc} here"
    for index in range(frames):
        writer.write(np.roll(face, 3 * index, axis=1))
    writer.release()
    return path
