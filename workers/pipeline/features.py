"""Feature extractors of aligned 100x100 faces for the PCA -> SVM family: pixels, HOG, LBP histograms."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from .config import FACE_SIZE

FEATURE_KINDS = ("pixels", "pixels50", "hog", "lbp")
HALF = FACE_SIZE // 2  # "pixels50": the face at half resolution (area-averaged), 2500 values
# HOG over the whole face: 20-pixel blocks of 2x2 cells moved by one cell, 9 orientation bins (2916 values).
HOG_CELL = 10
HOG_BINS = 9
# Uniform LBP (8 neighbours at radius 1) histograms over a 7x7 grid of 14-pixel cells (59 bins each).
LBP_GRID = 7
LBP_BINS = 59

_hog = cv2.HOGDescriptor(
    (FACE_SIZE, FACE_SIZE), (2 * HOG_CELL, 2 * HOG_CELL), (HOG_CELL, HOG_CELL), (HOG_CELL, HOG_CELL), HOG_BINS
)


def _uniform_lbp_table() -> np.ndarray:
    """Map each 8-bit LBP code to one of 58 uniform patterns (at most two 0/1 transitions) or 58 for the rest."""
    table = np.full(256, LBP_BINS - 1, dtype=np.int64)
    label = 0
    for code in range(256):
        bits = [(code >> i) & 1 for i in range(8)]
        if sum(bits[i] != bits[(i + 1) % 8] for i in range(8)) <= 2:
            table[code] = label
            label += 1
    return table


_LBP_TABLE = _uniform_lbp_table()
# Neighbour offsets (row, column) around the centre, in circular order.
_LBP_OFFSETS = ((-1, -1), (-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1))


def as_batch(faces: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
    """An (n, 100, 100) uint8 batch of faces from a batch, a list, or (n, 10000) flattened rows."""
    batch = np.asarray(faces)
    if batch.ndim == 2 and batch.shape[1] == FACE_SIZE * FACE_SIZE:
        batch = batch.reshape(-1, FACE_SIZE, FACE_SIZE)
    if batch.ndim != 3 or batch.shape[1:] != (FACE_SIZE, FACE_SIZE):
        raise ValueError(f"expected faces of {FACE_SIZE}x{FACE_SIZE}, got shape {batch.shape}")
    if batch.dtype != np.uint8:
        raise ValueError(f"expected uint8 faces, got {batch.dtype}")
    return batch


def _min_max_rows(rows: np.ndarray) -> np.ndarray:
    """Each float32 row scaled to [0, 1]; a flat row becomes zeros."""
    low, high = rows.min(axis=1, keepdims=True), rows.max(axis=1, keepdims=True)
    span = high - low
    return np.divide(rows - low, span, out=np.zeros_like(rows), where=span > 0)


def pixel_features(faces: np.ndarray) -> np.ndarray:
    """Min-max scaled pixels, flattened: the eigenfaces' input, (n, 10000) float32."""
    return _min_max_rows(as_batch(faces).reshape(len(faces), -1).astype(np.float32))


def half_pixel_features(faces: np.ndarray) -> np.ndarray:
    """Min-max scaled pixels of the face at half resolution (2x2 block means), (n, 2500) float32."""
    batch = as_batch(faces).astype(np.float32)
    return _min_max_rows(batch.reshape(len(batch), HALF, 2, HALF, 2).mean(axis=(2, 4)).reshape(len(batch), -1))


def hog_features(faces: np.ndarray) -> np.ndarray:
    """Histograms of oriented gradients of each face (L2-Hys normalised blocks), (n, 2916) float32."""
    batch = as_batch(faces)
    return np.stack([_hog.compute(face).reshape(-1) for face in batch]) if len(batch) else np.empty((0, 2916))


def lbp_codes(faces: np.ndarray) -> np.ndarray:
    """Uniform LBP labels (0-58) of the inner (n, 98, 98) pixels of each face."""
    batch = as_batch(faces).astype(np.int16)
    centre = batch[:, 1:-1, 1:-1]
    codes = np.zeros(centre.shape, dtype=np.int64)
    size = FACE_SIZE - 2
    for bit, (dy, dx) in enumerate(_LBP_OFFSETS):
        neighbour = batch[:, 1 + dy : 1 + dy + size, 1 + dx : 1 + dx + size]
        codes |= (neighbour >= centre).astype(np.int64) << bit
    return _LBP_TABLE[codes]


def lbp_features(faces: np.ndarray) -> np.ndarray:
    """Uniform LBP histograms on a 7x7 grid, each normalised to sum 1, (n, 2891) float32."""
    codes = lbp_codes(faces)
    n, size = len(codes), codes.shape[1]
    cell = size // LBP_GRID
    codes = codes[:, : cell * LBP_GRID, : cell * LBP_GRID]
    cell_index = (np.arange(cell * LBP_GRID) // cell)[:, None] * LBP_GRID + (np.arange(cell * LBP_GRID) // cell)
    flat = (np.arange(n)[:, None, None] * LBP_GRID**2 + cell_index) * LBP_BINS + codes
    counts = np.bincount(flat.ravel(), minlength=n * LBP_GRID**2 * LBP_BINS).astype(np.float32)
    return (counts.reshape(n, LBP_GRID**2 * LBP_BINS) / cell**2).astype(np.float32)


_EXTRACTORS = {
    "pixels": pixel_features,
    "pixels50": half_pixel_features,
    "hog": hog_features,
    "lbp": lbp_features,
}


def feature_matrix(faces: np.ndarray, kinds: Sequence[str]) -> np.ndarray:
    """One feature kind as it is, or several concatenated with each block scaled to unit L2 norm per face."""
    unknown = set(kinds) - set(FEATURE_KINDS)
    if not kinds or unknown:
        raise ValueError(f"unknown feature kinds {sorted(unknown)}: expected some of {FEATURE_KINDS}")
    blocks = [_EXTRACTORS[kind](faces) for kind in kinds]
    if len(blocks) == 1:
        return blocks[0]
    # Without it the 10000 pixels would outweigh a few thousand histogram values in the PCA.
    scaled = [block / np.maximum(np.linalg.norm(block, axis=1, keepdims=True), 1e-12) for block in blocks]
    return np.hstack(scaled).astype(np.float32)
