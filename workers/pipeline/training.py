"""Training: faces found as at inference, a stratified split, a (subsampled) grid search, then one refit."""

from __future__ import annotations

import itertools
import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from joblib import Parallel, delayed
from sklearn.model_selection import StratifiedKFold, train_test_split
from sklearn.pipeline import Pipeline
from tqdm import tqdm

from .config import FACE_SIZE, TRAINING_DETECTION, DetectionSettings
from .datasets import ADULT_AGE, FaceRecord
from .evaluation import evaluate_with_adults
from .face_extraction import TRAINING_PAD, TRAINING_PAD_MODE, FaceFeatures, extract_faces
from .model import CALIBRATION_FOLDS, GenderModel, build_estimator, load_model, save_model

logger = logging.getLogger(__name__)

SEED = 20240601

STUDY_GRID: dict[str, list[Any]] = {
    "C": [1, 10, 20, 30, 40, 50, 100],
    "kernel": ["rbf", "poly"],
    "gamma": [0.1, 0.05, 0.01, 0.001, 0.002, 0.005],
    "coef0": [0, 1],
}
FAST_GRID: dict[str, list[Any]] = {"C": [1, 10], "kernel": ["rbf"], "gamma": ["scale"], "coef0": [0]}
GRIDS = {"study": STUDY_GRID, "fast": FAST_GRID}


@dataclass
class TrainingOptions:
    """Everything that decides a training run; recorded in the manifest."""

    grid: str = "study"
    search_samples: int | None = 3000  # grid search on a stratified subsample of this size; None = all
    search_folds: int = 5
    n_components: int = 50
    whiten: bool = False
    min_age: int | None = None  # training population; evaluation always reports all ages and adults
    balance: str = "none"  # none | class | group (gender x race)
    flip: bool = False  # add mirrored training faces
    test_size: float = 0.2
    seed: int = SEED
    max_records: int | None = None  # a stratified subset of the data, for quick runs
    n_jobs: int = -1
    pad: int = TRAINING_PAD
    pad_mode: str = TRAINING_PAD_MODE
    detection: DetectionSettings = field(default_factory=lambda: TRAINING_DETECTION)


def stratum(record: FaceRecord) -> str:
    """The split's stratum: gender x race x adult, using what the record knows."""
    adult = "" if record.age is None else ("adult" if record.age >= ADULT_AGE else "minor")
    return f"{record.gender}-{record.race if record.race is not None else ''}-{adult}"


def _strata(records: Sequence[FaceRecord]) -> list[str]:
    """Strata with fewer than two members fall back to gender alone, so a stratified split is possible."""
    fine = [stratum(record) for record in records]
    counts = Counter(fine)
    labels = [label if counts[label] >= 2 else str(record.gender) for label, record in zip(fine, records, strict=True)]
    counts = Counter(labels)
    largest: dict[int, str] = {}
    for label, record in zip(labels, records, strict=True):
        if record.gender not in largest or counts[label] > counts[largest[record.gender]]:
            largest[record.gender] = label
    # A lone leftover joins the largest stratum of its gender.
    return [
        label if counts[label] >= 2 else largest[record.gender] for label, record in zip(labels, records, strict=True)
    ]


def stratified_subset(records: Sequence[FaceRecord], size: int | None, seed: int) -> list[FaceRecord]:
    """A stratified subsample of ``size`` records (all of them when size is None or not smaller)."""
    if size is None or size >= len(records):
        return list(records)
    subset, _ = train_test_split(list(records), train_size=size, stratify=_strata(records), random_state=seed)
    return subset


def split_records(
    records: Sequence[FaceRecord], test_size: float, seed: int
) -> tuple[list[FaceRecord], list[FaceRecord]]:
    """Stratified train/test split with a fixed seed."""
    train, test = train_test_split(list(records), test_size=test_size, stratify=_strata(records), random_state=seed)
    return train, test


def mirrored(vectors: np.ndarray) -> np.ndarray:
    """Left-right mirror images of (n, 10000) face vectors (min-max scaling is unchanged by mirroring)."""
    return vectors.reshape(-1, FACE_SIZE, FACE_SIZE)[:, :, ::-1].reshape(len(vectors), -1)


def sample_weights(records: Sequence[FaceRecord], balance: str) -> np.ndarray | None:
    """Weights that give every class (or every gender x race group) the same total weight."""
    if balance == "none":
        return None
    if balance == "group" and all(record.race is not None for record in records):
        keys = [(record.gender, record.race) for record in records]
    elif balance in {"class", "group"}:
        keys = [record.gender for record in records]
    else:
        raise ValueError(f"unknown balance {balance!r}: expected none, class or group")
    counts = Counter(keys)
    weights = np.array([len(keys) / (len(counts) * counts[key]) for key in keys])
    return weights


def grid_candidates(grid: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """Expand a grid; coef0 only matters to the poly kernel, so rbf candidates keep only its first value."""
    names = list(grid)
    seen, candidates = set(), []
    for values in itertools.product(*(grid[name] for name in names)):
        params = dict(zip(names, values, strict=True))
        if params.get("kernel") == "rbf" and "coef0" in params:
            params["coef0"] = grid["coef0"][0]
        key = tuple(sorted(params.items()))
        if key not in seen:
            seen.add(key)
            candidates.append(params)
    return candidates


def _fold_score(
    fold: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray | None], params: dict[str, Any]
) -> float:
    train_x, train_y, test_x, test_y, weights = fold
    svm = build_estimator(**params, calibrated=False).named_steps["svm"]
    svm.fit(train_x, train_y, sample_weight=weights)
    return float(np.mean(svm.predict(test_x) == test_y))


def search_parameters(features: FaceFeatures, options: TrainingOptions) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Cross-validated grid search of the SVM on a stratified subsample; PCA is fitted once per fold."""
    candidates = grid_candidates(GRIDS[options.grid])
    index_of = {id(record): i for i, record in enumerate(features.records)}
    subset = stratified_subset(features.records, options.search_samples, options.seed)
    rows = np.array([index_of[id(record)] for record in subset])
    x, y = features.vectors[rows], np.array([record.gender for record in subset])
    folds = []
    splitter = StratifiedKFold(n_splits=options.search_folds, shuffle=True, random_state=options.seed)
    for train_rows, test_rows in splitter.split(x, _strata(subset)):
        train_records = [subset[i] for i in train_rows]
        train_x, train_y, weights = augmented(x[train_rows], y[train_rows], train_records, options)
        pca = build_estimator(n_components=options.n_components, whiten=options.whiten).named_steps["pca"]
        pca.fit(train_x)
        folds.append((pca.transform(train_x), train_y, pca.transform(x[test_rows]), y[test_rows], weights))
    tasks = [(c, f) for c in range(len(candidates)) for f in range(len(folds))]
    scores = np.zeros((len(candidates), len(folds)))
    runner = Parallel(n_jobs=options.n_jobs, return_as="generator")
    results = runner(delayed(_fold_score)(folds[f], candidates[c]) for c, f in tasks)
    for (c, f), score in tqdm(zip(tasks, results, strict=True), total=len(tasks), desc="grid search", unit="fit"):
        scores[c, f] = score
    table = [
        {"params": params, "mean_accuracy": float(scores[c].mean()), "std_accuracy": float(scores[c].std())}
        for c, params in enumerate(candidates)
    ]
    table.sort(key=lambda row: -row["mean_accuracy"])
    return table[0]["params"], table


def augmented(
    vectors: np.ndarray, genders: np.ndarray, records: Sequence[FaceRecord], options: TrainingOptions
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Training matrix, labels and weights, with mirrored faces interleaved after their originals when asked."""
    weights = sample_weights(records, options.balance)
    if not options.flip:
        return vectors, genders, weights
    # Interleaving keeps each face next to its mirror, so the calibration's unshuffled stratified folds
    # (which take each class's samples in order) nearly never put a face and its mirror on opposite sides.
    both = np.empty((2 * len(vectors), vectors.shape[1]), dtype=vectors.dtype)
    both[0::2], both[1::2] = vectors, mirrored(vectors)
    return both, np.repeat(genders, 2), None if weights is None else np.repeat(weights, 2)


def fit_model(features: FaceFeatures, params: dict[str, Any], options: TrainingOptions) -> Pipeline:
    """Fit the final calibrated pipeline on all training faces with the chosen SVM parameters."""
    genders = np.array([record.gender for record in features.records])
    x, y, weights = augmented(features.vectors, genders, features.records, options)
    estimator = build_estimator(
        n_components=options.n_components,
        whiten=options.whiten,
        random_state=options.seed,
        n_jobs=min(options.n_jobs, CALIBRATION_FOLDS) if options.n_jobs > 0 else options.n_jobs,
        **params,
    )
    fit_params = {} if weights is None else {"svm__sample_weight": weights}
    logger.info("fitting the final model on %d faces with %s", len(x), params)
    estimator.fit(x, y, **fit_params)
    return estimator


PREPROCESSING = (
    "pad pre-cropped training images by {pad}px ({pad_mode} border) -> Haar cascade (detect_faces, largest box) -> "
    "crop -> gray -> resize to 100x100 (INTER_AREA) -> min-max to [0, 1] -> flatten to 10000 float32 "
    "(preprocessing.face_vector, shared with inference)"
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

    options: TrainingOptions
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


def train_and_save(
    records: Sequence[FaceRecord],
    out_dir: Path,
    options: TrainingOptions,
    *,
    source: str,
    command: str,
    notes: Path | None = None,
) -> dict[str, Any]:
    """The whole run: split, extract faces, search, refit, evaluate on the held-out split, save model and report.

    ``notes`` is a markdown file of what was tried, read only when the report is written (so it can be finished
    while a long run trains).
    """
    from . import reports  # matplotlib: imported only by a run that writes a report

    if options.grid not in GRIDS:
        raise ValueError(f"unknown grid {options.grid!r}: expected one of {', '.join(GRIDS)}")
    records = stratified_subset(records, options.max_records, options.seed)
    train_records, test_records = split_records(records, options.test_size, options.seed)
    train = extract_faces(train_records, options, desc="training images")
    test = extract_faces(test_records, options, desc="test images")
    population = _training_population(train, options.min_age)
    logger.info("training on %d faces (%d without a face found)", len(population.records), len(train.no_face))
    params, table = search_parameters(population, options)
    trained = GenderModel(fit_model(population, params, options), {})
    metrics = evaluate_with_adults(test.records, trained.predict_p_female(test.vectors), test.no_face)
    run = TrainingRun(options, source, command, len(records), train, test, population, params, table, trained, metrics)
    save_model(trained.estimator, out_dir, training_manifest(run, Path(out_dir).name))
    model = load_model(out_dir)  # the report describes the file that ships
    curve = variance_curve(population.vectors, options.seed)
    reports.write_report(Path(out_dir) / "report", model, metrics, curve, notes.read_text() if notes else "")
    return model.manifest


def training_manifest(run: TrainingRun, name: str) -> dict[str, Any]:
    """The manifest of a trained model: how to reproduce it, what it was trained on, and its headline metrics."""
    options, population = run.options, run.population
    svm = run.model.estimator.named_steps["svm"].calibrated_classifiers_[0].estimator
    return {
        "name": name,
        "description": "PCA eigenfaces -> SVC calibrated by CalibratedClassifierCV(ensemble=False); p_female = class 1",
        "reproduce": run.command,
        "parameters": {
            "pca": {"n_components": options.n_components, "whiten": options.whiten},
            "svm": run.params,
            "balance": options.balance,
            "flip_augmentation": options.flip,
            "calibration": "sigmoid, 5-fold, ensemble=False",
        },
        "search": {
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
        "preprocessing": PREPROCESSING.format(pad=options.pad, pad_mode=options.pad_mode),
    }


def _training_population(features: FaceFeatures, min_age: int | None) -> FaceFeatures:
    if min_age is None:
        return features
    rows = [i for i, record in enumerate(features.records) if record.age is not None and record.age >= min_age]
    return FaceFeatures([features.records[i] for i in rows], features.vectors[rows], features.no_face)


def _headline(metrics: dict[str, Any]) -> dict[str, Any]:
    """The numbers worth keeping in the manifest: overall, per race, and the same for adults."""
    keys = ("n", "no_face", "accuracy", "balanced_accuracy", "roc_auc", "race_gap")
    summary = {key: metrics.get(key) for key in keys}
    summary["ece"] = (metrics.get("calibration") or {}).get("ece")
    summary["race_accuracy"] = {name: g["accuracy"] for name, g in metrics["groups"].get("race", {}).items()}
    if "adults" in metrics:
        summary["adults"] = _headline(metrics["adults"])
    return summary
