"""Inputs for jobs-engine tests: a generated face clip, a tiny trained model, validated uploads."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from skimage import data

from predictions import media
from predictions.models import Job
from predictions.validators import validate_upload
from workers.pipeline.analysis import face_from_p_female
from workers.pipeline.model import build_estimator, save_model
from workers.pipeline.types import Box, FrameResult

CLIP_SIZE = (360, 280)
FACE_SIDE = 240  # astronaut() scaled so the default cascade settings find and then track its face


def astronaut_bgr() -> np.ndarray:
    """scikit-image's public-domain astronaut photo, scaled down, in BGR."""
    return cv2.resize(cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR), (FACE_SIDE, FACE_SIDE))


def write_face_clip(path: Path, *, frames: int, fps: float = 25.0, blank_every: int = 0) -> Path:
    """An mp4 with the astronaut sliding right over a gray background; every ``blank_every``-th frame has no face."""
    width, height = CLIP_SIZE
    face = astronaut_bgr()
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    try:
        for index in range(frames):
            frame = np.full((height, width, 3), 90, np.uint8)
            if not (blank_every and index % blank_every == blank_every - 1):
                left = (index * 2) % (width - FACE_SIDE)
                frame[20 : 20 + FACE_SIDE, left : left + FACE_SIDE] = face
            writer.write(frame)
    finally:
        writer.release()
    return path


def write_face_image(path: Path) -> Path:
    """A JPEG of the astronaut on a gray background."""
    width, height = CLIP_SIZE
    frame = np.full((height, width, 3), 90, np.uint8)
    frame[20 : 20 + FACE_SIDE, 60 : 60 + FACE_SIDE] = astronaut_bgr()
    cv2.imwrite(str(path), frame)
    return path


def train_tiny_model(directory: Path) -> Path:
    """A real (if meaningless) PCA + SVM model trained in a second on seeded noise, saved with its manifest."""
    rng = np.random.default_rng(0)
    vectors = rng.random((40, 100 * 100), dtype=np.float32)
    labels = np.array([0, 1] * 20)
    vectors[labels == 1, :5000] += 0.5  # a learnable difference, so probabilities are not all 0.5
    estimator = build_estimator(n_components=5).fit(vectors, labels)
    save_model(estimator, directory, {"name": "tiny-test-model"})
    return directory


def validated_upload(path: Path, name: str | None = None):
    """The ValidatedUpload the web side would hand to job_create: the file stored once under uploads/ and checked."""
    upload = SimpleUploadedFile(name or path.name, path.read_bytes())
    return validate_upload(upload)


def session_headers(client, user) -> list[tuple[bytes, bytes]]:
    """Websocket handshake headers of a signed-in browser on an allowed origin."""
    client.force_login(user)
    cookie = f"sessionid={client.cookies['sessionid'].value}"
    return [(b"cookie", cookie.encode()), (b"origin", b"http://localhost")]


def make_job(owner, *, upload: bool = True, upload_bytes: bytes = b"not really a video", **fields):
    """A Job row (a 40-frame video by default) with its upload stored under uploads/; nothing is queued."""
    values = {"kind": Job.Kind.VIDEO, "original_name": "clip.mp4", "frames_total": 40, "fps": 25.0}
    values.update(fields)
    job = Job.objects.create(owner=owner, upload_name=f"{uuid.uuid4().hex}.mp4" if upload else "", **values)
    if upload:
        media.save(job.upload_key, upload_bytes)
    return job


def face(x: int = 10, p_female: float = 0.8):
    """One classified face at (x, 10), 40 px wide."""
    return face_from_p_female(Box(x, 10, 40, 40), p_female)


def frames(indexes, *, faces_per_frame=1, fps: float = 25.0):
    """FrameResults at the given indexes, each with ``faces_per_frame`` faces (0 for a frame without faces)."""
    return [
        FrameResult(index=index, time_seconds=index / fps, faces=[face(x=10 + 60 * n) for n in range(faces_per_frame)])
        for index in indexes
    ]


def wait_for_job(job: Job, *, until: Callable[[Job], bool], limit_seconds: float = 120.0) -> Job:
    """Poll the database until ``until(job)`` holds; fail with the job's state if it never does."""
    deadline = time.monotonic() + limit_seconds
    while True:
        job.refresh_from_db()
        if until(job):
            return job
        if time.monotonic() > deadline:
            pytest.fail(f"job stuck at {job.status} {job.frames_done}/{job.frames_total}: {job.error}")
        time.sleep(0.1)
