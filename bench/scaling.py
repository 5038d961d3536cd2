"""Scaling benchmark: one long generated video through the platform with 1 and with 2 worker processes; speed-up.

Run from the repository root: ``.venv/bin/python bench/scaling.py [--frames 3000] [--repeats 3] [--json OUT]``.
It writes one clip (--frames frames of the astronaut's head moving over a textured background, --size, mp4v), then
for each --workers count starts the platform on loopback (bench/live_platform.py: Redis, daphne, beat and ONE Celery
worker with that many prefork pool processes) on a throw-away database and media folder, signs up a user and uploads
the clip --repeats times one after another over HTTP, following each job's websocket to its final event.
The baseline is 1 process running the video as one part (GENREC_SPLIT_PARTS=1): its result is the reference.
With more processes the platform splits as it does by default (GENREC_SPLIT_PARTS=0: one part per worker process).
Times: the job's own start (a worker claims it) to SUCCEEDED, merge included; and upload to final event as the user
sees it. Every run's result document (each detection with its track, the timeline, the summary) must equal the
reference. Bar: 2 processes at least 1.7x faster than 1, with identical results.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import secrets
import sqlite3
import statistics
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere, without installing

from bench.live_platform import Platform, SiteClient, machine  # noqa: E402
from workers.pipeline.synthetic import write_moving_face_clip  # noqa: E402

BAR_SPEEDUP = 1.7
# What must not change when a video is split: every detection with its track, the timelines and the summary.
COMPARED_KEYS = ("frames_total", "faces_found", "timeline", "persons_timeline", "summary", "detections")


def parse_size(text: str) -> tuple[int, int]:
    """``854x480`` -> (854, 480)."""
    width, height = (int(part) for part in text.lower().split("x"))
    return width, height


def job_parts(platform: Platform, job_id: str) -> int | None:
    """How many parts the job ran as, read from the platform's SQLite file (None on another database)."""
    url = urllib.parse.urlsplit(platform.env["DATABASE_URL"])
    if url.scheme != "sqlite":
        return None
    with sqlite3.connect(f"file:{url.path[1:]}?mode=ro", uri=True) as database:
        (parts,) = database.execute(
            "SELECT COUNT(*) FROM predictions_jobpart JOIN predictions_job ON predictions_job.id = job_id "
            "WHERE predictions_job.public_id = ?",
            (job_id.replace("-", ""),),
        ).fetchone()
    return parts


def one_run(platform: Platform, client: SiteClient, clip: bytes, timeout: float) -> tuple[dict, dict]:
    """Upload the clip and follow it to the end; its timings, and the compared part of its result document."""
    began = time.perf_counter()
    status, answer = client.upload("long-clip.mp4", clip, "video/mp4")
    if status != 201:
        raise RuntimeError(f"upload answered {status}: {answer.get('error', '')}")
    job_id = answer["job"]["id"]
    final = client.follow(job_id, time.monotonic() + timeout)
    user_seconds = time.perf_counter() - began
    if final["status"] != "SUCCEEDED":
        raise RuntimeError(f"job {job_id} ended {final['status']}: {final.get('error', '')}")
    document = client.get_json(final["urls"]["json"])
    result = {key: document[key] for key in COMPARED_KEYS}
    timing = {
        "job_seconds": final["duration_seconds"],
        "upload_to_final_seconds": user_seconds,
        "parts": job_parts(platform, job_id),
        "frames": final["frames_total"],
        "faces": final["faces_found"],
        "result_sha256": hashlib.sha256(json.dumps(result, sort_keys=True).encode()).hexdigest(),
    }
    return timing, result


def measure(workers: int, clip: bytes, args: argparse.Namespace, reference: dict | None) -> tuple[dict, dict]:
    """All repeats with one worker count; the figures, and the first result (the reference when there is none)."""
    split_parts = "1" if workers == 1 else "0"
    with (
        tempfile.TemporaryDirectory(prefix="genrec-scaling-") as temporary,
        Platform(workers=workers, workdir=Path(temporary), env={"GENREC_SPLIT_PARTS": split_parts}) as platform,
    ):
        print(f"{workers} worker process(es), GENREC_SPLIT_PARTS={split_parts}: {args.repeats} run(s)", flush=True)
        client = SiteClient(platform.url)
        client.sign_up(f"scaling-{workers}-{secrets.token_hex(3)}")
        runs = []
        for number in range(1, args.repeats + 1):
            timing, result = one_run(platform, client, clip, args.timeout)
            reference = reference or result
            timing["identical_to_reference"] = result == reference
            runs.append(timing)
            print(
                f"  run {number}: job {timing['job_seconds']:.2f} s, upload to final event "
                f"{timing['upload_to_final_seconds']:.2f} s, {timing['parts']} part(s), "
                f"identical: {timing['identical_to_reference']}",
                flush=True,
            )
        peak_memory = platform.worker_peak_memory_mb()
    figures = {
        "workers": workers,
        "split_parts_setting": int(split_parts),
        "median_job_seconds": statistics.median(run["job_seconds"] for run in runs),
        "median_upload_to_final_seconds": statistics.median(run["upload_to_final_seconds"] for run in runs),
        "video_fps_per_process": runs[0]["frames"] / statistics.median(run["job_seconds"] for run in runs) / workers,
        "worker_peak_memory_mb": peak_memory,
        "runs": runs,
    }
    return figures, reference


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=3000, help="frames of the generated clip (default 3000)")
    parser.add_argument("--size", type=parse_size, default=(854, 480), help="frame size WxH (default 854x480)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="worker process counts (default 1 2)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per worker count, median quoted (default 3)")
    parser.add_argument("--timeout", type=float, default=900, help="seconds one job may take")
    parser.add_argument("--json", type=Path, metavar="OUT", help="write all figures as JSON")
    args = parser.parse_args()
    if args.workers[0] != 1:
        parser.error("the first --workers count must be 1: it is the baseline and the reference result")

    with tempfile.TemporaryDirectory(prefix="genrec-scaling-clip-") as folder:
        print(f"writing a {args.frames}-frame {args.size[0]}x{args.size[1]} clip", flush=True)
        clip = write_moving_face_clip(Path(folder) / "long.mp4", count=args.frames, size=args.size).read_bytes()
    reference = None
    by_workers = []
    for workers in args.workers:
        figures, reference = measure(workers, clip, args, reference)
        by_workers.append(figures)
    baseline = by_workers[0]["median_job_seconds"]
    for figures in by_workers:
        figures["speedup"] = baseline / figures["median_job_seconds"]
    identical = all(run["identical_to_reference"] for figures in by_workers for run in figures["runs"])
    two = next((figures for figures in by_workers if figures["workers"] == 2), None)
    report = {
        "machine": machine(),
        "settings": {"frames": args.frames, "size": list(args.size), "repeats": args.repeats, "pool": "prefork"},
        "clip_megabytes": round(len(clip) / 1e6, 1),
        "by_workers": by_workers,
        "identical_results": identical,
        "bar_speedup": BAR_SPEEDUP,
        "bar_met": identical and two is not None and two["speedup"] >= BAR_SPEEDUP,
    }

    print(f"{'workers':<9}{'job s':>8}{'upload→final s':>16}{'speed-up':>10}{'parts':>7}{'peak MB/process':>17}")
    for figures in by_workers:
        parts = sorted({run["parts"] for run in figures["runs"]}, key=str)
        print(
            f"{figures['workers']:<9}{figures['median_job_seconds']:>8.2f}"
            f"{figures['median_upload_to_final_seconds']:>16.2f}{figures['speedup']:>9.2f}x{parts!s:>7}"
            f"{max(figures['worker_peak_memory_mb'], default=0):>17.0f}"
        )
    print(f"identical results in every run: {identical}; load average {report['machine']['load_average']}")
    print(f"bar: 2 processes >= {BAR_SPEEDUP}x with identical results: {'met' if report['bar_met'] else 'MISSED'}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
