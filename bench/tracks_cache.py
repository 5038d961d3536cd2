"""The per-frame cache of bench/tracks.py: every frame of a clip analysed once, frontal faces and profile prototype.

Each face keeps its box, P(female), its first PCA coefficients and a 20x20 thumbnail (block means of the model's
100x100 vector), from which the tracker's appearance descriptor is computed exactly as at inference.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import cv2
import numpy as np
from joblib import Parallel, delayed

from workers.pipeline import tracking
from workers.pipeline.config import DEFAULT_DETECTION
from workers.pipeline.detection import to_gray
from workers.pipeline.haar import VideoFaceDetector, overlap
from workers.pipeline.model import cached_model
from workers.pipeline.types import Box, Face, FrameResult, label_for
from workers.pipeline.video import FrameReader

CACHE_VERSION = "2"  # 2: thumbnails of the plain crop whatever the recipe
PCA_KEPT = 20
PROFILE_FILE = "haarcascade_profileface.xml"
PROFILE_FACE_PX = 40  # a window around a lost face is shrunk so the face is about this wide
PROFILE_MARGIN = 0.6  # the window around the lost face's last box, as a fraction of its size
PROFILE_NEIGHBORS = 3
THUMB_SIDE = 20  # cached faces are 20x20 block means of the 100x100 vector: any descriptor side dividing 20
FACE_KEYS = ("frame", "box", "p_female", "pca", "thumb")


def cache_path(cache_dir: Path, clip: Path, model_sha: str) -> Path:
    """One npz per clip, named after what its contents depend on."""
    key = f"{CACHE_VERSION}|{model_sha}|{DEFAULT_DETECTION}|{clip.stat().st_size}"
    return cache_dir / f"{clip.stem}-{hashlib.sha256(key.encode()).hexdigest()[:12]}.npz"


def describe(model, gray: np.ndarray, boxes: list[Box]) -> dict[str, np.ndarray]:
    """P(female), the first PCA coefficients and a 20x20 thumbnail (block means) of each box."""
    vectors = model.face_vectors(gray, boxes)
    pixels = model.recipe.tracking_pixels(gray, boxes, vectors)
    compiled = model.compiled
    pca = (vectors - compiled.mean) @ compiled.components[:PCA_KEPT].T if len(boxes) else np.empty((0, PCA_KEPT))
    return {
        "box": np.array([[b.x, b.y, b.w, b.h] for b in boxes], dtype=np.int32).reshape(-1, 4),
        "p_female": model.predict_p_female(vectors),
        "pca": np.asarray(pca, dtype=np.float32).reshape(-1, PCA_KEPT),
        "thumb": tracking.block_means(pixels, THUMB_SIDE).astype(np.float32),
    }


def profile_boxes(cascade: cv2.CascadeClassifier, gray: np.ndarray, lost: list[Box]) -> list[Box]:
    """Profile faces (the cascade on the window and on its mirror) around each lost face's last box."""
    height, width = gray.shape
    found: list[Box] = []
    for box in lost:
        margin = PROFILE_MARGIN * box.w
        x0, y0 = max(int(box.x - margin), 0), max(int(box.y - margin), 0)
        x1, y1 = min(int(box.x + box.w + margin), width), min(int(box.y + box.h + margin), height)
        factor = min(1.0, PROFILE_FACE_PX / box.w)
        window = cv2.resize(gray[y0:y1, x0:x1], None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)
        size = box.w * factor
        for mirrored in (False, True):
            image = window[:, ::-1] if mirrored else window
            hits = cascade.detectMultiScale(
                np.ascontiguousarray(image),
                scaleFactor=1.1,
                minNeighbors=PROFILE_NEIGHBORS,
                minSize=(int(size / 1.4), int(size / 1.4)),
                maxSize=(int(size * 1.4) + 1, int(size * 1.4) + 1),
            )
            for fx, fy, fw, fh in [tuple(int(v) for v in row) for row in hits]:
                fx = image.shape[1] - fx - fw if mirrored else fx
                x, y, w, h = (round(v / factor) for v in (fx, fy, fw, fh))
                candidate = Box(x0 + x, y0 + y, w, h)
                if all(overlap(candidate, kept) < 0.5 for kept in found):
                    found.append(candidate)
    return found


def analyse_clip(clip: Path, models: list) -> list[dict[str, np.ndarray]]:
    """Every frame of one clip: frontal faces as the pipeline finds them, plus the profile prototype's finds.

    Detection does not depend on the model, so one pass over the clip describes its faces with every model given.
    """
    detector = VideoFaceDetector(DEFAULT_DETECTION, 1)
    profile = cv2.CascadeClassifier(cv2.data.haarcascades + PROFILE_FILE)
    frontal = [{key: [] for key in FACE_KEYS} for _ in models]
    side = [{key: [] for key in FACE_KEYS} for _ in models]
    indexes, times, triggered = [], [], []
    previous: list[Box] = []
    for index, time_seconds, bgr in FrameReader(clip):
        gray = to_gray(bgr)
        boxes = detector.detect(gray, index)
        # The prototype's trigger: fewer frontal faces than the frame before; it looks where they were.
        lost = [old for old in previous if all(tracking.iou(old, new) < 0.3 for new in boxes)]
        turned = profile_boxes(profile, gray, lost) if len(boxes) < len(previous) and lost else None
        triggered += [len(indexes)] if turned is not None else []
        for model, model_frontal, model_side in zip(models, frontal, side, strict=True):
            _append(model_frontal, len(indexes), describe(model, gray, boxes))
            if turned is not None:
                _append(model_side, len(indexes), describe(model, gray, turned))
        previous = boxes if boxes or not previous else previous  # keep the last sighting through a gap
        indexes.append(index)
        times.append(time_seconds)
    common = {"index": np.array(indexes), "time": np.array(times), "triggered": np.array(triggered, dtype=np.int64)}
    results = []
    for model_frontal, model_side in zip(frontal, side, strict=True):
        arrays = dict(common)
        for prefix, target in (("", model_frontal), ("profile_", model_side)):
            for key, parts in target.items():
                arrays[prefix + key] = np.concatenate(parts) if parts else np.empty((0,))
        results.append(arrays)
    return results


def _append(target: dict[str, list], position: int, described: dict[str, np.ndarray]) -> None:
    target["frame"].append(np.full(len(described["p_female"]), position, dtype=np.int64))
    for key in FACE_KEYS[1:]:
        target[key].append(described[key])


def _analyse_and_cache(clip: Path, model_dirs: list[Path], paths: list[Path]) -> str:
    start = time.perf_counter()
    cv2.setNumThreads(1)
    results = analyse_clip(clip, [cached_model(directory) for directory in model_dirs])
    for path, arrays in zip(paths, results, strict=True):
        np.savez_compressed(path, **arrays)
    return f"analysed {clip.name}: {len(results[0]['index'])} frames in {time.perf_counter() - start:.0f} s"


def load_clips(
    videos: Path, names: list[str], cache_dir: Path, model_dirs: list[Path], n_jobs: int = 2
) -> list[dict[str, dict[str, np.ndarray]]]:
    """The cached analysis of every clip for each model, analysing (and caching) what is not cached yet.

    A clip missing from any model's cache is decoded and searched once for all those models, in ``n_jobs``
    processes. Returns one {clip name: arrays} per model, in the order given.
    """
    cache_dir.mkdir(parents=True, exist_ok=True)
    models = [cached_model(directory) for directory in model_dirs]
    paths = {name: [cache_path(cache_dir, videos / name, model.sha256) for model in models] for name in names}
    todo = []
    for name in names:
        missing = [i for i, path in enumerate(paths[name]) if not path.is_file()]
        if missing:
            todo.append(
                delayed(_analyse_and_cache)(
                    videos / name, [model_dirs[i] for i in missing], [paths[name][i] for i in missing]
                )
            )
    for line in Parallel(n_jobs=n_jobs, return_as="generator_unordered")(todo):
        print(line, flush=True)
    loaded: list[dict[str, dict[str, np.ndarray]]] = [{} for _ in models]
    for name in names:
        for position, path in enumerate(paths[name]):
            with np.load(path) as data:
                loaded[position][name] = {key: data[key] for key in data.files}
    return loaded


def frames_of(clip: dict[str, np.ndarray], with_profile: bool = False, descriptors: bool = True) -> list[FrameResult]:
    """FrameResults rebuilt from the cache (optionally with the profile prototype's faces, without descriptors)."""
    frames = [FrameResult(int(i), float(t)) for i, t in zip(clip["index"], clip["time"], strict=True)]
    for prefix in ("", "profile_") if with_profile else ("",):
        looks = tracking.appearance_descriptors(clip[prefix + "thumb"])
        for position, box, p, descriptor in zip(
            clip[prefix + "frame"], clip[prefix + "box"], clip[prefix + "p_female"], looks, strict=True
        ):
            p = float(p)
            face = Face(Box(*(int(v) for v in box)), label_for(p), p, max(p, 1 - p))
            face.descriptor = descriptor if descriptors else None
            frames[int(position)].faces.append(face)
    return frames
