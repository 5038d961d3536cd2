"""Model variants of the PCA -> SVM family, chosen on a validation split carved out of the training side only.

The shipped model's manifest fixes the train/test split; this script re-creates it, never reads an image of
the test side, and splits the training side again into fit / validation records. Faces are found as at
inference (the training detection cache in var/cache), aligned / normalised / featurised per variant, and
each variant is scored on the validation faces: adults' accuracy, ROC AUC and worst race group, ECE on all
ages, eyes-found rate and the CPU milliseconds per face of alignment + features. Every run is appended to
var/model_variants/results.jsonl, so the count of variants tried is the file's length.

    nice -n 10 .venv/bin/python bench/model_variants.py --list
    nice -n 10 .venv/bin/python bench/model_variants.py --variants plain aligned --fit-faces 4000
    nice -n 10 .venv/bin/python bench/model_variants.py --variants aligned --fit-faces 0   # all fit faces
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import sys
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from workers.pipeline.alignment import AlignmentSettings  # noqa: E402
from workers.pipeline.datasets import read_dataset  # noqa: E402
from workers.pipeline.evaluation import evaluate_with_adults  # noqa: E402
from workers.pipeline.face_extraction import _settings_key, cache_dir, extract_faces, file_md5, pad_image  # noqa: E402
from workers.pipeline.features import feature_matrix  # noqa: E402
from workers.pipeline.model import build_estimator  # noqa: E402
from workers.pipeline.preprocessing import Preprocessing, face_image, prepared_face  # noqa: E402
from workers.pipeline.training import (  # noqa: E402
    NAMED_RECIPES,
    TrainingOptions,
    sample_weights,
    split_records,
    stratified_subset,
)
from workers.pipeline.types import Box  # noqa: E402

OUT = ROOT / "var" / "model_variants"
VALIDATION_SHARE = 0.2
VALIDATION_SEED_OFFSET = 1  # the validation split's seed is the manifest's seed + 1
SHIPPED_SVM = {"kernel": "poly", "C": 1, "gamma": 0.001, "coef0": 1}
EYES = AlignmentSettings()
# Quicker eye searches (fewer scales, fewer neighbours asked for): cost and eyes found in bench/README.md.
QUICK_EYES = {
    "quick": dataclasses.replace(EYES, scale_factor=1.3, min_neighbors=1),
    "s120n2": dataclasses.replace(EYES, scale_factor=1.2, min_neighbors=2),
    "s120n3": dataclasses.replace(EYES, scale_factor=1.2, min_neighbors=3),
    "s125n3": dataclasses.replace(EYES, scale_factor=1.25, min_neighbors=3),
    "s120n2lin": dataclasses.replace(EYES, scale_factor=1.2, min_neighbors=2, work_interpolation="linear"),
    # Each eye searched for in its own half (the default scales and neighbours), on a linearly resampled box:
    # the default model's search, taken from its named recipe so the two never drift apart.
    "splitlin": NAMED_RECIPES["splitlin-aligned-pixels50-hog-250"]["recipe"].preprocessing.alignment,
}


@dataclasses.dataclass(frozen=True)
class Variant:
    """One candidate: preprocessing, features, PCA size, SVM parameters, augmentation and balance."""

    alignment: AlignmentSettings | None = None
    photometric: str = "none"
    features: tuple[str, ...] = ("pixels",)
    n_components: int = 150
    svm: tuple[tuple[str, Any], ...] = tuple(SHIPPED_SVM.items())
    flip: bool = True
    video_copies: int = 0  # extra copies per face with video-like box jitter, blur and JPEG blocks
    balance: str = "none"


def _svm(**params: Any) -> tuple[tuple[str, Any], ...]:
    return tuple({"coef0": 0, **params}.items())


RBF = _svm(kernel="rbf", C=10, gamma="scale")
VARIANTS: dict[str, Variant] = {
    "plain": Variant(),  # the shipped recipe
    "plain-clahe": Variant(photometric="clahe"),
    "plain-equalize": Variant(photometric="equalize"),
    "aligned": Variant(alignment=EYES),
    "aligned-clahe": Variant(alignment=EYES, photometric="clahe"),
    "aligned-equalize": Variant(alignment=EYES, photometric="equalize"),
    "aligned-rbf": Variant(alignment=EYES, svm=RBF),
    "plain-hog": Variant(features=("hog",), svm=RBF),
    "aligned-hog": Variant(alignment=EYES, features=("hog",), svm=RBF),
    "aligned-lbp": Variant(alignment=EYES, features=("lbp",), svm=RBF),
    "aligned-pixels-hog": Variant(alignment=EYES, features=("pixels", "hog"), svm=RBF),
    "aligned-hog-lbp": Variant(alignment=EYES, features=("hog", "lbp"), svm=RBF),
    "aligned-pixels-hog-lbp": Variant(alignment=EYES, features=("pixels", "hog", "lbp"), svm=RBF),
    "plain-pixels-hog": Variant(features=("pixels", "hog"), svm=RBF),
    "aligned-pixels-hog-c3": Variant(
        alignment=EYES, features=("pixels", "hog"), svm=_svm(kernel="rbf", C=3, gamma="scale")
    ),
    "aligned-pixels-hog-c30": Variant(
        alignment=EYES, features=("pixels", "hog"), svm=_svm(kernel="rbf", C=30, gamma="scale")
    ),
    "aligned-pixels-hog-250": Variant(alignment=EYES, features=("pixels", "hog"), n_components=250, svm=RBF),
    "plain-pixels-hog-250": Variant(features=("pixels", "hog"), n_components=250, svm=RBF),
    "aligned-pixels-hog-video": Variant(alignment=EYES, features=("pixels", "hog"), svm=RBF, video_copies=1),
    "aligned-pixels-hog-group": Variant(alignment=EYES, features=("pixels", "hog"), svm=RBF, balance="group"),
    "aligned-clahe-pixels-hog": Variant(alignment=EYES, photometric="clahe", features=("pixels", "hog"), svm=RBF),
}
VARIANTS |= {
    f"{name}-aligned-pixels-hog-250": Variant(alignment=eyes, features=("pixels", "hog"), n_components=250, svm=RBF)
    for name, eyes in QUICK_EYES.items()
}
# Cheaper models: the pixels at half resolution beside HOG (a PCA matrix a quarter of the size for the pixels).
VARIANTS |= {
    "aligned-pixels50-hog-250": Variant(alignment=EYES, features=("pixels50", "hog"), n_components=250, svm=RBF),
    "s120n2lin-aligned-pixels50-hog-250": Variant(
        alignment=QUICK_EYES["s120n2lin"], features=("pixels50", "hog"), n_components=250, svm=RBF
    ),
    "splitlin-aligned-pixels50-hog-250": Variant(
        alignment=QUICK_EYES["splitlin"], features=("pixels50", "hog"), n_components=250, svm=RBF
    ),
}


def training_side(data: Path, manifest_path: Path) -> tuple[list, list, TrainingOptions]:
    """The manifest's training side, split into fit and validation records; the test side is dropped unread."""
    manifest = json.loads(manifest_path.read_text())
    split = manifest["training_data"]["split"]
    records = read_dataset(data)
    population = stratified_subset(records, manifest["training_data"]["records"], split["seed"])
    train, _test = split_records(population, split["test_size"], split["seed"])
    if len(train) != manifest["training_data"]["train_images"]:
        raise SystemExit(f"re-created training side has {len(train)} images, the manifest says otherwise")
    fit, validation = split_records(train, VALIDATION_SHARE, split["seed"] + VALIDATION_SEED_OFFSET)
    return fit, validation, TrainingOptions(seed=split["seed"])


def face_boxes(records: list, options: TrainingOptions) -> tuple[list, list[Box]]:
    """Records whose face the training detector finds, and their boxes in the padded image (cached detections)."""
    extract_faces(records, options, desc="detections")  # fills the cache; a no-op read when it is warm
    cache = json.loads((cache_dir() / f"boxes-{_settings_key(options)}.json").read_text())
    kept, boxes = [], []
    for record in records:
        coords = cache.get(file_md5(record.path))
        if coords:
            kept.append(record)
            boxes.append(Box(*coords))
    return kept, boxes


def video_like(gray: np.ndarray, box: Box, rng: np.random.Generator, jitter: dict[str, float]) -> tuple:
    """A copy of the image and box as a video frame gives them: jittered box, blur and JPEG blocks."""
    size = box.w * float(np.exp(rng.normal(0, jitter["scale"])))
    cx = box.x + box.w / 2 + rng.normal(0, jitter["shift"]) * box.w
    cy = box.y + box.h / 2 + rng.normal(0, jitter["shift"]) * box.h
    side = max(int(round(size)), 8)
    x = int(np.clip(round(cx - side / 2), 0, gray.shape[1] - side))
    y = int(np.clip(round(cy - side / 2), 0, gray.shape[0] - side))
    sigma = rng.uniform(0.0, jitter["blur"])
    image = cv2.GaussianBlur(gray, (0, 0), sigma) if sigma > 0.3 else gray
    quality = int(rng.integers(jitter["jpeg"][0], jitter["jpeg"][1] + 1))
    encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])[1]
    return cv2.imdecode(encoded, cv2.IMREAD_GRAYSCALE), Box(x, y, side, side)


# Box jitter of the video detector: on 8 labelled shared clips (90 frames each, DEFAULT_DETECTION, every frame)
# a face's box centre moves by 2.0% of its size from one frame to the next (std), its size by 2.5% (log std).
JITTER = {"shift": 0.02, "scale": 0.025, "blur": 1.2, "jpeg": (30, 70)}


def faces_of(
    records: list, boxes: list[Box], preprocessing: Preprocessing, options: TrainingOptions, copies: int = 0
) -> dict[str, np.ndarray]:
    """Faces (uint8) of the records, plus ``copies`` video-like copies of each; cached as npz under var/."""
    key = hashlib.sha256(
        json.dumps([str(preprocessing), copies, JITTER, [r.path.name for r in records]], default=str).encode()
    ).hexdigest()[:16]
    path = OUT / f"faces-{key}.npz"
    if path.is_file():
        return dict(np.load(path))
    faces, eyes, source = [], [], []
    rng = np.random.default_rng(options.seed)
    for index, (record, box) in enumerate(zip(records, boxes, strict=True)):
        gray = pad_image(cv2.imread(str(record.path), cv2.IMREAD_GRAYSCALE), options.pad, options.pad_mode)
        samples = [(gray, box)] + [video_like(gray, box, rng, JITTER) for _ in range(copies)]
        for image, sample_box in samples:
            face, eyes_found = prepared_face(image, sample_box, preprocessing)
            faces.append(face)
            eyes.append(eyes_found)
            source.append(index)
    result = {"faces": np.stack(faces), "eyes": np.array(eyes), "source": np.array(source)}
    OUT.mkdir(parents=True, exist_ok=True)
    np.savez(path, **result)
    return result


def features_of(faces: np.ndarray, variant: Variant, mirror: bool) -> np.ndarray:
    """The feature matrix of faces, with the mirrored faces interleaved after their originals when asked."""
    if mirror:
        both = np.empty((2 * len(faces), *faces.shape[1:]), dtype=faces.dtype)
        both[0::2], both[1::2] = faces, faces[:, :, ::-1]
        faces = both
    return feature_matrix(faces, variant.features)


def cost_ms(records: list, boxes: list[Box], variant: Variant, options: TrainingOptions, count: int = 200) -> float:
    """CPU milliseconds per face of preprocessing (alignment, light) and features, single-threaded."""
    preprocessing = Preprocessing(variant.alignment, variant.photometric)
    images = [
        pad_image(cv2.imread(str(r.path), cv2.IMREAD_GRAYSCALE), options.pad, options.pad_mode) for r in records[:count]
    ]
    start = time.process_time()
    faces = np.stack([face_image(g, b, preprocessing) for g, b in zip(images, boxes[:count], strict=False)])
    feature_matrix(faces, variant.features)
    return (time.process_time() - start) * 1000 / len(images)


def score(records: list, p_female: np.ndarray) -> dict[str, Any]:
    """The bars' figures on validation faces: adults' accuracy, AUC and worst race; ECE on all ages."""
    metrics = evaluate_with_adults(records, p_female)
    adults = metrics["adults"]
    races = {name: g["accuracy"] for name, g in adults["groups"]["race"].items()}
    worst = min(races, key=races.get)
    return {
        "n_adults": adults["n"],
        "accuracy": round(adults["accuracy"], 4),
        "roc_auc": round(adults["roc_auc"], 4),
        "worst_race": f"{worst} {races[worst]:.4f}",
        "worst_race_accuracy": round(races[worst], 4),
        "ece_all": round(metrics["calibration"]["ece"], 4),
        "accuracy_all": round(metrics["accuracy"], 4),
    }


def run_variant(name: str, variant: Variant, split: tuple, fit_faces: int, options: TrainingOptions) -> dict:
    """Fit one variant on the fit faces (subsampled), score it on every validation face."""
    (fit_records, fit_boxes), (val_records, val_boxes) = split
    if fit_faces:
        chosen = {id(r) for r in stratified_subset(fit_records, fit_faces, options.seed)}
        pairs = [(r, b) for r, b in zip(fit_records, fit_boxes, strict=True) if id(r) in chosen]
        fit_records, fit_boxes = [p[0] for p in pairs], [p[1] for p in pairs]
    preprocessing = Preprocessing(variant.alignment, variant.photometric)
    started = time.perf_counter()
    train = faces_of(fit_records, fit_boxes, preprocessing, options, variant.video_copies)
    val = faces_of(val_records, val_boxes, preprocessing, options)
    x = features_of(train["faces"], variant, variant.flip)
    y = np.array([fit_records[i].gender for i in train["source"]])
    weights = sample_weights([fit_records[i] for i in train["source"]], variant.balance)
    if variant.flip:
        y = np.repeat(y, 2)
        weights = None if weights is None else np.repeat(weights, 2)
    estimator = build_estimator(
        n_components=variant.n_components, random_state=options.seed, n_jobs=2, **dict(variant.svm)
    )
    estimator.fit(x, y, **({} if weights is None else {"svm__sample_weight": weights}))
    p_female = estimator.predict_proba(features_of(val["faces"], variant, False))[:, 1]
    row = {
        "variant": name,
        "recipe": dataclasses.asdict(variant),
        "fit_faces": len(fit_records),
        "fit_rows": len(x),
        "validation_faces": len(val_records),
        **score(val_records, p_female),
        "eyes_found_val": round(float(val["eyes"].mean()), 4) if variant.alignment else None,
        "ms_per_face": round(cost_ms(val_records, val_boxes, variant, options), 3),
        "seconds": round(time.perf_counter() - started, 1),
    }
    with (OUT / "results.jsonl").open("a") as handle:
        handle.write(json.dumps(row, default=str) + "\n")
    return row


COLUMNS = ("variant", "fit_faces", "accuracy", "roc_auc", "worst_race", "ece_all", "eyes_found_val", "ms_per_face")


def table(rows: list[dict]) -> str:
    """A markdown table of result rows."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(str(row.get(c)) for c in COLUMNS) + " |" for row in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "faces_raw")
    parser.add_argument("--manifest", type=Path, default=ROOT / "models" / "default" / "manifest.json")
    parser.add_argument("--variants", nargs="*", default=[])
    parser.add_argument("--fit-faces", type=int, default=4000, help="stratified subsample of fit faces; 0 = all")
    parser.add_argument("--list", action="store_true", help="list the variants and the runs so far")
    args = parser.parse_args()
    cv2.setNumThreads(1)
    if args.list:
        print("\n".join(VARIANTS))
        results = OUT / "results.jsonl"
        print(table([json.loads(line) for line in results.read_text().splitlines()] if results.is_file() else []))
        return
    fit, validation, options = training_side(args.data, args.manifest)
    split = (face_boxes(fit, options), face_boxes(validation, options))
    rows = [run_variant(name, VARIANTS[name], split, args.fit_faces, options) for name in args.variants]
    print(table(rows))


if __name__ == "__main__":
    main()
