"""Media made on the fly for tests and benchmarks: a real public-domain face (skimage's astronaut) on a background.

Not used by the analysis itself; it needs scikit-image (requirements-dev.txt).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import chain
from pathlib import Path

import cv2
import numpy as np
from skimage import data

# The astronaut's head and shoulders; the Haar cascade finds her face in it at any size used here.
ASTRONAUT_HEAD = (slice(0, 250), slice(110, 340))


def astronaut_bgr() -> np.ndarray:
    """skimage's astronaut photo (512x512, public domain) in OpenCV's BGR order."""
    return cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)


def moving_face_frames(count: int, size: tuple[int, int] = (640, 360), head_width: int = 180) -> list[np.ndarray]:
    """Frames with the astronaut's head sliding left to right over a fixed textured background."""
    return list(iter_moving_face_frames(count, size, head_width))


def iter_moving_face_frames(
    count: int, size: tuple[int, int] = (640, 360), head_width: int = 180
) -> Iterator[np.ndarray]:
    """The frames of moving_face_frames one at a time, for clips too long to hold in memory."""
    width, height = size
    head = astronaut_bgr()[ASTRONAUT_HEAD]
    head = cv2.resize(head, (head_width, round(head.shape[0] * head_width / head.shape[1])))
    rng = np.random.default_rng(7)
    background = cv2.GaussianBlur(rng.integers(40, 200, (height, width, 3), dtype=np.uint8), (0, 0), 6)
    for number in range(count):
        frame = background.copy()
        x = round((width - head.shape[1]) * number / max(count - 1, 1))
        y = (height - head.shape[0]) // 2 + round(10 * np.sin(number / 4))
        frame[y : y + head.shape[0], x : x + head.shape[1]] = head
        yield frame


def write_video(path: Path, frames: Iterable[np.ndarray], fps: float = 25.0, fourcc: str = "mp4v") -> Path:
    """Write frames with cv2.VideoWriter and return the path."""
    frames = iter(frames)
    first = next(frames)
    height, width = first.shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (width, height))
    if not writer.isOpened():
        raise RuntimeError(f"OpenCV cannot write {fourcc} to {path}")
    for frame in chain([first], frames):
        writer.write(frame)
    writer.release()
    return path


def write_moving_face_clip(path: Path, count: int = 40, size: tuple[int, int] = (640, 360)) -> Path:
    """An mp4 of the astronaut's head moving across the frame."""
    return write_video(path, iter_moving_face_frames(count, size))


def face_collection_images(count: int, seed: int = 0, size: int = 200) -> list[tuple[np.ndarray, int]]:
    """``count`` tight face crops with a gender code: 1 the astronaut's head, 0 its mirror image.

    Each crop is shifted, scaled and noised a little (seeded), so a model can tell the two apart well but not
    perfectly: material for training and evaluation code, not a claim about anyone's gender.
    """
    rng = np.random.default_rng(seed)
    head = cv2.cvtColor(astronaut_bgr(), cv2.COLOR_BGR2GRAY)[0:230, 110:340]
    images = []
    for number in range(count):
        gender = number % 2
        dx, dy = (int(value) for value in rng.integers(-12, 13, size=2))
        crop = head[max(dy, 0) : 230 + min(dy, 0), max(dx, 0) : 230 + min(dx, 0)]
        crop = cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA).astype(float)
        crop += rng.normal(0, 12, crop.shape)
        image = np.clip(crop, 0, 255).astype(np.uint8)
        images.append((image if gender == 1 else image[:, ::-1].copy(), gender))
    return images


def write_face_collection(folder: Path, count: int, seed: int = 0) -> list:
    """Write face_collection_images as JPEGs and return their FaceRecords, races and ages spread over the set."""
    from .datasets import FaceRecord

    folder.mkdir(parents=True, exist_ok=True)
    ages = (8, 15, 25, 45, 70)
    records = []
    for number, (image, gender) in enumerate(face_collection_images(count, seed)):
        path = folder / f"face_{number:04d}.jpg"
        cv2.imwrite(str(path), image)
        records.append(FaceRecord(path, gender=gender, race=(number // 2) % 3, age=ages[(number // 2) % len(ages)]))
    return records
