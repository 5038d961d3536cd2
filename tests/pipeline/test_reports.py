"""The model report (reports.py) of a whole training run on generated faces: figures, tables and numbers agree."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from workers.pipeline import reports
from workers.pipeline.datasets import RACE_NAMES, FaceRecord
from workers.pipeline.evaluation import evaluate_with_adults
from workers.pipeline.model import load_model
from workers.pipeline.synthetic import write_face_collection
from workers.pipeline.training import TrainingOptions, train_and_save

pytestmark = pytest.mark.timeout(300)

FACES = 90


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, dict]:
    """A model trained and reported by train_and_save on generated faces (the fast grid, one process)."""
    folder = tmp_path_factory.mktemp("generated")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GENREC_CACHE_DIR", str(folder / "cache"))
        records = write_face_collection(folder / "faces", FACES)
        options = TrainingOptions(grid="fast", search_samples=None, search_folds=2, n_components=10, n_jobs=1)
        notes = folder / "notes.md"
        notes.write_text("Generated faces only.")
        manifest = train_and_save(
            records, folder / "model", options, source="generated", command="make test", notes=notes
        )
    return folder / "model", manifest


def test_report_writes_every_figure_and_the_metrics_it_quotes(trained):
    directory, manifest = trained
    report = directory / "report"
    for name in ("roc.png", "eigenfaces.png", "explained_variance.png", "confusion_matrix.png", "reliability.png"):
        assert (report / name).stat().st_size > 1000, name
    for name in ("accuracy_by_race.png", "accuracy_by_race_gender.png", "accuracy_by_age.png"):
        assert (report / name).stat().st_size > 1000, name
    metrics = json.loads((report / "metrics.json").read_text())
    assert metrics["accuracy"] == manifest["metrics"]["accuracy"]
    assert metrics["n"] + metrics["no_face"] == manifest["training_data"]["test_images"]
    assert manifest["training_data"]["records"] == FACES
    assert load_model(directory).sha256 == manifest["sha256"]


def test_report_tables_show_the_metrics_of_each_group(trained):
    directory, _ = trained
    metrics = json.loads((directory / "report" / "metrics.json").read_text())
    text = (directory / "report" / "report.md").read_text()
    assert "make test" in text and "## What was tried\n\nGenerated faces only." in text
    assert f"| {metrics['accuracy']:.1%} |" in text
    for name, group in metrics["groups"]["race"].items():
        assert name in RACE_NAMES.values()
        low, high = group["accuracy_ci"]
        assert f"| {name} | {group['n']} | {group['accuracy']:.1%} ({low:.1%}–{high:.1%}) |" in text


def test_report_of_a_group_with_one_face_says_it_has_no_interval(trained, tmp_path):
    directory, _ = trained
    model = load_model(directory)
    records = [FaceRecord(Path(f"{n}.jpg"), gender=n % 2, race=0, age=30) for n in range(6)]
    records.append(FaceRecord(Path("alone.jpg"), gender=1, race=3, age=30))
    p_female = np.array([0.2, 0.7, 0.4, 0.9, 0.1, 0.6, 0.8])
    metrics = evaluate_with_adults(records, p_female)

    reports.write_report(tmp_path, model, metrics, [0.5, 0.8, 0.9])

    text = (tmp_path / "report.md").read_text()
    assert "| Indian | 1 | 100.0% (no interval) | 0.800 (no interval) |" in text
    assert (tmp_path / "accuracy_by_race.png").stat().st_size > 1000
