"""run_study's default frame sampling against every frame on a FakeAVCeleb-shaped tree of the shared clips.

Builds the tree of the 46 clips labelled male or female (as tests/workers/test_run_study.py does), runs
``manage.py run_study`` with its defaults and with ``--every-n-frames 1`` (same detection), times each, and
prints how far every cell's mean and 95% interval moved. Run from the repository root:
``DEBUG=1 .venv/bin/python bench/study_sampling.py [--work var/bench_study] [--reuse] [--json OUT]``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))  # run as a script from anywhere, without installing the project

from tests.workers.test_run_study import build_fakeavceleb_tree  # noqa: E402
from workers.pipeline.study.runs import compare_runs  # noqa: E402

RUNS = {"defaults": [], "every_frame": ["--every-n-frames", "1"]}


def run(root: Path, out: Path, extra: list[str], *, reuse: bool) -> float | None:
    """Run the command into ``out``; its wall time in seconds (None when an earlier result was reused)."""
    if reuse and (out / "study.json").is_file():
        return None
    command = [sys.executable, "manage.py", "run_study", str(root), "--out", str(out), *extra]
    started = time.perf_counter()
    completed = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if completed.returncode:
        sys.exit(f"{' '.join(command)} failed:\n{completed.stderr[-3000:]}")
    print(completed.stdout.splitlines()[0])  # the command's own expected duration
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_videos = Path(os.environ.get("GENREC_SHARED_DATA", REPO_ROOT.parent / "shared" / "data")) / "videos"
    parser.add_argument("--videos", type=Path, default=default_videos)
    parser.add_argument("--work", type=Path, default=REPO_ROOT / "var" / "bench_study")
    parser.add_argument("--reuse", action="store_true", help="keep a run whose study.json is already there")
    parser.add_argument("--json", type=Path, metavar="OUT", help="write the timings and per-cell shifts as JSON")
    args = parser.parse_args()

    root = args.work / "FakeAVCeleb"
    if not root.is_dir():
        root.mkdir(parents=True)
        print(f"{sum(build_fakeavceleb_tree(args.videos, root).values())} clips linked under {root}")
    seconds = {name: run(root, args.work / name, extra, reuse=args.reuse) for name, extra in RUNS.items()}
    documents = {name: json.loads((args.work / name / "study.json").read_text()) for name in RUNS}
    pairs = compare_runs(documents["every_frame"], documents["defaults"])
    print("cell | every frame: mean [95% CI] | defaults: mean [95% CI] | defaults - every frame | CI bound move")
    for pair in pairs:
        shown = [
            f"{mean:.2f} [{low:.2f}, {high:.2f}]" for mean, (low, high) in zip(pair.means, pair.intervals, strict=True)
        ]
        print(
            f"{pair.category} {pair.ethnicity} {pair.gender} | {shown[0]} | {shown[1]} | "
            f"{pair.difference:+.2f} | {pair.interval_shift:.2f}"
        )
    differences = [abs(pair.difference) for pair in pairs]
    shifts = [pair.interval_shift for pair in pairs]
    summary = {
        "seconds": seconds,
        "largest_mean_move": max(differences),
        "mean_mean_move": sum(differences) / len(differences),
        "largest_interval_move": max(shifts),
        "cells": len(pairs),
    }
    print(json.dumps(summary, indent=2))
    if args.json:
        cells = [
            {"cell": [pair.category, pair.ethnicity, pair.gender], "means": pair.means, "intervals": pair.intervals}
            for pair in pairs
        ]
        args.json.write_text(json.dumps({**summary, "per_cell": cells}, indent=2))


if __name__ == "__main__":
    main()
