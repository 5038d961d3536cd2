"""Evaluation of p_female against labels: headline metrics, calibration, per-group accuracy with bootstrap CIs."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.metrics import balanced_accuracy_score, confusion_matrix, roc_auc_score, roc_curve

from .datasets import ADULT_AGE, FaceRecord
from .stats import bootstrap_interval
from .types import DECISION_THRESHOLD

BOOTSTRAP_SAMPLES = 1000  # per interval: enough for a report's 95% intervals, and quick for dozens of groups
BOOTSTRAP_SEED = 20240601
CALIBRATION_BINS = 10
ROC_POINTS = 101  # the ROC curve is resampled to this many false-positive rates for the report
AGE_BANDS = ((0, 12, "0-12"), (13, 17, "13-17"), (18, 39, "18-39"), (40, 59, "40-59"), (60, 200, "60+"))


def age_band(age: int | None) -> str | None:
    """The report's age band of an age (None when unknown)."""
    if age is None:
        return None
    return next(name for low, high, name in AGE_BANDS if low <= age <= high)


def predicted_genders(p_female: np.ndarray) -> np.ndarray:
    """The predicted gender codes (1 female, 0 male) of p_female values, by types.label_for's threshold."""
    return (np.asarray(p_female) >= DECISION_THRESHOLD).astype(int)


def calibration(genders: np.ndarray, p_female: np.ndarray, bins: int = CALIBRATION_BINS) -> dict[str, Any]:
    """Expected calibration error of p_female and its reliability bins (mean predicted vs observed female rate)."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(p_female, edges[1:-1]), 0, bins - 1)
    rows, error = [], 0.0
    for b in range(bins):
        inside = which == b
        count = int(inside.sum())
        if count:
            predicted, observed = float(p_female[inside].mean()), float(genders[inside].mean())
            error += count / len(p_female) * abs(predicted - observed)
        else:
            predicted = observed = None
        rows.append(
            {
                "low": float(edges[b]),
                "high": float(edges[b + 1]),
                "count": count,
                "mean_p_female": predicted,
                "female_rate": observed,
            }
        )
    return {"ece": float(error), "bins": rows}


def group_metrics(genders: np.ndarray, p_female: np.ndarray) -> dict[str, Any]:
    """Count, accuracy and confidence (mean, std) of one group, with 95% bootstrap intervals (None under 2 faces)."""
    correct = (predicted_genders(p_female) == genders).astype(float)
    confidence = np.maximum(p_female, 1 - p_female)
    return {
        "n": int(len(genders)),
        "accuracy": float(correct.mean()) if len(correct) else None,
        "accuracy_ci": bootstrap_interval(correct, seed=BOOTSTRAP_SEED, resamples=BOOTSTRAP_SAMPLES),
        "mean_confidence": float(confidence.mean()) if len(confidence) else None,
        "mean_confidence_ci": bootstrap_interval(confidence, seed=BOOTSTRAP_SEED, resamples=BOOTSTRAP_SAMPLES),
        "std_confidence": float(confidence.std()) if len(confidence) else None,
    }


def _group_keys(record: FaceRecord) -> list[tuple[str, str]]:
    gender = "female" if record.gender == 1 else "male"
    keys = [("gender", gender)]
    if record.race is not None:
        keys += [("race", record.race_name), ("race_gender", f"{record.race_name} {gender}")]
    if record.age is not None:
        keys.append(("age_band", age_band(record.age)))
    if record.group:
        keys.append(("group", record.group))
    return keys


def evaluate(records: Sequence[FaceRecord], p_female: np.ndarray, no_face: int = 0) -> dict[str, Any]:
    """All metrics of predictions on faces with known gender; ``no_face`` counts images where none was found."""
    genders = np.array([record.gender for record in records], dtype=int)
    p_female = np.asarray(p_female, dtype=float)
    predicted = predicted_genders(p_female)
    both_classes = len(set(genders.tolist())) == 2
    result: dict[str, Any] = {
        "n": int(len(genders)),
        "no_face": int(no_face),
        "face_found_rate": len(genders) / (len(genders) + no_face) if len(genders) + no_face else None,
        "accuracy": float((predicted == genders).mean()) if len(genders) else None,
        "balanced_accuracy": float(balanced_accuracy_score(genders, predicted)) if both_classes else None,
        "roc_auc": float(roc_auc_score(genders, p_female)) if both_classes else None,
        "confusion_matrix": confusion_matrix(genders, predicted, labels=[0, 1]).tolist(),
        "confusion_labels": ["male", "female"],
        "calibration": calibration(genders, p_female) if len(genders) else None,
        "roc_curve": _roc_points(genders, p_female) if both_classes else None,
    }
    members: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    for index, record in enumerate(records):
        for kind, name in _group_keys(record):
            members[kind][name].append(index)
    result["groups"] = {
        kind: {name: group_metrics(genders[rows], p_female[rows]) for name, rows in sorted(names.items())}
        for kind, names in members.items()
    }
    race_accuracy = {name: metrics["accuracy"] for name, metrics in result["groups"].get("race", {}).items()}
    if race_accuracy:
        best, worst = max(race_accuracy, key=race_accuracy.get), min(race_accuracy, key=race_accuracy.get)
        result["race_gap"] = {"best": best, "worst": worst, "gap": race_accuracy[best] - race_accuracy[worst]}
    return result


def _roc_points(genders: np.ndarray, p_female: np.ndarray) -> dict[str, list[float]]:
    fpr, tpr, _ = roc_curve(genders, p_female)
    grid = np.linspace(0.0, 1.0, ROC_POINTS)
    return {"fpr": grid.round(4).tolist(), "tpr": np.interp(grid, fpr, tpr).round(4).tolist()}


def evaluate_with_adults(
    records: Sequence[FaceRecord], p_female: np.ndarray, no_face: Sequence[FaceRecord] = ()
) -> dict[str, Any]:
    """Metrics on all records, plus an ``adults`` section (age >= 18) when ages are known."""
    result = evaluate(records, p_female, no_face=len(no_face))
    if records and all(record.age is not None for record in records):
        adult_rows = [i for i, record in enumerate(records) if record.age >= ADULT_AGE]
        adults_without_face = sum(1 for record in no_face if record.age is not None and record.age >= ADULT_AGE)
        result["adults"] = evaluate(
            [records[i] for i in adult_rows], np.asarray(p_female)[adult_rows], no_face=adults_without_face
        )
    return result
