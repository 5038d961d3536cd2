"""Load benchmark: concurrent users upload images and videos over HTTP and follow each job's websocket to the end.

Run from the repository root: ``.venv/bin/python bench/load.py [--quick] [--users 8] [--videos 3] [--json OUT]``;
photos arriving one a second while two long videos run: ``--videos 2 --video-frames 6000 --users 4 --images 8
--photo-every 1 --photo-delay 3``. Without --url it starts the platform itself on loopback (its own Redis, daphne,
the quick start's workers: one on every queue with --workers processes and one process kept for photos, beat) on
a throw-away database and media folder, and stops it afterwards. The driver is this process, the platform runs in
others; every user is a thread with its own session. Bounded in count (--users x --images, --videos) and in time
(--timeout). It reports requests served, p50/p95 time from upload to the final event, errors, and checks that
every job ended and that no upload is left behind. A benchmark, not a test.
"""

from __future__ import annotations

import argparse
import json
import secrets
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere, without installing

import cv2  # noqa: E402
from websockets.exceptions import WebSocketException  # noqa: E402

from bench.live_platform import FINAL_STATUSES, HTTP_TIMEOUT_SECONDS, Platform, SiteClient, percentile  # noqa: E402
from workers.pipeline.synthetic import astronaut_bgr, write_moving_face_clip  # noqa: E402

# ---- one simulated user ----


@dataclass
class Tally:
    """What every user saw, shared between the user threads."""

    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    responses: Counter = field(default_factory=Counter)
    sockets: Counter = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    jobs: list[dict] = field(default_factory=list)

    def response(self, status: int) -> None:
        with self.lock:
            self.responses[status] += 1

    def socket(self, outcome: str) -> None:
        with self.lock:
            self.sockets[outcome] += 1

    def error(self, message: str) -> None:
        with self.lock:
            self.errors.append(message)

    def job(self, record: dict) -> None:
        with self.lock:
            self.jobs.append(record)


class User(SiteClient):
    """A browser-like client (bench/live_platform.py) that counts every answer it gets."""

    def __init__(self, base_url: str, tally: Tally) -> None:
        super().__init__(base_url)
        self.tally = tally

    def request(self, path: str, body: bytes | None = None, headers: dict | None = None) -> tuple[int, bytes]:
        """One request, counted by status."""
        status, content = super().request(path, body, headers)
        self.tally.response(status)
        return status, content

    def run_job(self, kind: str, name: str, content: bytes, content_type: str, deadline: float) -> None:
        """Upload one file, follow it to the end, and record the time from upload to the final event."""
        started = time.monotonic()
        status, answer = self.upload(name, content, content_type)
        if status != 201:
            self.tally.error(f"upload of {name}: {status} {answer.get('error', '')}")
            return
        job_id = answer["job"]["id"]
        try:
            final = self.follow(job_id, deadline)
        except (TimeoutError, OSError, WebSocketException) as error:
            self.tally.socket(type(error).__name__)
            self.tally.error(f"socket of job {job_id}: {type(error).__name__} {error}")
            self.tally.job({"id": job_id, "kind": kind, "status": None, "seconds": None})
            return
        seconds = time.monotonic() - started
        self.tally.socket("finished")
        # The database is the truth, the socket only a hint: the job's snapshot must say the same.
        status, snapshot = self.request(f"/api/jobs/{job_id}/")
        stored = json.loads(snapshot)["job"]["status"] if status == 200 else f"HTTP {status}"
        if stored != final["status"]:
            self.tally.error(f"job {job_id}: the socket said {final['status']}, the API says {stored}")
        elif stored != "SUCCEEDED":
            self.tally.error(f"job {job_id} ended {stored}: {final.get('error', '')}")
        self.tally.job({"id": job_id, "kind": kind, "status": stored, "seconds": seconds})


# ---- the run ----


def media_files(workdir: Path, video_frames: int) -> dict[str, tuple[str, bytes, str]]:
    """The astronaut as a JPEG photo and as a short mp4 clip."""
    ok, jpeg = cv2.imencode(".jpg", cv2.resize(astronaut_bgr(), (400, 400)))
    if not ok:
        raise RuntimeError("OpenCV could not encode a JPEG")
    clip = write_moving_face_clip(workdir / "astronaut.mp4", count=video_frames, size=(480, 270))
    return {
        "image": ("astronaut.jpg", jpeg.tobytes(), "image/jpeg"),
        "video": ("astronaut.mp4", clip.read_bytes(), "video/mp4"),
    }


def drive(base_url: str, args: argparse.Namespace, files: dict) -> tuple[Tally, float]:
    """All users at once: --users upload --images photos one after another, --videos more users one clip each."""
    tally = Tally()
    deadline = time.monotonic() + args.timeout
    run_id = secrets.token_hex(3)
    plans = [("image", args.images)] * args.users + [("video", 1)] * args.videos
    start_together = threading.Barrier(len(plans))

    def user_thread(number: int, kind: str, count: int) -> None:
        user = User(base_url, tally)
        try:
            user.sign_up(f"load-{run_id}-{number}")
            start_together.wait(timeout=args.timeout)
            started = time.monotonic()
            for turn in range(count):
                if kind == "image" and args.photo_every > 0:
                    # Photos arrive one at a time, photo_every apart, the users taking turns.
                    due = started + args.photo_delay + (turn * args.users + number) * args.photo_every
                    time.sleep(max(0.0, due - time.monotonic()))
                if time.monotonic() > deadline:
                    tally.error(f"user {number}: out of time before every upload")
                    return
                user.run_job(kind, *files[kind], deadline)
        except (OSError, RuntimeError, threading.BrokenBarrierError, ValueError) as error:
            tally.error(f"user {number}: {type(error).__name__} {error}")
            start_together.abort()

    threads = [
        threading.Thread(target=user_thread, args=(number, kind, count), daemon=True)
        for number, (kind, count) in enumerate(plans)
    ]
    began = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=max(0.0, deadline - time.monotonic()) + HTTP_TIMEOUT_SECONDS)
    return tally, time.monotonic() - began


def summarize(tally: Tally, wall_seconds: float, args: argparse.Namespace, uploads_left: int | None) -> dict:
    """Every figure of the run as one JSON-ready dictionary."""
    kinds = {}
    for kind in ("image", "video"):
        jobs = [job for job in tally.jobs if job["kind"] == kind]
        seconds = [job["seconds"] for job in jobs if job["seconds"] is not None]
        kinds[kind] = {
            "jobs": len(jobs),
            "succeeded": sum(job["status"] == "SUCCEEDED" for job in jobs),
            "p50_seconds": percentile(seconds, 0.50),
            "p95_seconds": percentile(seconds, 0.95),
            "max_seconds": max(seconds) if seconds else None,
            "mean_seconds": statistics.fmean(seconds) if seconds else None,
        }
    planned = args.users * args.images + args.videos
    return {
        "settings": {key: value for key, value in vars(args).items() if key != "json"},
        "wall_seconds": wall_seconds,
        "requests_served": sum(tally.responses.values()),
        "responses_by_status": {str(status): count for status, count in sorted(tally.responses.items())},
        "sockets": dict(tally.sockets),
        "jobs_planned": planned,
        "jobs_ended": sum(job["status"] in FINAL_STATUSES for job in tally.jobs),
        "by_kind": kinds,
        "uploads_left": uploads_left,
        "errors": tally.errors,
        "ok": not tally.errors and len(tally.jobs) == planned and uploads_left in (0, None),
    }


def print_table(report: dict) -> None:
    """The figures as a plain table (this is a command-line tool: it prints)."""

    def shown(value) -> str:
        return "-" if value is None else f"{value:.2f}"

    print(f"requests served   {report['requests_served']}  by status {report['responses_by_status']}")
    print(f"sockets           {report['sockets']}")
    print(f"jobs ended        {report['jobs_ended']} of {report['jobs_planned']} in {report['wall_seconds']:.1f} s")
    print(f"{'kind':<8}{'jobs':>6}{'ok':>6}{'p50 s':>9}{'p95 s':>9}{'max s':>9}")
    for kind, figures in report["by_kind"].items():
        print(
            f"{kind:<8}{figures['jobs']:>6}{figures['succeeded']:>6}{shown(figures['p50_seconds']):>9}"
            f"{shown(figures['p95_seconds']):>9}{shown(figures['max_seconds']):>9}"
        )
    left = report["uploads_left"]
    print(f"uploads left      {'not checked (no --media-root)' if left is None else left}")
    print(f"errors            {len(report['errors'])}")
    for error in report["errors"][:20]:
        print(f"  {error}")
    print("OK" if report["ok"] else "NOT OK")


def count_uploads(media_root: Path | None) -> int | None:
    """Files still under MEDIA_ROOT/uploads (each ended job must have deleted its own)."""
    if media_root is None:
        return None
    uploads = media_root / "uploads"
    return sum(1 for path in uploads.iterdir() if path.is_file()) if uploads.is_dir() else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="attach to a running platform (e.g. http://127.0.0.1:8000) instead of starting")
    parser.add_argument("--media-root", type=Path, help="with --url: its MEDIA_ROOT, to check no upload is left")
    parser.add_argument("--users", type=int, default=8, help="concurrent users uploading images (default 8)")
    parser.add_argument("--images", type=int, default=2, help="images each of them uploads in turn (default 2)")
    parser.add_argument("--videos", type=int, default=3, help="further users uploading one video each (default 3)")
    parser.add_argument("--video-frames", type=int, default=150, help="frames of the generated clip (default 150)")
    parser.add_argument("--workers", type=int, default=2, help="Celery worker processes when starting (default 2)")
    parser.add_argument(
        "--photo-every",
        type=float,
        default=0,
        help="photos arrive one at a time this many seconds apart, the users taking turns (default 0: back to back)",
    )
    parser.add_argument("--photo-delay", type=float, default=0, help="seconds before the first photo (videos start)")
    parser.add_argument("--timeout", type=float, default=300, help="time bound of the whole run in seconds")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 3 users x 1 photo and 1 short clip")
    parser.add_argument("--json", type=Path, metavar="OUT", help="write all figures as JSON")
    args = parser.parse_args()
    if args.quick:
        args.users, args.images, args.videos, args.video_frames = 3, 1, 1, 60

    with tempfile.TemporaryDirectory(prefix="genrec-load-") as temporary:
        workdir = Path(temporary)
        files = media_files(workdir, args.video_frames)
        platform = None if args.url else Platform(workers=args.workers, workdir=workdir)
        try:
            if platform is not None:
                print(f"starting the platform on {platform.url} with {args.workers} worker process(es)", flush=True)
                platform.start()
            base_url = (args.url or platform.url).rstrip("/")
            tally, wall_seconds = drive(base_url, args, files)
            # A job deletes its upload before its final event is sent: by now every upload must be gone.
            media_root = platform.media_root if platform is not None else args.media_root
            report = summarize(tally, wall_seconds, args, count_uploads(media_root))
        finally:
            if platform is not None:
                platform.stop()
    print_table(report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
