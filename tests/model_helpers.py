"""Installed models for the tests: small real models trained on generated faces, in a models/ folder of their own."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from workers.pipeline.evaluation import evaluate_with_adults
from workers.pipeline.model import build_estimator, save_model
from workers.pipeline.preprocessing import face_vector
from workers.pipeline.synthetic import write_face_collection
from workers.pipeline.training import _headline as headline_metrics  # the manifest's "metrics", as training writes it
from workers.pipeline.types import Box

FACES = 60


def train_generated_model(directory: Path, *, seed: int, components: int = 5) -> Path:
    """A PCA + SVM trained on generated faces (synthetic.write_face_collection) and scored on held-out ones.

    Different seeds give different files (so different sha256); the manifest has the real metrics' shape.
    """
    records = write_face_collection(directory.parent / f"{directory.name}-faces", FACES, seed=seed)
    vectors = []
    for record in records:
        gray = cv2.imread(str(record.path), cv2.IMREAD_GRAYSCALE)
        vectors.append(face_vector(gray, Box(0, 0, gray.shape[1], gray.shape[0])))
    vectors, genders = np.stack(vectors), np.array([record.gender for record in records])
    half = len(records) // 2
    estimator = build_estimator(n_components=components, C=1.0, kernel="rbf", gamma="scale", random_state=seed)
    estimator.fit(vectors[:half], genders[:half])
    p_female = estimator.predict_proba(vectors[half:])[:, 1]
    metrics = evaluate_with_adults(records[half:], p_female)
    manifest = {
        "name": directory.name,
        "description": "generated faces, for tests",
        "parameters": {"pca": {"n_components": components}},
        "metrics": headline_metrics(metrics),
    }
    save_model(estimator, directory, manifest)
    return directory


def install_models(root: Path, names_and_seeds: dict[str, int]) -> Path:
    """A models/ folder holding one generated-face model per name."""
    for name, seed in names_and_seeds.items():
        train_generated_model(root / name, seed=seed)
    return root


@pytest.fixture(scope="session")
def generated_models(tmp_path_factory) -> Path:
    """Two generated-face models, trained once per session: eigen-a (seed 1) and eigen-b (seed 2)."""
    return install_models(tmp_path_factory.mktemp("generated-models"), {"eigen-a": 1, "eigen-b": 2})


@pytest.fixture
def installed_models(generated_models, tmp_path, settings) -> Path:
    """A private copy of the generated models as the site's models/ folder; eigen-a is GENREC_MODEL_DIR."""
    root = tmp_path / "models"
    shutil.copytree(generated_models, root, ignore=shutil.ignore_patterns("*-faces"))
    settings.GENREC_MODELS_ROOT = root
    settings.GENREC_MODEL_DIR = root / "eigen-a"
    return root
