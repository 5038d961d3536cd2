"""Scaling benchmark: one long generated video through the platform with 1 and with 2 worker processes; speed-up.

Run from the repository root: ``.venv/bin/python bench/scaling.py [--frames 3000] [--repeats 3] [--storage s3]
[--json OUT]``.
It writes one clip (--frames frames of the astronaut's head moving over a textured background, --size, mp4v), then
for each --workers count starts the platform on loopback (bench/live_platform.py: Redis, daphne, beat and ONE Celery
worker with that many prefork pool processes) on a throw-away database and media folder, signs up a user and uploads
the clip --repeats times one after another over HTTP, following each job's websocket to its final event.
The baseline is 1 process running the video as one part (GENREC_SPLIT_PARTS=1): its result is the reference.
With more processes the platform splits as it does by default (GENREC_SPLIT_PARTS=0: one part per worker process).
Times: the job's own start (a worker claims it) to SUCCEEDED, merge included; and upload to final event as the user
sees it. Every run's result document (each detection with its track, the timeline, the summary) must equal the
reference. Bar: 2 processes at least 1.7x faster than 1, with identical results.

``--storage s3`` measures, in the same run, media on the file system and then in a bucket of an S3-protocol server
on loopback (bench/live_platform.LocalS3), each worker process a Celery worker of its own: on s3 they share no
directory (each has its own MEDIA_ROOT and temporary folder, all left empty). Every result must equal the
file system's one-process reference, and object storage may cost at most 10% of the job time (bar per worker count).
"""

from __future__ import annotations

import argparse
import contextlib
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

from bench.live_platform import LocalS3, Platform, SiteClient, machine  # noqa: E402
from workers.pipeline.synthetic import write_moving_face_clip  # noqa: E402

BAR_SPEEDUP = 1.7
BAR_STORAGE_COST = 1.10  # object storage's job time against the file system's, same worker count
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


def measure(
    workers: int, clip: bytes, args: argparse.Namespace, reference: dict | None, s3: LocalS3 | None = None
) -> tuple[list[dict], dict]:
    """All repeats with one worker count, on the file system and (with ``s3``) on object storage, run by turns so
    both meet the same load; the figures of each, and the reference result (the first one when there is none)."""
    split_parts = "1" if workers == 1 else "0"
    storages = {"fs": {}, **({"s3": s3.environment()} if s3 else {})}
    runs: dict[str, list[dict]] = {storage: [] for storage in storages}
    with contextlib.ExitStack() as stack:
        platforms = {}
        for storage, env in storages.items():
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix=f"genrec-scaling-{storage}-")))
            platform = Platform(
                workers=workers,
                workdir=workdir,
                env={"GENREC_SPLIT_PARTS": split_parts, **env},
                separate_workers=args.storage == "s3",
            )
            stack.enter_context(platform)
            client = SiteClient(platform.url)
            client.sign_up(f"scaling-{storage}-{workers}-{secrets.token_hex(3)}")
            platforms[storage] = (platform, client)
        print(f"{workers} worker process(es), media {' and '.join(storages)}, GENREC_SPLIT_PARTS={split_parts}")
        for number in range(1, args.repeats + 1):
            for storage, (platform, client) in platforms.items():
                timing, result = one_run(platform, client, clip, args.timeout)
                reference = reference or result
                timing["identical_to_reference"] = result == reference
                runs[storage].append(timing)
                print(
                    f"  {storage} run {number}: job {timing['job_seconds']:.2f} s, upload to final event "
                    f"{timing['upload_to_final_seconds']:.2f} s, {timing['parts']} part(s), "
                    f"identical: {timing['identical_to_reference']}",
                    flush=True,
                )
        by_storage = [figures_of(storage, workers, runs[storage], *platforms[storage][:1], s3) for storage in storages]
    return by_storage, reference


def figures_of(storage: str, workers: int, runs: list[dict], platform: Platform, s3: LocalS3 | None) -> dict:
    """Medians of one storage and worker count, with what it left behind."""
    median_job_seconds = statistics.median(run["job_seconds"] for run in runs)
    on_s3 = storage == "s3"
    return {
        "storage": storage,
        "workers": workers,
        "separate_workers": platform.separate_workers,
        # On s3: uploads left in the bucket (none: each goes when its job ends) and files in any local media folder.
        "uploads_left_in_bucket": [key for key in s3.keys() if key.startswith("uploads/")] if on_s3 else None,
        "local_media_files": platform.local_media_files() if on_s3 else None,
        "split_parts_setting": 1 if workers == 1 else 0,
        "median_job_seconds": median_job_seconds,
        "median_upload_to_final_seconds": statistics.median(run["upload_to_final_seconds"] for run in runs),
        "video_fps_per_process": runs[0]["frames"] / median_job_seconds / workers,
        "worker_peak_memory_mb": platform.worker_peak_memory_mb(),
        "runs": runs,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=3000, help="frames of the generated clip (default 3000)")
    parser.add_argument("--size", type=parse_size, default=(854, 480), help="frame size WxH (default 854x480)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="worker process counts (default 1 2)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per worker count, median quoted (default 3)")
    parser.add_argument("--timeout", type=float, default=900, help="seconds one job may take")
    parser.add_argument(
        "--storage", choices=["fs", "s3"], default="fs", help="s3: the file system, then object storage (same run)"
    )
    parser.add_argument("--json", type=Path, metavar="OUT", help="write all figures as JSON")
    args = parser.parse_args()
    if args.workers[0] != 1:
        parser.error("the first --workers count must be 1: it is the baseline and the reference result")

    with tempfile.TemporaryDirectory(prefix="genrec-scaling-clip-") as folder:
        print(f"writing a {args.frames}-frame {args.size[0]}x{args.size[1]} clip", flush=True)
        clip = write_moving_face_clip(Path(folder) / "long.mp4", count=args.frames, size=args.size).read_bytes()
    reference = None
    by_workers = []
    with LocalS3() if args.storage == "s3" else contextlib.nullcontext() as s3:
        for workers in args.workers:
            figures, reference = measure(workers, clip, args, reference, s3)
            by_workers += figures
    report = build_report(args, clip, by_workers)
    print_report(report)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0 if report["identical_results"] else 1


def build_report(args: argparse.Namespace, clip: bytes, by_workers: list[dict]) -> dict:
    """Speed-ups against one process on the same storage, object storage's cost, and the bars."""
    baselines = {figures["storage"]: figures["median_job_seconds"] for figures in by_workers if figures["workers"] == 1}
    for figures in by_workers:
        figures["speedup"] = baselines[figures["storage"]] / figures["median_job_seconds"]
    identical = all(run["identical_to_reference"] for figures in by_workers for run in figures["runs"])
    two = next((figures for figures in by_workers if figures["workers"] == 2 and figures["storage"] == "fs"), None)
    fs_runs = [figures for figures in by_workers if figures["storage"] == "fs"]
    fs_seconds = {figures["workers"]: figures["median_job_seconds"] for figures in fs_runs}
    storage_cost = {
        str(figures["workers"]): round(figures["median_job_seconds"] / fs_seconds[figures["workers"]], 3)
        for figures in by_workers
        if figures["storage"] == "s3"
    }
    report = {
        "machine": machine(),
        "settings": {"frames": args.frames, "size": list(args.size), "repeats": args.repeats, "pool": "prefork"},
        "clip_megabytes": round(len(clip) / 1e6, 1),
        "by_workers": by_workers,
        "identical_results": identical,
        "bar_speedup": BAR_SPEEDUP,
        "bar_met": identical and two is not None and two["speedup"] >= BAR_SPEEDUP,
    }
    if storage_cost:
        report["s3_vs_fs_job_seconds"] = storage_cost
        report["bar_storage_cost"] = BAR_STORAGE_COST
        report["bar_storage_met"] = identical and all(cost <= BAR_STORAGE_COST for cost in storage_cost.values())
    return report


def print_report(report: dict) -> None:
    """The table and the bars, for the terminal."""
    print(f"{'media':<6}{'workers':<9}{'job s':>8}{'upload→final s':>16}{'speed-up':>10}{'parts':>7}{'peak MB':>9}")
    for figures in report["by_workers"]:
        parts = sorted({run["parts"] for run in figures["runs"]}, key=str)
        print(
            f"{figures['storage']:<6}{figures['workers']:<9}{figures['median_job_seconds']:>8.2f}"
            f"{figures['median_upload_to_final_seconds']:>16.2f}{figures['speedup']:>9.2f}x{parts!s:>7}"
            f"{max(figures['worker_peak_memory_mb'], default=0):>9.0f}"
        )
    print(f"identical results in every run: {report['identical_results']}; load {report['machine']['load_average']}")
    print(f"bar: 2 processes >= {BAR_SPEEDUP}x with identical results: {'met' if report['bar_met'] else 'MISSED'}")
    if "s3_vs_fs_job_seconds" in report:
        print(f"object storage against the file system (job time): {report['s3_vs_fs_job_seconds']}")
        verdict = "met" if report["bar_storage_met"] else "MISSED"
        print(f"bar: object storage costs at most {BAR_STORAGE_COST - 1:.0%}: {verdict}")


if __name__ == "__main__":
    sys.exit(main())
