"""Evaluation metrics on hand-made predictions and on generated faces (no research data needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from workers.pipeline.datasets import ADULT_AGE, FaceRecord
from workers.pipeline.evaluation import BOOTSTRAP_SAMPLES, BOOTSTRAP_SEED, evaluate, evaluate_with_adults
from workers.pipeline.face_extraction import extract_faces
from workers.pipeline.model import GenderModel, build_estimator
from workers.pipeline.stats import bootstrap_interval
from workers.pipeline.synthetic import write_face_collection
from workers.pipeline.training import TrainingOptions, split_records

pytestmark = pytest.mark.timeout(180)

# (gender, race, age, p_female): White and Black faces of both genders, one Asian woman, ages on both sides of 18.
CASES = [
    (1, 0, 30, 0.9),
    (1, 0, 12, 0.4),
    (0, 0, 40, 0.2),
    (0, 0, 22, 0.5),
    (1, 1, 65, 0.8),
    (1, 1, 19, 0.7),
    (0, 1, 8, 0.1),
    (0, 1, 50, 0.3),
    (1, 2, 33, 0.6),
]


def hand_made() -> tuple[list[FaceRecord], np.ndarray]:
    records = [
        FaceRecord(Path(f"{number}.jpg"), gender, race, age) for number, (gender, race, age, _) in enumerate(CASES)
    ]
    return records, np.array([p for *_, p in CASES])


def test_evaluate_counts_accuracy_and_confusion_as_by_hand():
    records, p_female = hand_made()
    metrics = evaluate(records, p_female, no_face=3)
    # p_female 0.5 is female (types.DECISION_THRESHOLD): the man at 0.5 and the woman at 0.4 are the two errors.
    assert (metrics["n"], metrics["no_face"]) == (9, 3)
    assert metrics["face_found_rate"] == pytest.approx(9 / 12)
    assert metrics["accuracy"] == pytest.approx(7 / 9)
    assert metrics["confusion_matrix"] == [[3, 1], [1, 4]]  # rows: true male, true female
    assert metrics["balanced_accuracy"] == pytest.approx((3 / 4 + 4 / 5) / 2)
    assert 0.5 < metrics["roc_auc"] <= 1.0


def test_evaluate_groups_by_race_with_the_race_gap():
    records, p_female = hand_made()
    groups = evaluate(records, p_female)["groups"]
    assert {name: group["n"] for name, group in groups["race"].items()} == {"White": 4, "Black": 4, "Asian": 1}
    assert groups["race"]["White"]["accuracy"] == pytest.approx(2 / 4)
    assert groups["race"]["Black"]["accuracy"] == 1.0
    assert groups["race_gender"]["White female"]["n"] == 2
    assert set(groups["age_band"]) == {"0-12", "18-39", "40-59", "60+"}
    gap = evaluate(records, p_female)["race_gap"]
    assert gap["worst"] == "White" and gap["gap"] == pytest.approx(0.5)


def test_group_intervals_come_from_the_shared_bootstrap_and_a_single_face_has_none():
    records, p_female = hand_made()
    groups = evaluate(records, p_female)["groups"]
    white = groups["race"]["White"]
    correct = [1.0, 0.0, 1.0, 0.0]
    assert white["accuracy_ci"] == bootstrap_interval(correct, seed=BOOTSTRAP_SEED, resamples=BOOTSTRAP_SAMPLES)
    low, high = white["mean_confidence_ci"]
    assert low <= white["mean_confidence"] <= high
    assert groups["race"]["Asian"]["accuracy_ci"] is None  # one face: nothing to resample
    assert groups["race"]["Asian"]["mean_confidence_ci"] is None


def test_calibration_error_is_the_weighted_gap_between_predicted_and_observed():
    records, p_female = hand_made()
    calibration = evaluate(records, p_female)["calibration"]
    genders = np.array([gender for gender, *_ in CASES])
    bins = np.clip(np.digitize(p_female, np.linspace(0, 1, 11)[1:-1]), 0, 9)
    expected = sum(
        (bins == b).sum() / len(CASES) * abs(p_female[bins == b].mean() - genders[bins == b].mean())
        for b in set(bins.tolist())
    )
    assert calibration["ece"] == pytest.approx(expected)
    assert sum(row["count"] for row in calibration["bins"]) == len(CASES)


def test_evaluate_with_adults_adds_the_adults_and_their_missing_faces():
    records, p_female = hand_made()
    no_face = [FaceRecord(Path("x.jpg"), 1, 0, 30), FaceRecord(Path("y.jpg"), 0, 0, 10)]
    metrics = evaluate_with_adults(records, p_female, no_face)
    adults = [number for number, record in enumerate(records) if record.age >= ADULT_AGE]
    assert metrics["no_face"] == 2
    assert metrics["adults"]["n"] == len(adults) and metrics["adults"]["no_face"] == 1
    assert metrics["adults"] == evaluate([records[i] for i in adults], p_female[adults], no_face=1)


def test_evaluation_of_a_model_fitted_on_generated_faces(tmp_path, monkeypatch):
    monkeypatch.setenv("GENREC_CACHE_DIR", str(tmp_path / "cache"))
    records = write_face_collection(tmp_path / "faces", 80)
    blank = tmp_path / "faces" / "blank.jpg"
    blank.write_bytes(np.full((200, 200), 128, np.uint8).tobytes())  # not even an image: read as no face
    records.append(FaceRecord(blank, gender=1, race=0, age=30))
    options = TrainingOptions(n_jobs=1)
    train_records, test_records = split_records(records, test_size=0.25, seed=3)
    train = extract_faces(train_records, options, desc="train")
    test = extract_faces(test_records, options, desc="test")
    estimator = build_estimator(n_components=10).fit(train.vectors, [record.gender for record in train.records])
    p_female = GenderModel(estimator, {}).predict_p_female(test.vectors)

    metrics = evaluate_with_adults(test.records, p_female, test.no_face)

    genders = np.array([record.gender for record in test.records])
    assert metrics["n"] + metrics["no_face"] == len(test_records)
    assert metrics["accuracy"] == pytest.approx(np.mean((p_female >= 0.5) == genders))
    assert metrics["accuracy"] > 0.8  # the mirror image is learnable
    assert metrics["adults"]["n"] == sum(1 for record in test.records if record.age >= ADULT_AGE)
