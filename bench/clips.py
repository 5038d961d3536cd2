"""Video-level labels of the shipped defaults on every shared clip, against GENDER_LABELS.csv.

This is the analyze command's bar: every clip must finish without error, and the label must agree
with GENDER_LABELS.csv on at least 80% of the clips labelled male or female.
Run from the repository root: ``.venv/bin/python bench/clips.py [--every-n-frames N] [--json OUT]``.
"""

from __future__ import annotations

import os

# As in the Celery workers: one BLAS/OpenMP thread per process, before numpy is imported.
for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

import argparse  # noqa: E402
import csv  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))  # run as a script from anywhere, without installing the project

from workers.pipeline.analysis import Analyzer  # noqa: E402
from workers.pipeline.errors import PipelineError  # noqa: E402
from workers.pipeline.model import load_model  # noqa: E402
from workers.pipeline.summary import track_and_summarize  # noqa: E402

LABELLED = ("male", "female")
BAR = 0.8


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_videos = Path(os.environ.get("GENREC_SHARED_DATA", REPO_ROOT.parent / "shared" / "data")) / "videos"
    parser.add_argument("--videos", type=Path, default=default_videos)
    parser.add_argument("--model", type=Path, help="model folder (default: the shipped one)")
    parser.add_argument("--every-n-frames", type=int, default=1)
    parser.add_argument("--json", type=Path, metavar="OUT", help="write the per-clip rows and totals as JSON")
    args = parser.parse_args()

    with (args.videos / "GENDER_LABELS.csv").open(newline="") as handle:
        truth = {row["file"]: row["gender_apparent"] for row in csv.DictReader(handle)}
    model = load_model(args.model)
    analyzer = Analyzer(model)
    rows = []
    for name in sorted(truth):
        start = time.perf_counter()
        try:
            result = analyzer.analyze_video(args.videos / name, every_n_frames=args.every_n_frames)
            summary = track_and_summarize(result).summary
            row = {"clip": name, "truth": truth[name], "label": summary.label, "error": ""}
            row.update(mean_confidence=summary.mean_confidence, frames=summary.frames_analyzed)
            row.update(hit_rate=summary.frames_with_faces / max(summary.frames_analyzed, 1))
        except PipelineError as error:
            row = {"clip": name, "truth": truth[name], "label": None, "error": str(error)}
        row["seconds"] = time.perf_counter() - start
        rows.append(row)
        verdict = "" if row["truth"] not in LABELLED else ("ok" if row["label"] == row["truth"] else "WRONG")
        print(f"{name:<60} {row['truth']:<10} {row['label']!s:<7} {verdict:<5} {row['error']}", flush=True)

    labelled = [row for row in rows if row["truth"] in LABELLED]
    agreeing = sum(row["label"] == row["truth"] for row in labelled)
    errors = sum(bool(row["error"]) for row in rows)
    share = agreeing / max(len(labelled), 1)
    print(
        f"model {model.name}: {agreeing}/{len(labelled)} labelled clips agree ({share:.1%}; bar {BAR:.0%}), "
        f"{errors} clip(s) failed, every {args.every_n_frames} frame(s)"
    )
    if args.json:
        totals = {"agreeing": agreeing, "labelled": len(labelled), "share": share, "errors": errors}
        args.json.write_text(json.dumps({"model": model.name, "totals": totals, "clips": rows}, indent=2) + "\n")
    sys.exit(0 if share >= BAR and errors == 0 else 1)


if __name__ == "__main__":
    main()
