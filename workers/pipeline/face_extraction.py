"""Training faces: each image padded, its face found by the named detector as at inference, and vectorised.

Detections are cached per file content and detection settings (var/cache), so a rerun skips the slow part.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np
from joblib import Parallel, delayed
from tqdm import tqdm

from .config import FACE_SIZE, HAAR, DetectionSettings
from .datasets import FaceRecord
from .detection import make_detector
from .preprocessing import face_vector
from .types import Box

logger = logging.getLogger(__name__)

# Pre-cropped training faces fill the whole image, where the Haar cascade rarely fires; a replicated border
# gives it the surroundings it expects (about 93% found on a 400-face sample, the same as a black border,
# and the crops look like the ones a real photo gives at inference).
TRAINING_PAD = 50
TRAINING_PAD_MODE = "replicate"
_PAD_MODES = {"replicate": cv2.BORDER_REPLICATE, "constant": cv2.BORDER_CONSTANT}
CACHE_DIR_ENV = "GENREC_CACHE_DIR"
REPO_ROOT = Path(__file__).resolve().parents[2]
EXTRACTION_CHUNK = 200


class ExtractionOptions(Protocol):
    """What face extraction reads of a run's options (TrainingOptions has these fields)."""

    pad: int
    pad_mode: str
    detection: DetectionSettings


@dataclass
class FaceFeatures:
    """Face vectors of the records whose face was found, plus the records where none was."""

    records: list[FaceRecord]
    vectors: np.ndarray  # (n, 10000) float32
    no_face: list[FaceRecord]


def cache_dir() -> Path:
    """Where detection results are cached between runs (var/cache, gitignored) unless GENREC_CACHE_DIR is set."""
    return Path(os.environ.get(CACHE_DIR_ENV) or REPO_ROOT / "var" / "cache")


def pad_image(gray: np.ndarray, pad: int, pad_mode: str) -> np.ndarray:
    """Add a border around a pre-cropped face so the Haar cascade sees it whole."""
    return cv2.copyMakeBorder(gray, pad, pad, pad, pad, _PAD_MODES[pad_mode], value=0)


def largest_box(boxes: Sequence[Box]) -> Box | None:
    """The biggest detection, the training face of a single-face image."""
    return max(boxes, key=lambda box: box.w * box.h, default=None)


# The only detection settings a single full-image search uses; video tracking knobs must not void the cache.
_CACHED_DETECTION_FIELDS = ("scale_factor", "min_neighbors", "min_size", "detect_width")


def _settings_key(options: ExtractionOptions) -> str:
    detection = {name: getattr(options.detection, name) for name in _CACHED_DETECTION_FIELDS}
    if options.detection.detector != HAAR:  # keyed only when not Haar, so the caches made before the name stay valid
        detection["detector"] = options.detection.detector
    settings = {"pad": options.pad, "pad_mode": options.pad_mode, "detection": detection}
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]


def file_md5(path: Path) -> str:
    """Hex md5 of a file: the cache key of its detection, so renamed or moved copies still hit the cache."""
    return hashlib.md5(Path(path).read_bytes()).hexdigest()


def _extract_chunk(
    paths: Sequence[Path], cached_boxes: Sequence[list[int] | None | bool], options: ExtractionOptions
) -> list[tuple[list[int] | None, np.ndarray | None]]:
    """Detect (unless cached) and vectorise the faces of a chunk of images; runs in a worker process."""
    detector = make_detector(options.detection)  # built here: worker processes cannot share OpenCV objects
    results = []
    for path, cached in zip(paths, cached_boxes, strict=True):
        gray = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        if gray is None:
            logger.warning("could not read image %s", path)
            results.append((None, None))
            continue
        padded = pad_image(gray, options.pad, options.pad_mode)
        if cached is False:  # never detected with these settings
            box = largest_box(detector.detect(padded, 0))
            coords = [box.x, box.y, box.w, box.h] if box else None
        else:
            coords = cached
        results.append((coords, face_vector(padded, Box(*coords)) if coords else None))
    return results


def extract_faces(records: Sequence[FaceRecord], options: ExtractionOptions, desc: str = "faces") -> FaceFeatures:
    """Find each image's face with the named detector and return the shared preprocessing's vectors."""
    cache_file = cache_dir() / f"boxes-{_settings_key(options)}.json"
    cache: dict[str, list[int] | None] = json.loads(cache_file.read_text()) if cache_file.is_file() else {}
    digests = [file_md5(record.path) for record in records]
    cached = [cache.get(digest, False) for digest in digests]
    chunks = [
        range(start, min(start + EXTRACTION_CHUNK, len(records))) for start in range(0, len(records), EXTRACTION_CHUNK)
    ]
    jobs = (
        delayed(_extract_chunk)([records[i].path for i in chunk], [cached[i] for i in chunk], options)
        for chunk in chunks
    )
    # Two processes: the machines this trains on have two cores, and Haar detection is the slow part.
    outputs = Parallel(n_jobs=min(2, os.cpu_count() or 1), return_as="generator")(jobs)
    kept, vectors, no_face = [], [], []
    with tqdm(total=len(records), desc=f"extracting {desc}", unit="img") as progress:
        for chunk, results in zip(chunks, outputs, strict=True):
            for index, (coords, vector) in zip(chunk, results, strict=True):
                cache[digests[index]] = coords
                if vector is None:
                    no_face.append(records[index])
                else:
                    kept.append(records[index])
                    vectors.append(vector)
            progress.update(len(chunk))
    cache_file.parent.mkdir(parents=True, exist_ok=True)
    cache_file.write_text(json.dumps(cache))
    matrix = np.stack(vectors) if vectors else np.empty((0, FACE_SIZE * FACE_SIZE), np.float32)
    return FaceFeatures(records=kept, vectors=matrix, no_face=no_face)
