"""Model save/load: identical predictions after a round trip, and refusal of altered or foreign files."""

import json
import pickle
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest

from workers.pipeline.model import (
    MANIFEST_FILE,
    MODEL_FILE,
    ModelIntegrityError,
    build_estimator,
    default_model_dir,
    load_model,
    save_model,
)
from workers.pipeline.synthetic import astronaut_bgr
from workers.pipeline.types import Box


def _faces(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Synthetic 'faces': women a little brighter in the top half, so the classes are learnable but overlap."""
    rng = np.random.default_rng(seed)
    genders = np.arange(n) % 2
    vectors = rng.random((n, 10000), dtype=np.float32)
    vectors[:, :5000] += 0.08 * genders[:, None]
    return vectors, genders


@pytest.fixture(scope="module")
def saved_model_dir(tmp_path_factory) -> Path:
    vectors, genders = _faces(120, seed=1)
    with warnings.catch_warnings():
        # scikit-learn 1.9 deprecates SVC(probability=True); the calibrated wrapper must not warn.
        warnings.simplefilter("error", FutureWarning)
        warnings.simplefilter("error", DeprecationWarning)
        estimator = build_estimator(n_components=10, C=1.0).fit(vectors, genders)
    directory = tmp_path_factory.mktemp("model")
    save_model(estimator, directory, {"name": "tiny", "parameters": {"pca": {"n_components": 10}}})
    return directory


def test_save_model_writes_manifest_with_hash_and_versions(saved_model_dir):
    manifest = json.loads((saved_model_dir / MANIFEST_FILE).read_text())
    assert manifest["name"] == "tiny"
    assert len(manifest["sha256"]) == 64
    assert set(manifest["libraries"]) >= {"numpy", "scikit-learn", "opencv", "joblib", "python"}
    assert manifest["created_at"].endswith("+00:00")


def test_load_model_round_trip_gives_identical_predictions(saved_model_dir):
    vectors, genders = _faces(40, seed=2)
    first = load_model(saved_model_dir).predict_p_female(vectors)
    second = load_model(saved_model_dir).predict_p_female(vectors)
    np.testing.assert_array_equal(first, second)
    assert first.shape == (40,)
    assert ((first >= 0) & (first <= 1)).all()
    assert np.mean((first >= 0.5) == genders) > 0.75  # p_female really is the female column


def test_predict_p_female_handles_single_rows_and_empty_batches(saved_model_dir):
    model = load_model(saved_model_dir)
    vectors, _ = _faces(3, seed=3)
    np.testing.assert_allclose(model.predict_p_female(vectors[0]), model.predict_p_female(vectors)[:1], rtol=1e-4)
    assert model.predict_p_female(np.empty((0, 10000))).shape == (0,)
    with pytest.raises(ValueError, match="10000"):
        model.predict_p_female(np.zeros((1, 50)))


def _copy(source: Path, target: Path) -> Path:
    target.mkdir()
    for name in (MODEL_FILE, MANIFEST_FILE):
        (target / name).write_bytes((source / name).read_bytes())
    return target


def test_load_model_refuses_a_file_with_one_byte_changed(saved_model_dir, tmp_path):
    directory = _copy(saved_model_dir, tmp_path / "tampered")
    content = bytearray((directory / MODEL_FILE).read_bytes())
    content[len(content) // 2] ^= 0x01
    (directory / MODEL_FILE).write_bytes(bytes(content))
    with pytest.raises(ModelIntegrityError, match="does not match its manifest"):
        load_model(directory)


def test_load_model_refuses_a_foreign_file_even_with_a_matching_manifest(saved_model_dir, tmp_path):
    from workers.pipeline.model import file_sha256

    directory = _copy(saved_model_dir, tmp_path / "foreign")
    (directory / MODEL_FILE).write_bytes(pickle.dumps({"not": "a model"}))
    manifest = json.loads((directory / MANIFEST_FILE).read_text())
    manifest["sha256"] = file_sha256(directory / MODEL_FILE)
    (directory / MANIFEST_FILE).write_text(json.dumps(manifest))
    with pytest.raises(ModelIntegrityError, match="not a scikit-learn Pipeline"):
        load_model(directory)
    (directory / MODEL_FILE).write_bytes(b"plain text, not a pickle")
    manifest["sha256"] = file_sha256(directory / MODEL_FILE)
    (directory / MANIFEST_FILE).write_text(json.dumps(manifest))
    with pytest.raises(ModelIntegrityError, match="not a loadable model"):
        load_model(directory)


def test_load_model_refuses_a_missing_or_broken_manifest(saved_model_dir, tmp_path):
    directory = _copy(saved_model_dir, tmp_path / "no-manifest")
    (directory / MANIFEST_FILE).unlink()
    with pytest.raises(ModelIntegrityError, match="no manifest.json"):
        load_model(directory)
    (directory / MANIFEST_FILE).write_text("{not json")
    with pytest.raises(ModelIntegrityError, match="not a readable model manifest"):
        load_model(directory)


def test_load_model_refuses_another_scikit_learn_minor_version(saved_model_dir, tmp_path):
    directory = _copy(saved_model_dir, tmp_path / "old")
    manifest = json.loads((directory / MANIFEST_FILE).read_text())
    manifest["libraries"]["scikit-learn"] = "0.24.2"
    (directory / MANIFEST_FILE).write_text(json.dumps(manifest))
    with pytest.raises(ModelIntegrityError, match="scikit-learn 0.24.2"):
        load_model(directory)


def test_default_model_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.delenv("GENREC_MODEL_DIR", raising=False)
    assert default_model_dir() == Path(__file__).resolve().parents[2] / "models" / "default"
    monkeypatch.setenv("GENREC_MODEL_DIR", str(tmp_path))
    assert default_model_dir() == tmp_path


def test_compiled_predictor_matches_scikit_learn(saved_model_dir):
    """The numpy fast path computes the pipeline's own probabilities, not an approximation of them."""
    model = load_model(saved_model_dir)
    assert model.compiled is not None
    vectors, _ = _faces(64, seed=3)
    expected = model.estimator.predict_proba(vectors)[:, 1]
    np.testing.assert_allclose(model.predict_p_female(vectors), expected, rtol=0, atol=1e-4)
    np.testing.assert_allclose(model.predict_p_female(vectors[:1]), expected[:1], rtol=0, atol=1e-4)


def test_shipped_model_is_compiled_and_matches_scikit_learn():
    model = load_model(default_model_dir())
    assert model.compiled is not None
    vectors = np.random.default_rng(4).random((32, model.n_features), dtype=np.float32)
    np.testing.assert_allclose(
        model.predict_p_female(vectors), model.estimator.predict_proba(vectors)[:, 1], rtol=0, atol=1e-4
    )


@pytest.mark.parametrize("kernel", ["rbf", "sigmoid"], ids=["compiled", "scikit-learn"])
def test_a_faces_probability_does_not_depend_on_the_faces_beside_it(tmp_path, kernel):
    vectors, genders = _faces(40, seed=6)
    estimator = build_estimator(n_components=8, kernel=kernel, C=1.0).fit(vectors, genders)
    save_model(estimator, tmp_path, {"name": kernel})
    model = load_model(tmp_path)
    assert (model.compiled is not None) == (kernel == "rbf")
    together = model.predict_p_female(vectors)
    for start, size in ((0, 1), (3, 2), (5, 9), (14, 26)):
        part = slice(start, start + size)
        np.testing.assert_array_equal(model.predict_p_female(vectors[part]), together[part])


def test_the_shipped_models_answer_for_a_face_does_not_depend_on_the_faces_beside_it():
    model = load_model(default_model_dir())
    gray = cv2.cvtColor(astronaut_bgr(), cv2.COLOR_BGR2GRAY)
    boxes = [Box(170 + dx, 60 + dy, 110 + size, 110 + size) for dx in (-6, 0, 6) for dy in (-4, 4) for size in (0, 12)]
    vectors = model.face_vectors(gray, boxes)
    together = model.predict_p_female(vectors)
    assert np.ptp(together) > 1e-3  # twelve different crops of a real face, not one saturated answer
    for start, size in ((0, 1), (1, 3), (4, 8)):
        part = slice(start, start + size)
        np.testing.assert_array_equal(model.predict_p_female(vectors[part]), together[part])


@pytest.mark.parametrize(
    "kernel_params",
    [{"kernel": "poly", "gamma": 0.01, "coef0": 1.0}, {"kernel": "linear"}],
    ids=["poly", "linear"],
)
def test_compiled_predictor_matches_scikit_learn_for_other_kernels(tmp_path, kernel_params):
    vectors, genders = _faces(80, seed=5)
    estimator = build_estimator(n_components=8, C=1.0, **kernel_params).fit(vectors, genders)
    save_model(estimator, tmp_path, {"name": kernel_params["kernel"]})
    model = load_model(tmp_path)
    assert model.compiled is not None
    np.testing.assert_allclose(model.predict_p_female(vectors), estimator.predict_proba(vectors)[:, 1], atol=1e-4)


def test_a_pipeline_the_fast_path_does_not_know_falls_back_to_scikit_learn(tmp_path):
    vectors, genders = _faces(80, seed=5)
    estimator = build_estimator(n_components=8, kernel="sigmoid", C=1.0).fit(vectors, genders)
    save_model(estimator, tmp_path, {"name": "sigmoid"})
    model = load_model(tmp_path)
    assert model.compiled is None
    np.testing.assert_allclose(model.predict_p_female(vectors), estimator.predict_proba(vectors)[:, 1], atol=1e-4)


def test_the_compiled_predictor_gives_probabilities_for_faces_far_outside_the_training_range(tmp_path):
    vectors, genders = _faces(80, seed=7)
    estimator = build_estimator(n_components=8, kernel="poly", gamma=0.01, coef0=1.0, C=1.0).fit(vectors, genders)
    save_model(estimator, tmp_path, {"name": "poly"})
    model = load_model(tmp_path)
    extreme = np.concatenate([vectors[:4] * 1e4, vectors[:4] * -1e4])
    p_female = model.predict_p_female(extreme)
    assert np.isfinite(p_female).all() and ((p_female >= 0) & (p_female <= 1)).all()
    assert {0.0, 1.0} <= set(np.round(p_female, 6))  # saturated both ways, no overflow on the way
