"""Benchmark of the vision pipeline: decode-only vs the study's detection vs the shipped defaults.

Run from the repository root: ``.venv/bin/python bench/pipeline.py [--quick] [--json OUT]``.
Prints a table and optionally writes every figure as JSON; see bench/README.md for what they mean.
"""

from __future__ import annotations

import os

# As in the Celery workers: one BLAS/OpenMP thread per process, before numpy is imported.
for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

import argparse  # noqa: E402
import csv  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))  # run as a script from anywhere, without installing the project

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from workers.pipeline.analysis import CLASSIFY_FRAMES, Analyzer  # noqa: E402
from workers.pipeline.annotation import annotate  # noqa: E402
from workers.pipeline.config import DEFAULT_DETECTION, OPENCV_THREADS, STUDY_DETECTION  # noqa: E402
from workers.pipeline.detection import make_detector, to_gray  # noqa: E402
from workers.pipeline.model import load_model  # noqa: E402
from workers.pipeline.summary import track_and_summarize  # noqa: E402
from workers.pipeline.synthetic import astronaut_bgr, moving_face_frames, write_video  # noqa: E402
from workers.pipeline.types import VideoResult, analysed_frames  # noqa: E402
from workers.pipeline.video import FrameReader  # noqa: E402

SAMPLED_EVERY = 5
GENERATED_FRAMES = 150
GENERATED_SIZES = {"360p": (640, 360), "720p": (1280, 720)}


def median_seconds(run: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    """Median wall time of ``repeats`` runs, and the last run's return value."""
    times, value = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        value = run()
        times.append(time.perf_counter() - start)
    return statistics.median(times), value


def decode_fps(path: Path, max_frames: int | None, repeats: int) -> float:
    """Frames per second of reading and decoding every frame to BGR, nothing else."""

    def read() -> int:
        reader = FrameReader(path, max_frames=max_frames)
        for _ in reader:
            pass
        return reader.frames_read

    seconds, frames = median_seconds(read, repeats)
    return frames / seconds


def analysis_fps(
    analyzer: Analyzer, path: Path, every_n_frames: int, max_frames: int | None, repeats: int
) -> tuple[float, VideoResult]:
    """Video frames covered per second by analyze_video, tracking and the summary (skipped frames count: they had
    to be read too)."""
    limit = None if max_frames is None else analysed_frames(max_frames, every_n_frames)
    seconds, result = median_seconds(
        lambda: track_and_summarize(analyzer.analyze_video(path, every_n_frames=every_n_frames, max_frames=limit)),
        repeats,
    )
    return result.frames_read / seconds, result


def paired_sampled_vs_decode(analyzer: Analyzer, path: Path, max_frames: int | None, pairs: int) -> dict[str, float]:
    """Every SAMPLED_EVERY-th frame analysed against decode-only, timed in alternation ``pairs`` times.

    A decode-only run of a generated clip lasts a tenth of a second and its speed swings by a fifth from one run
    to the next (the decoder runs on two threads and shares both cores with everything else); timing the two
    side by side, pair after pair, puts both in the same conditions. The ratio quoted is the median of the
    per-pair ratios; the rates are the medians of each kind.
    """
    decode, sampled, ratios = [], [], []
    for _ in range(pairs):
        decode.append(decode_fps(path, max_frames, 1))
        sampled.append(analysis_fps(analyzer, path, SAMPLED_EVERY, max_frames, 1)[0])
        ratios.append(sampled[-1] / decode[-1])
    return {
        "pairs": pairs,
        "decode_fps": statistics.median(decode),
        f"sampled{SAMPLED_EVERY}_fps": statistics.median(sampled),
        f"sampled{SAMPLED_EVERY}_vs_decode": statistics.median(ratios),
        f"sampled{SAMPLED_EVERY}_vs_decode_range": [min(ratios), max(ratios)],
    }


def stage_milliseconds(analyzer: Analyzer, path: Path, max_frames: int | None) -> dict[str, float]:
    """Mean milliseconds per analysed frame spent in each stage with the analyzer's detection settings.

    As in analyze_video, the faces of CLASSIFY_FRAMES frames go to the model in one call; "predict" is that
    call's time shared over its frames.
    """
    totals = dict.fromkeys(("decode", "detect", "preprocess", "predict", "annotate"), 0.0)
    detector = analyzer.detector.for_video(1)
    waiting: list[tuple[np.ndarray, Any]] = []

    def classify_waiting() -> None:
        start = time.perf_counter()
        faces = analyzer.classify_many([described for _, described in waiting])
        predicted = time.perf_counter()
        for (bgr, _), frame_faces in zip(waiting, faces, strict=True):
            annotate(bgr, frame_faces)
        totals["predict"] += predicted - start
        totals["annotate"] += time.perf_counter() - predicted
        waiting.clear()

    frames = iter(FrameReader(path, max_frames=max_frames))
    count = 0
    while True:
        start = time.perf_counter()
        item = next(frames, None)
        decoded = time.perf_counter()
        if item is None:
            break
        index, _, bgr = item
        gray = to_gray(bgr)
        boxes = detector.detect(gray, index)
        detected = time.perf_counter()
        waiting.append((bgr, analyzer.describe(gray, boxes)))
        totals["decode"] += decoded - start
        totals["detect"] += detected - decoded
        totals["preprocess"] += time.perf_counter() - detected
        count += 1
        if len(waiting) == CLASSIFY_FRAMES:
            classify_waiting()
    if waiting:
        classify_waiting()
    return {stage: 1000 * seconds / max(count, 1) for stage, seconds in totals.items()}


def smallest_face_found(settings, frame_size: tuple[int, int]) -> int | None:
    """Width in pixels of the smallest astronaut face the settings still find in a frame of this size."""
    width, height = frame_size
    head = astronaut_bgr()[0:250, 110:340]
    smallest, detector = None, make_detector(settings)
    for head_width in range(min(400, int(height * 0.85)), 19, -4):
        scaled = cv2.resize(head, (head_width, round(head.shape[0] * head_width / head.shape[1])), cv2.INTER_AREA)
        frame = np.full((height, width, 3), 120, dtype=np.uint8)
        y, x = (height - scaled.shape[0]) // 2, (width - scaled.shape[1]) // 2
        frame[y : y + scaled.shape[0], x : x + scaled.shape[1]] = scaled
        boxes = detector.detect(to_gray(frame), 0)
        if not boxes:
            break
        smallest = min(box.w for box in boxes)
    return smallest


def generated_clips(folder: Path) -> dict[str, Path]:
    """The astronaut's head moving over a textured background, written with VideoWriter (mp4v)."""
    return {
        name: write_video(folder / f"generated_{name}.mp4", moving_face_frames(GENERATED_FRAMES, size, size[0] // 4))
        for name, size in GENERATED_SIZES.items()
    }


def bench_generated(study: Analyzer, default: Analyzer, clips: dict[str, Path], args) -> dict[str, dict[str, float]]:
    figures = {}
    for name, path in clips.items():
        study_rate, _ = analysis_fps(study, path, 1, args.max_frames, args.study_repeats)
        default_rate, _ = analysis_fps(default, path, 1, args.max_frames, args.repeats)
        paired = paired_sampled_vs_decode(default, path, args.max_frames, args.pairs)
        figures[name] = {
            **paired,
            "study_fps": study_rate,
            "default_fps": default_rate,
            "default_speedup_vs_study": default_rate / study_rate,
            "default_vs_decode": default_rate / paired["decode_fps"],
            "stage_ms": stage_milliseconds(default, path, args.max_frames),
        }
    return figures


def read_gender_labels(videos: Path) -> dict[str, str]:
    with (videos / "GENDER_LABELS.csv").open(newline="") as handle:
        return {row["file"]: row["gender_apparent"] for row in csv.DictReader(handle)}


def bench_shared_clips(study: Analyzer, default: Analyzer, videos: Path, args) -> dict[str, Any]:
    """Per clip: hit rates, labels and speed of study vs default settings over the first --clip-frames frames."""
    labels = read_gender_labels(videos)
    clips = sorted(labels)[:: args.clip_stride]
    rows, totals = [], {"frames": 0, "study_hits": 0, "default_hits": 0}
    for number, name in enumerate(clips, 1):
        path = videos / name
        study_rate, study_result = analysis_fps(study, path, 1, args.clip_frames, 1)
        default_rate, default_result = analysis_fps(default, path, 1, args.clip_frames, 1)
        frames = study_result.summary.frames_analyzed
        row = {
            "clip": name,
            "width": study_result.info.width,
            "height": study_result.info.height,
            "frames": frames,
            "truth": labels[name],
            "study_label": study_result.summary.label,
            "default_label": default_result.summary.label,
            "hit_rate_study": study_result.summary.frames_with_faces / frames,
            "hit_rate_default": default_result.summary.frames_with_faces / frames,
            "study_fps": study_rate,
            "default_fps": default_rate,
        }
        rows.append(row)
        totals["frames"] += frames
        totals["study_hits"] += study_result.summary.frames_with_faces
        totals["default_hits"] += default_result.summary.frames_with_faces
        print(
            f"[{number}/{len(clips)}] {name}: hits {row['hit_rate_study']:.2f}/{row['hit_rate_default']:.2f}, "
            f"labels {row['study_label']}/{row['default_label']} (truth {row['truth']}), "
            f"{study_rate:.1f}/{default_rate:.1f} fps",
            file=sys.stderr,
            flush=True,
        )
    labelled = [row for row in rows if row["truth"] in ("male", "female")]
    return {
        "clip_frames": args.clip_frames,
        "clips": rows,
        "hit_rate_study": totals["study_hits"] / max(totals["frames"], 1),
        "hit_rate_default": totals["default_hits"] / max(totals["frames"], 1),
        "labels_same_study_default": sum(row["study_label"] == row["default_label"] for row in rows),
        "labels_compared": len(rows),
        "labelled_clips": len(labelled),
        # The bar: the defaults give the study's video-level label on every labelled clip.
        "labelled_same_study_default": sum(row["study_label"] == row["default_label"] for row in labelled),
        "labelled_differing": [row["clip"] for row in labelled if row["study_label"] != row["default_label"]],
        "study_agrees_with_truth": sum(row["study_label"] == row["truth"] for row in labelled),
        "default_agrees_with_truth": sum(row["default_label"] == row["truth"] for row in labelled),
    }


def image_milliseconds(analyzer: Analyzer, repeats: int) -> float:
    image = astronaut_bgr()
    seconds, _ = median_seconds(lambda: analyzer.analyze_image(image), repeats)
    return 1000 * seconds


def print_table(report: dict[str, Any]) -> None:
    print(f"{'clip':<6} {'decode':>8} {'study':>8} {'default':>8} {'every 5':>8} {'x study':>8} {'5/decode':>9}")
    for name, figures in report["generated"].items():
        print(
            f"{name:<6} {figures['decode_fps']:8.1f} {figures['study_fps']:8.1f} {figures['default_fps']:8.1f} "
            f"{figures['sampled5_fps']:8.1f} {figures['default_speedup_vs_study']:8.1f} "
            f"{figures['sampled5_vs_decode']:9.0%}"
        )
        low, high = figures["sampled5_vs_decode_range"]
        print(f"       every 5 / decode, {figures['pairs']} alternated pairs: range {low:.0%}-{high:.0%}")
        stages = ", ".join(f"{stage} {ms:.1f}" for stage, ms in figures["stage_ms"].items())
        print(f"       ms per frame (default): {stages}")
    print(f"image: {report['image_ms']:.1f} ms per astronaut photo")
    print(f"smallest face found (px wide): {report['smallest_face_px']}")
    clips = report.get("shared_clips")
    if clips:
        print(
            f"shared clips ({clips['labels_compared']}, first {clips['clip_frames']} frames each): "
            f"hit rate study {clips['hit_rate_study']:.3f}, default {clips['hit_rate_default']:.3f}; "
            f"same label {clips['labels_same_study_default']}/{clips['labels_compared']} "
            f"({clips['labelled_same_study_default']}/{clips['labelled_clips']} labelled); agreeing with "
            f"GENDER_LABELS study {clips['study_agrees_with_truth']}/{clips['labelled_clips']}, "
            f"default {clips['default_agrees_with_truth']}/{clips['labelled_clips']}"
        )
        if clips["labelled_differing"]:
            print(f"labelled clips where the defaults' label differs: {', '.join(clips['labelled_differing'])}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, metavar="OUT", help="write all figures as JSON")
    parser.add_argument("--model", type=Path, help="model folder (default: the shipped one)")
    parser.add_argument(
        "--videos",
        type=Path,
        default=Path(os.environ.get("GENREC_SHARED_DATA", REPO_ROOT.parent / "shared" / "data")) / "videos",
    )
    parser.add_argument("--repeats", type=int, default=3, help="repeats of each fast measurement (median quoted)")
    parser.add_argument("--study-repeats", type=int, default=1, help="repeats of the slow study-settings runs")
    parser.add_argument(
        "--pairs", type=int, default=11, help="alternated decode-only / every-5th runs (median of their ratios)"
    )
    parser.add_argument("--max-frames", type=int, help="frames of each generated clip to use (default all 150)")
    parser.add_argument("--clip-frames", type=int, default=60, help="frames from the start of each shared clip")
    parser.add_argument("--clip-stride", type=int, default=1, help="use every n-th shared clip (by name)")
    parser.add_argument(
        "--opencv-threads", type=int, default=OPENCV_THREADS, help="cv2.setNumThreads; 0 = OpenCV's default"
    )
    parser.add_argument("--quick", action="store_true", help="a rough run: 1 repeat, 60 frames, every 4th clip")
    args = parser.parse_args()
    if args.quick:
        args.repeats, args.study_repeats, args.max_frames, args.clip_frames, args.clip_stride = 1, 1, 60, 60, 4
        args.pairs = 3
    threads = None if args.opencv_threads == 0 else args.opencv_threads
    if threads is None:
        cv2.setNumThreads(-1)  # OpenCV's own default (all cores)
    model = load_model(args.model)
    study = Analyzer(model, detection=STUDY_DETECTION, opencv_threads=threads)
    default = Analyzer(model, detection=DEFAULT_DETECTION, opencv_threads=threads)
    with tempfile.TemporaryDirectory() as folder:
        generated = bench_generated(study, default, generated_clips(Path(folder)), args)
    report: dict[str, Any] = {
        "machine": {
            "python": platform.python_version(),
            "opencv": cv2.__version__,
            "cpus": os.cpu_count(),
            "opencv_threads": cv2.getNumThreads(),
            "load_average": os.getloadavg(),
        },
        "settings": {"study": STUDY_DETECTION.__dict__, "default": DEFAULT_DETECTION.__dict__, "model": model.name},
        "generated": generated,
        **{key: generated["720p"][key] for key in ("decode_fps", "study_fps", "default_fps", "sampled5_fps")},
        "image_ms": image_milliseconds(default, args.repeats * 3),
        "smallest_face_px": {
            f"{name} {label}": smallest_face_found(settings, size)
            for name, size in {**GENERATED_SIZES, "1080p": (1920, 1080)}.items()
            for label, settings in (("study", STUDY_DETECTION), ("default", DEFAULT_DETECTION))
        },
    }
    if (args.videos / "GENDER_LABELS.csv").is_file() and args.clip_frames > 0:
        shared = bench_shared_clips(study, default, args.videos, args)
        report["shared_clips"] = shared
        report["hit_rate_study"], report["hit_rate_default"] = shared["hit_rate_study"], shared["hit_rate_default"]
    else:
        print(f"no shared clips at {args.videos}: hit rates and labels skipped", file=sys.stderr)
    print_table(report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
