"""Training on a small stratified subset of the shared faces, and the evaluate_model command's JSON."""

import json
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from workers.pipeline.datasets import FaceRecord, filter_min_age, read_dataset
from workers.pipeline.model import load_model
from workers.pipeline.training import (
    STUDY_GRID,
    TrainingOptions,
    grid_candidates,
    mirrored,
    sample_weights,
    split_records,
    stratified_subset,
    train_and_save,
)

SUBSET = 500


def test_grid_candidates_vary_coef0_only_for_poly():
    candidates = grid_candidates(STUDY_GRID)
    kernels = Counter(candidate["kernel"] for candidate in candidates)
    assert kernels == {"rbf": 7 * 6, "poly": 7 * 6 * 2}
    assert {candidate["coef0"] for candidate in candidates if candidate["kernel"] == "rbf"} == {0}


def test_mirrored_flips_each_face_left_to_right():
    face = np.arange(10000, dtype=np.float32).reshape(1, -1)
    flipped = mirrored(face)
    assert flipped.reshape(100, 100)[7, 0] == face.reshape(100, 100)[7, 99]
    np.testing.assert_array_equal(mirrored(flipped), face)


def test_sample_weights_give_every_group_the_same_total():
    records = [FaceRecord(Path(str(i)), gender=i % 2, race=0 if i < 30 else 1) for i in range(40)]
    weights = sample_weights(records, "group")
    totals = Counter()
    for record, weight in zip(records, weights, strict=True):
        totals[(record.gender, record.race)] += weight
    assert np.allclose(list(totals.values()), 10.0)
    assert sample_weights(records, "none") is None


def test_split_records_is_stratified_and_repeatable():
    records = [FaceRecord(Path(str(i)), gender=i % 2, race=(i // 2) % 5, age=10 + i % 50) for i in range(500)]
    train, test = split_records(records, 0.2, seed=7)
    assert len(test) == 100
    assert Counter(r.gender for r in test) == {0: 50, 1: 50}
    assert split_records(records, 0.2, seed=7)[1] == test


@pytest.fixture(scope="module")
def detection_cache(tmp_path_factory):
    """A private detection cache shared by this module's tests (the first run fills it)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GENREC_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
        yield


@pytest.fixture(scope="module")
def small_model(shared_data, detection_cache, tmp_path_factory) -> tuple[Path, dict]:
    faces = shared_data / "faces_raw"
    records = read_dataset(faces)
    out = tmp_path_factory.mktemp("models") / "small"
    options = TrainingOptions(grid="fast", search_samples=150, search_folds=3, n_components=20, max_records=SUBSET)
    notes = tmp_path_factory.mktemp("notes") / "notes.md"
    notes.write_text("Tried nothing else in this test.")
    manifest = train_and_save(records, out, options, source=str(faces), command="test run", notes=notes)
    return out, manifest


def test_small_training_run_beats_chance_and_writes_model_and_report(small_model):
    out, manifest = small_model
    assert manifest["training_data"]["records"] == SUBSET
    assert manifest["training_data"]["test_images"] == SUBSET // 5
    assert manifest["metrics"]["accuracy"] > 0.6
    assert manifest["metrics"]["roc_auc"] > 0.6
    assert manifest["metrics"]["no_face"] == manifest["training_data"]["no_face"]["test"]
    assert load_model(out).sha256 == manifest["sha256"]
    report = out / "report"
    for name in (
        "report.md",
        "metrics.json",
        "roc.png",
        "eigenfaces.png",
        "explained_variance.png",
        "confusion_matrix.png",
        "reliability.png",
        "accuracy_by_race.png",
    ):
        assert (report / name).stat().st_size > 1000, name
    report_text = (report / "report.md").read_text()
    assert "test run" in report_text
    assert "## What was tried\n\nTried nothing else in this test." in report_text


def test_evaluate_model_command_writes_metrics_json(small_model, shared_data, tmp_path):
    out, _ = small_model
    target = tmp_path / "metrics.json"
    call_command("evaluate_model", data=shared_data / "faces_raw", model=out, json=target, min_age=18, max_records=60)
    metrics = json.loads(target.read_text())
    assert {"n", "accuracy", "balanced_accuracy", "roc_auc", "no_face", "groups"} <= set(metrics)
    assert metrics["n"] + metrics["no_face"] == 60
    assert set(metrics["groups"]["race"]) <= {"White", "Black", "Asian", "Indian", "Others"}
    assert 0.0 <= metrics["accuracy"] <= 1.0
    assert metrics["model"]["sha256"] == load_model(out).sha256


def _held_out_test_side(shared_data: Path, manifest: dict) -> list[FaceRecord]:
    """The test side of the small model's split, made as train_and_save makes it."""
    split = manifest["training_data"]["split"]
    records = stratified_subset(read_dataset(shared_data / "faces_raw"), SUBSET, split["seed"])
    return split_records(records, split["test_size"], split["seed"])[1]


def test_evaluate_model_held_out_reproduces_the_manifest_metrics(small_model, shared_data, tmp_path):
    out, manifest = small_model
    test = _held_out_test_side(shared_data, manifest)
    target = tmp_path / "held_out.json"
    call_command("evaluate_model", data=shared_data / "faces_raw", model=out, json=target, held_out=True)
    metrics = json.loads(target.read_text())
    assert metrics["n"] + metrics["no_face"] == len(test) == manifest["training_data"]["test_images"]
    recorded = manifest["metrics"]
    assert (metrics["n"], metrics["no_face"]) == (recorded["n"], recorded["no_face"])
    assert metrics["accuracy"] == recorded["accuracy"]
    assert metrics["roc_auc"] == pytest.approx(recorded["roc_auc"])
    assert metrics["adults"]["accuracy"] == recorded["adults"]["accuracy"]
    split = manifest["training_data"]["split"]
    assert metrics["split"]["held_out"] is True
    assert (metrics["split"]["test_size"], metrics["split"]["seed"]) == (split["test_size"], split["seed"])
    assert (metrics["split"]["records"], metrics["split"]["test_images"]) == (SUBSET, len(test))


def test_evaluate_model_held_out_min_age_keeps_the_adults_of_the_split(small_model, shared_data, tmp_path):
    out, manifest = small_model
    adults = filter_min_age(_held_out_test_side(shared_data, manifest), 18)
    target = tmp_path / "adults.json"
    call_command("evaluate_model", data=shared_data / "faces_raw", model=out, json=target, held_out=True, min_age=18)
    metrics = json.loads(target.read_text())
    assert metrics["n"] + metrics["no_face"] == len(adults) == metrics["split"]["images"]
    assert metrics["accuracy"] == manifest["metrics"]["adults"]["accuracy"]


def test_evaluate_model_held_out_refuses_a_manifest_without_split_or_another_subset(small_model, shared_data, tmp_path):
    out, _ = small_model
    with pytest.raises(CommandError, match="max-records"):
        call_command("evaluate_model", data=shared_data / "faces_raw", model=out, held_out=True, max_records=60)
    no_split = shutil.copytree(out, tmp_path / "no_split", ignore=shutil.ignore_patterns("report"))
    manifest = json.loads((no_split / "manifest.json").read_text())
    del manifest["training_data"]["split"]
    (no_split / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(CommandError, match="no training split"):
        call_command("evaluate_model", data=shared_data / "faces_raw", model=no_split, held_out=True)
