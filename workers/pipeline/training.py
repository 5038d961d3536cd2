"""Training: faces found as at inference, a stratified split, a (subsampled) grid search, then one refit."""

from __future__ import annotations

import itertools
import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from joblib import Parallel, delayed
from sklearn.model_selection import StratifiedKFold, train_test_split
from sklearn.pipeline import Pipeline
from tqdm import tqdm

from .alignment import AlignmentSettings
from .config import FACE_SIZE, TRAINING_DETECTION, DetectionSettings
from .datasets import ADULT_AGE, FaceRecord
from .evaluation import evaluate_with_adults
from .face_extraction import TRAINING_PAD, TRAINING_PAD_MODE, FaceFeatures, extract_faces
from .model import CALIBRATION_FOLDS, GenderModel, build_estimator, load_model, save_model
from .preprocessing import Preprocessing
from .recipe import PLAIN_RECIPE, Recipe, mirrored_faces
from .training_record import (
    TrainingRun,
    _headline,  # noqa: F401 - the manifest's metrics summary, imported from here by tests
    cached_fit,
    compact,
    training_manifest,
    variance_curve,
)

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
# Named recipes: preprocessing, features, PCA size, fixed SVM parameters and mirroring, as a TrainingOptions
# override. Both were chosen on a validation split of the training side (bench/model_variants.py): the first was
# the default model of one release; the second, as accurate there and cheaper per face, is the default since.
NAMED_RECIPES: dict[str, dict[str, Any]] = {
    "aligned-pixels-hog-250": {
        "recipe": Recipe(Preprocessing(AlignmentSettings()), ("pixels", "hog")),
        "n_components": 250,
        "svm": {"C": 10, "kernel": "rbf", "gamma": "scale", "coef0": 0},
        "flip": True,
    },
    # The default model's: each eye searched for in its own half of a linearly resampled box (under 1 ms per
    # face), the pixels at half resolution beside HOG (a PCA matrix 2.4 times smaller than with full pixels).
    "splitlin-aligned-pixels50-hog-250": {
        "recipe": Recipe(
            Preprocessing(AlignmentSettings(eye_columns=((0.10, 0.50), (0.50, 0.90)), work_interpolation="linear")),
            ("pixels50", "hog"),
        ),
        "n_components": 250,
        "svm": {"C": 10, "kernel": "rbf", "gamma": "scale", "coef0": 0},
        "flip": True,
    },
}


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
    recipe: Recipe = PLAIN_RECIPE  # preprocessing and feature kinds, shared with inference through the manifest
    svm: dict[str, Any] | None = None  # fixed SVM parameters (no grid search), e.g. a named recipe's


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
    sample = _rows(features, rows)
    x, y = sample.vectors, np.array([record.gender for record in subset])
    folds = []
    splitter = StratifiedKFold(n_splits=options.search_folds, shuffle=True, random_state=options.seed)
    for train_rows, test_rows in splitter.split(x, _strata(subset)):
        train_x, train_y, weights = augmented(_rows(sample, train_rows), options)
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


def _rows(features: FaceFeatures, rows: np.ndarray) -> FaceFeatures:
    """The faces of some rows of a FaceFeatures."""
    faces = None if features.faces is None else features.faces[rows]
    return FaceFeatures([features.records[i] for i in rows], features.vectors[rows], features.no_face, faces)


def augmented(features: FaceFeatures, options: TrainingOptions) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Training matrix, labels and weights, with mirrored faces interleaved after their originals when asked."""
    genders = np.array([record.gender for record in features.records])
    weights = sample_weights(features.records, options.balance)
    if not options.flip:
        return features.vectors, genders, weights
    # Interleaving keeps each face next to its mirror, so the calibration's unshuffled stratified folds
    # (which take each class's samples in order) nearly never put a face and its mirror on opposite sides.
    # A mirrored face's features are computed from the mirrored face (a HOG is not the mirror of a HOG).
    if features.faces is None:
        both = np.empty((2 * len(features.vectors), features.vectors.shape[1]), dtype=features.vectors.dtype)
        both[0::2], both[1::2] = features.vectors, mirrored(features.vectors)
    else:
        both = options.recipe.features_of(mirrored_faces(features.faces))
    return both, np.repeat(genders, 2), None if weights is None else np.repeat(weights, 2)


def fit_model(features: FaceFeatures, params: dict[str, Any], options: TrainingOptions) -> Pipeline:
    """Fit the final calibrated pipeline on all training faces with the chosen SVM parameters.

    An identical fit (same training matrix, labels, weights and settings) made before is taken from var/cache.
    """
    x, y, weights = augmented(features, options)
    settings = {"params": params, "n_components": options.n_components, "whiten": options.whiten, "seed": options.seed}
    return cached_fit(x, y, weights, settings, lambda: _fit(x, y, weights, params, options))


def _fit(x: np.ndarray, y: np.ndarray, weights: np.ndarray | None, params: dict, options: TrainingOptions) -> Pipeline:
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

    if options.svm is None and options.grid not in GRIDS:
        raise ValueError(f"unknown grid {options.grid!r}: expected one of {', '.join(GRIDS)}")
    records = stratified_subset(records, options.max_records, options.seed)
    train_records, test_records = split_records(records, options.test_size, options.seed)
    train = extract_faces(train_records, options, desc="training images")
    test = extract_faces(test_records, options, desc="test images")
    population = _training_population(train, options.min_age)
    logger.info("training on %d faces (%d without a face found)", len(population.records), len(train.no_face))
    params, table = (dict(options.svm), []) if options.svm is not None else search_parameters(population, options)
    trained = GenderModel(fit_model(population, params, options), {"recipe": options.recipe.to_manifest()})
    p_female = trained.predict_p_female(test.vectors)
    metrics = evaluate_with_adults(test.records, p_female, test.no_face)
    estimator, compaction = compact(trained.estimator, test.vectors, p_female)
    trained = GenderModel(estimator, trained.manifest)
    run = TrainingRun(options, source, command, len(records), train, test, population, params, table, trained, metrics)
    save_model(trained.estimator, out_dir, {**training_manifest(run, Path(out_dir).name), "compaction": compaction})
    model = load_model(out_dir)  # the report describes the file that ships
    curve = variance_curve(population.vectors, options.seed)
    reports.write_report(Path(out_dir) / "report", model, metrics, curve, notes.read_text() if notes else "")
    return model.manifest


def _training_population(features: FaceFeatures, min_age: int | None) -> FaceFeatures:
    if min_age is None:
        return features
    rows = [i for i, record in enumerate(features.records) if record.age is not None and record.age >= min_age]
    return _rows(features, np.array(rows, dtype=int))
