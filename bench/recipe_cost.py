"""Per-face CPU cost of a model's recipe: eye alignment, features and prediction, on training-side faces only.

The faces are the validation side of bench/model_variants.py (the training side of the shipped split; no test
image is read), cut with the cached training detections. Each figure is the median over repeats of CPU
milliseconds per face (time.process_time, one OpenCV thread, one BLAS thread). The prediction is also timed as
a video meets it: each model call after reading a buffer larger than the cache, as decoding a frame does (wall
milliseconds of the calls alone), one face per call and the faces of CLASSIFY_FRAMES frames per call.

    nice -n 10 .venv/bin/python bench/recipe_cost.py [--model models/default] [--faces 300] [--repeats 5]
"""

from __future__ import annotations

import os

for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

import argparse  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import replace  # noqa: E402
from pathlib import Path  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.model_variants import face_boxes, training_side  # noqa: E402
from workers.pipeline.alignment import AlignmentSettings, align_face  # noqa: E402
from workers.pipeline.analysis import CLASSIFY_FRAMES  # noqa: E402
from workers.pipeline.face_extraction import pad_image  # noqa: E402
from workers.pipeline.model import load_model  # noqa: E402

# The alignment settings compared beside the model's own: the defaults, and a faster eye search the bench
# research measured.
ALIGNMENTS = {
    "AlignmentSettings() (whole band, scale 1.15, 3 neighbours)": AlignmentSettings(),
    "scale 1.2, 2 neighbours": replace(AlignmentSettings(), scale_factor=1.2, min_neighbors=2),
}


def per_face_ms(work: Callable[[], object], count: int, repeats: int) -> float:
    """Median CPU milliseconds per face of ``work`` over ``repeats`` runs."""
    runs = []
    for _ in range(repeats):
        start = time.process_time()
        work()
        runs.append((time.process_time() - start) * 1000 / count)
    return statistics.median(runs)


FLUSH_BYTES = 64 << 20  # more than the machine's last-level cache (32 MB here): the model's matrices leave it


def cold_call_ms(call: Callable[[np.ndarray], object], groups: list[np.ndarray], repeats: int) -> float:
    """Median over repeats of wall milliseconds per face of ``call`` on each group, the cache flushed before each."""
    flush = np.ones(FLUSH_BYTES, dtype=np.uint8)
    runs = []
    for _ in range(repeats):
        seconds = 0.0
        for group in groups:
            flush.sum()
            start = time.perf_counter()
            call(group)
            seconds += time.perf_counter() - start
        runs.append(seconds * 1000 / sum(len(group) for group in groups))
    return statistics.median(runs)


def main() -> None:
    """Print the per-face cost of each alignment setting and of the model's features and prediction."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "faces_raw")
    parser.add_argument("--model", type=Path, help="model folder (default: the shipped one)")
    parser.add_argument("--faces", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    cv2.setNumThreads(1)
    model = load_model(args.model)
    _fit, validation, options = training_side(args.data, ROOT / "models" / "default" / "manifest.json")
    records, boxes = face_boxes(validation, options)
    images = [
        pad_image(cv2.imread(str(r.path), cv2.IMREAD_GRAYSCALE), options.pad, options.pad_mode)
        for r in records[: args.faces]
    ]
    pairs = list(zip(images, boxes[: args.faces], strict=True))
    own = model.recipe.preprocessing.alignment
    alignments = ({"the model's own": own} if own else {}) | ALIGNMENTS
    for name, settings in alignments.items():
        found = np.mean([align_face(gray, box, settings).eyes_found for gray, box in pairs])
        cost = per_face_ms(lambda s=settings: [align_face(g, b, s) for g, b in pairs], len(pairs), args.repeats)
        print(f"alignment, {name}: {cost:.3f} ms/face, eyes found on {found:.1%}")
    faces = np.stack([model.recipe.faces(gray, [box])[0] for gray, box in pairs])
    features = per_face_ms(lambda: [model.recipe.features_of(face[None]) for face in faces], len(faces), args.repeats)
    vectors = model.recipe.features_of(faces)
    predict = per_face_ms(lambda: [model.predict_p_female(v[None]) for v in vectors], len(vectors), args.repeats)
    whole = per_face_ms(lambda: [model.face_vectors(g, [b]) for g, b in pairs], len(pairs), args.repeats)
    print(f"model {model.name}: recipe {model.recipe.to_manifest()['features']}, {model.n_features} values")
    print(f"features {features:.3f} ms/face; predict {predict:.3f} ms/face (one face per call)")
    print(f"preprocessing + features (model.face_vectors) {whole:.3f} ms/face; with predict {whole + predict:.3f}")
    singles = [vectors[i : i + 1] for i in range(len(vectors))]
    grouped = [vectors[i : i + CLASSIFY_FRAMES] for i in range(0, len(vectors), CLASSIFY_FRAMES)]
    cold_single = cold_call_ms(model.predict_p_female, singles, args.repeats)
    cold_grouped = cold_call_ms(model.predict_p_female, grouped, args.repeats)
    print(
        f"predict with the cache flushed before each call: {cold_single:.3f} ms/face one face per call, "
        f"{cold_grouped:.3f} ms/face {CLASSIFY_FRAMES} faces per call (as analyze_video groups frames)"
    )
    if model.compiled is not None:  # the support-vector product, the larger of the two, in both layouts
        compiled = model.compiled
        support_vectors = np.ascontiguousarray(compiled.support_vectors_t.T)
        projected = [(compiled.components @ (v[0] - compiled.mean)).astype(np.float32)[None] for v in singles]
        rows_layout = cold_call_ms(lambda p: support_vectors @ p[0], projected, args.repeats)
        columns_layout = cold_call_ms(lambda p: p[0] @ compiled.support_vectors_t, projected, args.repeats)
        print(
            f"support-vector product, cache flushed: S @ x {rows_layout:.3f} ms/face, "
            f"x @ S.T (as stored) {columns_layout:.3f} ms/face"
        )


if __name__ == "__main__":
    main()
