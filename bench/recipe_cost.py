"""Per-face CPU cost of a model's recipe: eye alignment, features and prediction, on training-side faces only.

The faces are the validation side of bench/model_variants.py (the training side of the shipped split; no test
image is read), cut with the cached training detections. Each figure is the median over repeats of CPU
milliseconds per face (time.process_time, one OpenCV thread, one BLAS thread).

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


if __name__ == "__main__":
    main()
