"""A model's recipe: how a detected face becomes its feature vector, shared by training and inference."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .alignment import AlignmentSettings
from .config import FACE_SIZE
from .features import FEATURE_KINDS, feature_matrix, hog_features, lbp_features
from .preprocessing import STUDY_PREPROCESSING, Preprocessing, face_image, face_vectors
from .types import Box

PIXELS = FACE_SIZE * FACE_SIZE
# Values per face of each feature kind (HOG and LBP sizes follow from features.py's constants).
_KIND_SIZES = {
    "pixels": PIXELS,
    "pixels50": PIXELS // 4,
    "hog": int(hog_features(np.zeros((1, FACE_SIZE, FACE_SIZE), np.uint8)).shape[1]),
    "lbp": int(lbp_features(np.zeros((1, FACE_SIZE, FACE_SIZE), np.uint8)).shape[1]),
}


@dataclass(frozen=True)
class Recipe:
    """Preprocessing (plain crop or eye alignment, lighting) and the feature kinds a model reads."""

    preprocessing: Preprocessing = STUDY_PREPROCESSING
    features: tuple[str, ...] = ("pixels",)

    def __post_init__(self) -> None:
        if not self.features or set(self.features) - set(FEATURE_KINDS):
            raise ValueError(f"unknown feature kinds {self.features}: expected some of {FEATURE_KINDS}")

    @property
    def is_plain(self) -> bool:
        """The study's recipe: plain crop, no lighting step, min-max pixels only."""
        return self == PLAIN_RECIPE

    @property
    def n_features(self) -> int:
        """Values per face vector."""
        return sum(_KIND_SIZES[kind] for kind in self.features)

    def faces(self, gray: np.ndarray, boxes: Sequence[Box]) -> np.ndarray:
        """The (n, 100, 100) uint8 faces of the boxes, cropped or aligned as the recipe says."""
        if not boxes:
            return np.empty((0, FACE_SIZE, FACE_SIZE), dtype=np.uint8)
        return np.stack([face_image(gray, box, self.preprocessing) for box in boxes])

    def features_of(self, faces: np.ndarray) -> np.ndarray:
        """The (n, n_features) float32 vectors of uint8 faces (training's and inference's one feature step)."""
        if len(faces) == 0:
            return np.empty((0, self.n_features), dtype=np.float32)
        return np.asarray(feature_matrix(faces, self.features), dtype=np.float32)

    def face_vectors(self, gray: np.ndarray, boxes: Sequence[Box]) -> np.ndarray:
        """The (n, n_features) vectors of the faces of one image, for one batched prediction."""
        if self.is_plain:  # the study's own path, so plain models see exactly the vectors they always saw
            return face_vectors(gray, boxes)
        return self.features_of(self.faces(gray, boxes))

    def tracking_pixels(self, gray: np.ndarray, boxes: Sequence[Box], vectors: np.ndarray) -> np.ndarray:
        """The (n, 10000) min-max pixels of the plain Haar crop of each face: what the tracker's descriptor reads.

        The same for every model, so a face looks alike from frame to frame whether or not its eyes were found
        (an aligned and a plain crop of one face are far apart as pixels). For the plain recipe these are the
        face ``vectors`` themselves; other recipes crop again (about 0.1 ms per face).
        """
        if self.is_plain:
            return np.asarray(vectors)
        return face_vectors(gray, boxes)

    def to_manifest(self) -> dict[str, Any]:
        """The manifest's ``recipe`` entry."""
        alignment = self.preprocessing.alignment
        return {
            "alignment": None if alignment is None else dataclasses.asdict(alignment),
            "photometric": self.preprocessing.photometric,
            "features": list(self.features),
            "n_features": self.n_features,
            "blocks": "one kind as it is; several concatenated, each block scaled to unit L2 norm per face",
        }


PLAIN_RECIPE = Recipe()


def _tuples(value: object) -> object:
    """A manifest's JSON lists back as the settings' tuples, nested ones included."""
    return tuple(_tuples(item) for item in value) if isinstance(value, list) else value


def recipe_from_manifest(manifest: dict[str, Any]) -> Recipe:
    """The recipe a manifest records; a manifest without one was trained on the plain recipe."""
    entry = manifest.get("recipe")
    if not entry:
        return PLAIN_RECIPE
    alignment = entry.get("alignment")
    if alignment is not None:
        alignment = AlignmentSettings(**{key: _tuples(value) for key, value in alignment.items()})
    preprocessing = Preprocessing(alignment, entry.get("photometric", "none"))
    return Recipe(preprocessing, tuple(entry.get("features", ("pixels",))))


def mirrored_faces(faces: np.ndarray) -> np.ndarray:
    """Faces with each one's left-right mirror image right after it."""
    both = np.empty((2 * len(faces), *faces.shape[1:]), dtype=faces.dtype)
    both[0::2], both[1::2] = faces, faces[:, :, ::-1]
    return both
