"""The gender model: one scikit-learn Pipeline (PCA eigenfaces -> calibrated SVC), saved with a checked manifest."""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import platform
import threading
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cv2
import joblib
import numpy as np
import sklearn
from sklearn.calibration import CalibratedClassifierCV
from sklearn.decomposition import PCA
from sklearn.pipeline import Pipeline
from sklearn.svm import SVC

from .config import FACE_SIZE
from .errors import PipelineError
from .recipe import Recipe, recipe_from_manifest
from .types import Box

logger = logging.getLogger(__name__)

MODEL_FILE = "model.joblib"
MANIFEST_FILE = "manifest.json"
MODEL_DIR_ENV = "GENREC_MODEL_DIR"
MODELS_ROOT_ENV = "GENREC_MODELS_ROOT"
FEMALE_CLASS = 1
FEATURES = FACE_SIZE * FACE_SIZE
CALIBRATION_FOLDS = 5
REPO_ROOT = Path(__file__).resolve().parents[2]


class ModelIntegrityError(PipelineError):
    """A model folder whose file is missing, altered, foreign or made by an incompatible scikit-learn."""


def default_model_dir() -> Path:
    """The shipped model folder (repo_root/models/default) unless GENREC_MODEL_DIR points elsewhere."""
    return Path(os.environ.get(MODEL_DIR_ENV) or REPO_ROOT / "models" / "default")


def models_root() -> Path:
    """The folder whose sub-folders are the installed models (repo_root/models unless GENREC_MODELS_ROOT is set)."""
    return Path(os.environ.get(MODELS_ROOT_ENV) or REPO_ROOT / "models")


def model_folders(root: Path) -> list[Path]:
    """The model folders directly under ``root`` (those with a manifest.json), by name; none when root is missing."""
    if not Path(root).is_dir():
        return []
    return sorted(path for path in Path(root).iterdir() if path.is_dir() and (path / MANIFEST_FILE).is_file())


def read_manifest(directory: Path) -> dict[str, Any]:
    """A model folder's manifest.json, unchecked (no model file read); ModelIntegrityError when unreadable."""
    path = Path(directory) / MANIFEST_FILE
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise ModelIntegrityError(f"{path} is not a readable model manifest: {error}") from error
    if not isinstance(manifest, dict) or not isinstance(manifest.get("sha256"), str):
        raise ModelIntegrityError(f"{path} is not a model manifest (no sha256)")
    return manifest


def build_estimator(
    *,
    n_components: int = 50,
    whiten: bool = False,
    C: float = 10.0,  # noqa: N803 - scikit-learn's name
    kernel: str = "rbf",
    gamma: float | str = "scale",
    coef0: float = 0.0,
    class_weight: str | None = None,
    calibrated: bool = True,
    random_state: int = 0,
    n_jobs: int | None = None,
) -> Pipeline:
    """PCA eigenfaces then an SVM; ``calibrated`` wraps the SVC as scikit-learn 1.9 recommends for probabilities."""
    svc = SVC(C=C, kernel=kernel, gamma=gamma, coef0=coef0, class_weight=class_weight, random_state=random_state)
    # n_jobs only parallelises the calibration folds while fitting; a fitted model predicts the same either way.
    classifier = CalibratedClassifierCV(svc, ensemble=False, cv=CALIBRATION_FOLDS, n_jobs=n_jobs) if calibrated else svc
    return Pipeline(
        [
            ("pca", PCA(n_components=n_components, whiten=whiten, svd_solver="randomized", random_state=random_state)),
            ("svm", classifier),
        ]
    )


def library_versions() -> dict[str, str]:
    """Versions a saved model depends on, recorded in its manifest."""
    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scikit-learn": sklearn.__version__,
        "opencv": cv2.__version__,
        "joblib": joblib.__version__,
    }


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def save_model(estimator: Pipeline, directory: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    """Write ``model.joblib`` and ``manifest.json`` (with sha256, versions, created_at) and return the manifest."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    model_path = directory / MODEL_FILE
    joblib.dump(estimator, model_path, compress=3)
    full_manifest = {
        "name": manifest.get("name") or directory.name,
        **manifest,
        "file": MODEL_FILE,
        "sha256": file_sha256(model_path),
        "size_bytes": model_path.stat().st_size,
        "classes": {"0": "male", "1": "female"},
        "libraries": library_versions(),
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    (directory / MANIFEST_FILE).write_text(json.dumps(full_manifest, indent=2, default=_json_default) + "\n")
    return full_manifest


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} to a manifest")


COMPILED_KERNELS = ("rbf", "poly", "linear")
MAX_EXP = 700.0  # math.exp overflows a little above 709; the calibrated probability is 0.0 there anyway


class CompiledPredictor:
    """The fitted PCA -> SVC (rbf, poly or linear kernel) -> sigmoid calibration arithmetic, in plain numpy.

    scikit-learn's SVC prediction goes through libsvm with per-call validation, about 1 ms per face on this
    project's machines, more than the face detection it follows; the same sums as numpy matrix products cost a
    tenth of that. Built only for the shape ``build_estimator`` makes (PCA, then
    CalibratedClassifierCV(SVC(kernel=...), ensemble=False) with sigmoid calibration, classes 0 and 1);
    ``from_pipeline`` returns None for anything else, and the model falls back to scikit-learn.
    Its output matches ``Pipeline.predict_proba`` within 1e-4 (single-precision products; about 2e-5 seen on the
    shipped model and real faces; tests/pipeline/test_model.py).
    """

    def __init__(self, pipeline: Pipeline) -> None:
        pca, calibrated = pipeline.named_steps["pca"], pipeline.named_steps["svm"]
        (classifier,) = calibrated.calibrated_classifiers_
        (calibrator,) = classifier.calibrators
        svc = classifier.estimator
        self.mean = np.asarray(pca.mean_, dtype=np.float32)
        self.components = np.ascontiguousarray(pca.components_, dtype=np.float32)  # (k, d): one face is C @ x
        self.whiten_scale = np.sqrt(pca.explained_variance_) if pca.whiten else None
        # Single precision for the two large products: a face's prediction reads both matrices from memory,
        # and halving their bytes halves its cost (0.9 -> 0.35 ms for the shipped model); kernel values,
        # the decision sum and the calibration stay in double precision. The support vectors are kept
        # transposed, (k, n_sv): a face's kernel products are then x @ S, which BLAS streams at twice the
        # speed of S @ x when S is not already in the cache, as it never is between two video frames
        # (bench/recipe_cost.py).
        support_vectors = np.asarray(svc.support_vectors_, dtype=np.float32)
        self.support_vectors_t = np.ascontiguousarray(support_vectors.T)
        sv64 = support_vectors.astype(np.float64)
        self.support_norms = np.einsum("ij,ij->i", sv64, sv64)
        self.dual_coef = np.asarray(svc.dual_coef_, dtype=np.float64).ravel()
        self.intercept = float(np.asarray(svc.intercept_).ravel()[0])
        self.kernel = svc.kernel
        self.gamma = float(svc._gamma)
        self.coef0, self.degree = float(svc.coef0), int(svc.degree)
        # rbf: K = exp(-gamma * |x - s|^2) = exp(2 gamma x.s - gamma |s|^2 - gamma |x|^2); the middle term is fixed.
        self._neg_gamma_support_norms = -self.gamma * self.support_norms
        self.a, self.b = float(calibrator.a_), float(calibrator.b_)

    @classmethod
    def from_pipeline(cls, pipeline: Any) -> CompiledPredictor | None:
        """A compiled copy of ``pipeline``, or None when it is not a PCA -> calibrated SVC of a kernel this knows."""
        try:
            pca, calibrated = pipeline.named_steps["pca"], pipeline.named_steps["svm"]
            if len(pipeline.steps) != 2 or not isinstance(pca, PCA):
                return None
            if not isinstance(calibrated, CalibratedClassifierCV):
                return None
            if len(calibrated.calibrated_classifiers_) != 1 or list(calibrated.classes_) != [0, FEMALE_CLASS]:
                return None
            classifier = calibrated.calibrated_classifiers_[0]
            svc = classifier.estimator
            if not isinstance(svc, SVC) or svc.kernel not in COMPILED_KERNELS or classifier.method != "sigmoid":
                return None
            if len(classifier.calibrators) != 1 or not hasattr(classifier.calibrators[0], "a_"):
                return None
            return cls(pipeline)
        except (AttributeError, KeyError, TypeError, ValueError):
            return None

    def p_female(self, vectors: np.ndarray) -> np.ndarray:
        """P(female) of each row of an (n, features) float32 matrix.

        Each row is computed on its own, with matrix-vector products only, so its value never depends on the
        other rows of the call: a video's faces can be classified in batches of any size (several frames at a
        time keep the model's matrices in the cache) and a run split into parts still equals the whole run.
        """
        return np.array([self._p_female_of(row) for row in vectors], dtype=np.float64)

    def _p_female_of(self, vector: np.ndarray) -> float:
        projected = self.components @ (vector - self.mean)
        if self.whiten_scale is not None:
            projected = projected / self.whiten_scale
        projected = projected.astype(np.float32)
        kernel = (projected @ self.support_vectors_t).astype(np.float64)
        if self.kernel == "rbf":
            projected = projected.astype(np.float64)
            kernel *= 2.0 * self.gamma
            kernel += self._neg_gamma_support_norms
            kernel -= self.gamma * float(projected @ projected)
            np.minimum(kernel, 0.0, out=kernel)  # a squared distance is never negative
            np.exp(kernel, out=kernel)
        elif self.kernel == "poly":
            kernel *= self.gamma
            kernel += self.coef0
            base = kernel.copy()
            for _ in range(self.degree - 1):  # repeated products: numpy's integer power is ten times slower
                kernel *= base
        decision = float(kernel @ self.dual_coef) + self.intercept
        exponent = self.a * decision + self.b
        return 0.0 if exponent > MAX_EXP else 1.0 / (1.0 + math.exp(exponent))


class GenderModel:
    """A loaded, verified model: ``face_vectors`` of (gray, boxes) by its recipe, ``predict_p_female`` on them.

    The recipe (preprocessing and feature kinds) comes from the manifest; one without it is the plain recipe
    (100x100 min-max pixels, 10000 values), which every model made before recipes was trained on.
    """

    def __init__(self, estimator: Pipeline, manifest: dict[str, Any]):
        self.estimator = estimator
        self.manifest = manifest
        self.sha256: str = manifest.get("sha256", "")
        self.name: str = manifest.get("name", "")
        classes = list(estimator.classes_)
        if FEMALE_CLASS not in classes:
            raise ModelIntegrityError(f"model classes {classes} do not include female ({FEMALE_CLASS})")
        self._female_column = classes.index(FEMALE_CLASS)
        self.compiled = CompiledPredictor.from_pipeline(estimator)
        try:
            self.recipe: Recipe = recipe_from_manifest(manifest)
        except (TypeError, ValueError) as error:
            raise ModelIntegrityError(f"the manifest's recipe is not one this version knows: {error}") from error
        self.n_features = int(getattr(estimator, "n_features_in_", self.recipe.n_features))
        if self.n_features != self.recipe.n_features:
            raise ModelIntegrityError(
                f"the model reads {self.n_features} values per face, its recipe makes {self.recipe.n_features}"
            )

    def face_vectors(self, gray: np.ndarray, boxes: list[Box]) -> np.ndarray:
        """The (n, n_features) vectors of the boxes' faces in a gray image, made as this model was trained."""
        return self.recipe.face_vectors(gray, boxes)

    def predict_p_female(self, vectors: np.ndarray) -> np.ndarray:
        """Probability of female for each row of an (n, n_features) matrix, in one call.

        Each row's value is the same whatever other rows share the call (bit for bit), so callers may group faces
        as they like: the frames of a video several at a time, a run split into parts, a single photo.
        """
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.ndim == 1:
            vectors = vectors.reshape(1, -1)
        if vectors.shape[0] == 0:
            return np.empty(0, dtype=np.float64)
        if vectors.shape[1] != self.n_features:
            raise ValueError(f"expected face vectors of {self.n_features} values, got {vectors.shape[1]}")
        if self.compiled is not None:
            return self.compiled.p_female(vectors)
        # One row per call, as the compiled path: no face's answer depends on the faces classified with it.
        return np.concatenate([self.estimator.predict_proba(row[None, :])[:, self._female_column] for row in vectors])


def load_model(directory: Path | None = None) -> GenderModel:
    """Load a model folder after checking its sha256 against ``manifest.json`` (before unpickling anything)."""
    directory = Path(directory) if directory is not None else default_model_dir()
    manifest_path, model_path = directory / MANIFEST_FILE, directory / MODEL_FILE
    if not manifest_path.is_file():
        raise ModelIntegrityError(f"{directory} has no {MANIFEST_FILE}; refusing to load an unverified model")
    if not model_path.is_file():
        raise ModelIntegrityError(f"{directory} has no {MODEL_FILE}")
    try:
        manifest = json.loads(manifest_path.read_text())
        expected = manifest["sha256"]
    except (ValueError, KeyError, TypeError) as error:
        raise ModelIntegrityError(f"{manifest_path} is not a readable model manifest: {error}") from error
    actual = file_sha256(model_path)
    if actual != expected:
        raise ModelIntegrityError(
            f"{model_path} does not match its manifest (sha256 {actual[:12]}..., expected {str(expected)[:12]}...): "
            "the file was altered or replaced; retrain or restore it"
        )
    _check_sklearn_version(manifest.get("libraries", {}).get("scikit-learn"), model_path)
    try:
        with warnings.catch_warnings():
            # Patch-level version differences are fine; major/minor ones were refused above.
            warnings.filterwarnings("ignore", category=UserWarning, message=".*Trying to unpickle estimator.*")
            estimator = joblib.load(model_path)
    except Exception as error:  # a foreign pickle can raise anything
        raise ModelIntegrityError(f"{model_path} is not a loadable model: {error}") from error
    if not isinstance(estimator, Pipeline) or not hasattr(estimator, "predict_proba"):
        raise ModelIntegrityError(f"{model_path} holds a {type(estimator).__name__}, not a scikit-learn Pipeline")
    return GenderModel(estimator, manifest)


def _major_minor(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split(".")[:2] if part.isdigit())


def _check_sklearn_version(saved: str | None, model_path: Path) -> None:
    if not saved:
        raise ModelIntegrityError(f"the manifest of {model_path} does not say which scikit-learn made it")
    if _major_minor(saved) != _major_minor(sklearn.__version__):
        raise ModelIntegrityError(
            f"{model_path} was made with scikit-learn {saved}, this is {sklearn.__version__}: "
            "pickles are only reliable within one major.minor version; install the matching version or retrain"
        )


_cached_models: dict[str, GenderModel] = {}
_cached_models_lock = threading.Lock()


def cached_model(directory: Path | str | None = None, sha256: str | None = None) -> GenderModel:
    """The model of a directory, loaded and checked once per process (thread-safe): the one model cache.

    Keyed by folder; given the ``sha256`` the caller expects, a cached model with another one is loaded again
    when the folder's manifest has changed since (it was retrained), so a worker need not restart.
    """
    key = str(Path(directory) if directory is not None else default_model_dir())
    with _cached_models_lock:
        cached = _cached_models.get(key)
        stale = cached is not None and sha256 not in (None, cached.sha256) and _manifest_sha256(key) != cached.sha256
        if cached is None or stale:
            model = _cached_models[key] = load_model(Path(key))
            logger.info("Loaded model %s (%s) from %s", model.name, model.sha256[:12], key)
        return _cached_models[key]


def _manifest_sha256(directory: str) -> str | None:
    try:
        return read_manifest(Path(directory))["sha256"]
    except ModelIntegrityError:
        return None
