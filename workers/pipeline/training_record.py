"""What a training run records: its manifest, the fit cache, and the compacted model file."""

from __future__ import annotations

import hashlib
import json
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import joblib
import numpy as np
from sklearn.pipeline import Pipeline

from .face_extraction import FaceFeatures, cache_dir
from .model import GenderModel

logger = logging.getLogger(__name__)

# Largest change of P(female) allowed when the PCA components are stored in single precision.
COMPACT_TOLERANCE = 1e-4

PREPROCESSING = (
    "pad pre-cropped training images by {pad}px ({pad_mode} border) -> Haar cascade (detect_faces, largest box) -> "
    "crop -> gray -> resize to 100x100 (INTER_AREA) -> min-max to [0, 1] -> flatten to 10000 float32 "
    "(preprocessing.face_vector, shared with inference)"
)
RECIPE_PREPROCESSING = (
    "pad pre-cropped training images by {pad}px ({pad_mode} border) -> Haar cascade (detect_faces, largest box) -> "
    "gray -> {crop} -> photometric {photometric} -> features {features} ({n_features} float32 per face; "
    "Recipe.face_vectors / Recipe.features_of, shared with inference through the manifest's recipe)"
)


def preprocessing_text(options: Any) -> str:
    """The manifest's one-line description of how a training image becomes a face vector."""
    recipe = options.recipe
    if recipe.is_plain:
        return PREPROCESSING.format(pad=options.pad, pad_mode=options.pad_mode)
    crop = "eye alignment to 100x100 (plain crop when no eye pair is found)"
    if recipe.preprocessing.alignment is None:
        crop = "crop -> resize to 100x100 (INTER_AREA)"
    return RECIPE_PREPROCESSING.format(
        pad=options.pad,
        pad_mode=options.pad_mode,
        crop=crop,
        photometric=recipe.preprocessing.photometric,
        features="+".join(recipe.features),
        n_features=recipe.n_features,
    )


VARIANCE_CURVE_COMPONENTS = 400
VARIANCE_CURVE_SAMPLES = 3000


def variance_curve(vectors: np.ndarray, seed: int) -> list[float]:
    """Cumulative explained variance of the first few hundred eigenfaces, on a sample of training faces."""
    from sklearn.decomposition import PCA

    rows = np.random.default_rng(seed).permutation(len(vectors))[:VARIANCE_CURVE_SAMPLES]
    n_components = min(VARIANCE_CURVE_COMPONENTS, len(rows) - 1)
    pca = PCA(n_components=n_components, svd_solver="randomized", random_state=seed).fit(vectors[rows])
    return np.cumsum(pca.explained_variance_ratio_).round(5).tolist()


def prediction_latency_ms(model_predict: Any, vectors: np.ndarray, batch: int, repeats: int = 20) -> float:
    """Median wall time of one ``predict_p_female`` call on ``batch`` faces, in milliseconds (one core)."""
    import time

    timings = []
    for _ in range(repeats):
        start = time.perf_counter()
        model_predict(vectors[:batch])
        timings.append((time.perf_counter() - start) * 1000)
    return float(np.median(timings))


@dataclass
class TrainingRun:
    """What one training run produced: the material of its manifest."""

    options: Any  # TrainingOptions
    source: str
    command: str
    records: int  # labelled images taken (after max_records), both sides of the split
    train: FaceFeatures
    test: FaceFeatures
    population: FaceFeatures  # the training faces actually fitted (after min_age)
    params: dict[str, Any]
    table: list[dict[str, Any]]
    model: GenderModel
    metrics: dict[str, Any]


def describe(options: Any) -> str:
    """One line on what the model does to a face, from its recipe: the manifest's and the report's description."""
    preprocessing = options.recipe.preprocessing
    crop = "plain Haar crop" if preprocessing.alignment is None else "eye-aligned face"
    lighting = "" if preprocessing.photometric == "none" else f", {preprocessing.photometric}"
    return (
        f"PCA ({options.n_components} components) of the {'+'.join(options.recipe.features)} of the {crop}"
        f"{lighting} -> SVC calibrated by CalibratedClassifierCV(ensemble=False); p_female = class 1"
    )


def training_manifest(run: TrainingRun, name: str) -> dict[str, Any]:
    """The manifest of a trained model: how to reproduce it, what it was trained on, and its headline metrics."""
    from .training import GRIDS

    options, population = run.options, run.population
    svm = run.model.estimator.named_steps["svm"].calibrated_classifiers_[0].estimator
    return {
        "name": name,
        "description": describe(options),
        "reproduce": run.command,
        "parameters": {
            "pca": {"n_components": options.n_components, "whiten": options.whiten},
            "svm": {
                **run.params,
                **({"gamma_fitted": float(svm._gamma)} if run.params.get("gamma") == "scale" else {}),
            },
            "balance": options.balance,
            "flip_augmentation": options.flip,
            "calibration": "sigmoid, 5-fold, ensemble=False",
        },
        "search": {"grid": None, "fixed": run.params, "candidates": 0}
        if not run.table
        else {
            "grid": options.grid,
            "grid_values": GRIDS[options.grid],
            "candidates": len(run.table),
            "folds": options.search_folds,
            "samples": min(len(population.records), options.search_samples or len(population.records)),
            "best_cv_accuracy": run.table[0]["mean_accuracy"],
            "top": run.table[:10],
        },
        "training_data": {
            "source": run.source,
            "records": run.records,
            "split": {"test_size": options.test_size, "seed": options.seed, "stratify": "gender x race x adult"},
            "train_images": len(run.train.records) + len(run.train.no_face),
            "test_images": len(run.test.records) + len(run.test.no_face),
            "no_face": {"train": len(run.train.no_face), "test": len(run.test.no_face)},
            "min_age": options.min_age,
            "train_faces": len(population.records),
            "train_faces_by_gender": dict(Counter("female" if r.gender else "male" for r in population.records)),
        },
        "support_vectors": int(svm.n_support_.sum()),
        "prediction_ms": {
            f"batch_{batch}": round(prediction_latency_ms(run.model.predict_p_female, run.test.vectors, batch), 3)
            for batch in (1, 10)
        },
        "metrics": _headline(run.metrics),
        "detection": {**asdict(options.detection), "pad": options.pad, "pad_mode": options.pad_mode, "box": "largest"},
        "preprocessing": preprocessing_text(options),
        **({} if options.recipe.is_plain else {"recipe": options.recipe.to_manifest()}),
    }


def _headline(metrics: dict[str, Any]) -> dict[str, Any]:
    """The numbers worth keeping in the manifest: overall, per race, and the same for adults."""
    keys = ("n", "no_face", "accuracy", "balanced_accuracy", "roc_auc", "race_gap")
    summary = {key: metrics.get(key) for key in keys}
    summary["ece"] = (metrics.get("calibration") or {}).get("ece")
    summary["race_accuracy"] = {name: g["accuracy"] for name, g in metrics["groups"].get("race", {}).items()}
    if "adults" in metrics:
        summary["adults"] = _headline(metrics["adults"])
    return summary


def fit_key(x: np.ndarray, y: np.ndarray, weights: np.ndarray | None, settings: dict[str, Any]) -> str:
    """Cache key of one fit: sha256 of the training matrix, labels, weights and estimator settings."""
    digest = hashlib.sha256()
    digest.update(np.ascontiguousarray(x).tobytes())
    digest.update(np.asarray(y).astype(np.int64).tobytes())
    if weights is not None:
        digest.update(np.asarray(weights, dtype=np.float64).tobytes())
    digest.update(json.dumps(settings, sort_keys=True, default=str).encode())
    return digest.hexdigest()[:16]


def cached_fit(
    x: np.ndarray, y: np.ndarray, weights: np.ndarray | None, settings: dict[str, Any], fit: Callable[[], Pipeline]
) -> Pipeline:
    """The estimator ``fit`` makes, or the one an identical earlier fit left in var/cache (fit-<key>.joblib)."""
    path = cache_dir() / f"fit-{fit_key(x, y, weights, settings)}.joblib"
    if path.is_file():
        logger.info("taking the fitted estimator from %s (same training matrix and settings)", path)
        return joblib.load(path)
    estimator = fit()
    path.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(estimator, path)
    return estimator


def compact(estimator: Pipeline, vectors: np.ndarray, p_female: np.ndarray) -> tuple[Pipeline, dict[str, Any]]:
    """The estimator with single-precision PCA components when scikit-learn's P(female) moves less than 1e-4."""
    pca = estimator.named_steps["pca"]
    before = estimator.predict_proba(vectors)[:, 1]
    original = pca.components_
    pca.components_ = original.astype(np.float32)
    change = float(np.max(np.abs(estimator.predict_proba(vectors)[:, 1] - before))) if len(vectors) else 0.0
    kept = change < COMPACT_TOLERANCE
    if not kept:
        pca.components_ = original
    return estimator, {
        "pca_components": "float32" if kept else "float64",
        "max_p_female_change": change,
        "tolerance": COMPACT_TOLERANCE,
        "checked_on": "the held-out test faces",
        "compiled_vs_sklearn_max_diff": float(np.max(np.abs(p_female - before))) if len(vectors) else 0.0,
    }
