"""Latency benchmark: a photo uploaded over HTTP until its final websocket event, p50/p95 over many runs.

Run from the repository root: ``.venv/bin/python bench/latency.py [--runs 50] [--json OUT]``.
It starts the platform on loopback (bench/live_platform.py: Redis, daphne, one Celery worker process, beat) on a
throw-away database and media folder, warms the worker up (model loaded), then, --runs times one after another,
uploads the astronaut photo (512x512 JPEG) as the page does, opens the job's websocket and waits for the final event.
It also times the first progress message (or the final event, when the job ended before the socket opened).
Each run is split into stages by the job's own timestamps (one machine, one clock): request until the job row exists,
queue until a worker claims it, analysis until it is SUCCEEDED, and the final event reaching the socket. Baselines
from the same run: analyze_image of the same photo in this process (the least a worker can take) and a GET /healthz
round trip (the least any request takes). Bar: p50 <= 250 ms.

With ``--api`` the same photo also goes through the public API as a script sends it (a read + write key made on the
account page, multipart POST /api/v1/jobs/, then GET /api/v1/jobs/<id>/?wait=60 until it has ended), alternating
with the page's runs so both see the same load. Bar: API p50 no more than 10% above the page's p50.
"""

from __future__ import annotations

import os

# As in the Celery workers: one BLAS/OpenMP thread per process, before numpy is imported.
for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import secrets  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from datetime import datetime  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere, without installing

import cv2  # noqa: E402

from bench.live_platform import Platform, SiteClient, machine, percentile  # noqa: E402
from tests.api.api_client import ApiClient, create_key  # noqa: E402
from workers.pipeline.analysis import Analyzer  # noqa: E402
from workers.pipeline.model import default_model_dir, load_model  # noqa: E402
from workers.pipeline.synthetic import astronaut_bgr  # noqa: E402

BAR_P50_MS = 250.0
API_BAR_RATIO = 1.10
STAGES = ("total", "first_progress", "request", "queue", "analysis", "event")
JOB_TIMEOUT_SECONDS = 60


def photo_jpeg() -> bytes:
    """The astronaut photo as a JPEG, as a person would upload it."""
    ok, jpeg = cv2.imencode(".jpg", astronaut_bgr(), [cv2.IMWRITE_JPEG_QUALITY, 90])
    if not ok:
        raise RuntimeError("OpenCV could not encode a JPEG")
    return jpeg.tobytes()


def epoch(iso: str) -> float:
    """Seconds since the epoch of one of the snapshot's ISO timestamps."""
    return datetime.fromisoformat(iso).timestamp()


def one_run(client: SiteClient, jpeg: bytes) -> dict:
    """Upload the photo, follow its socket to the final event; the milliseconds of each stage."""
    began_wall, began = time.time(), time.perf_counter()
    status, answer = client.upload("astronaut.jpg", jpeg, "image/jpeg")
    if status != 201:
        raise RuntimeError(f"upload answered {status}: {answer.get('error', '')}")
    first_progress = []

    def note_progress(message: dict) -> None:
        if message["type"] == "progress" and not first_progress:
            first_progress.append(time.perf_counter())

    final = client.follow(answer["job"]["id"], time.monotonic() + JOB_TIMEOUT_SECONDS, note_progress)
    # A job that ended before its socket opened has no progress message: the final event is its first news.
    return stage_milliseconds(final, began, began_wall, first_progress[0] if first_progress else None)


def stage_milliseconds(final: dict, began: float, began_wall: float, first_news: float | None) -> dict:
    """The stages of one run that ended now with the final snapshot ``final`` (see the module's docstring)."""
    ended, ended_wall = time.perf_counter(), time.time()
    if final["status"] != "SUCCEEDED" or not final["started_at"]:
        raise RuntimeError(f"job {final['id']} ended {final['status']}: {final.get('error', '')}")
    created, started, finished = (epoch(final[key]) for key in ("created_at", "started_at", "finished_at"))
    return {
        "total": 1000 * (ended - began),
        "first_progress": 1000 * ((first_news or ended) - began),
        "request": 1000 * (created - began_wall),
        "queue": 1000 * (started - created),
        "analysis": 1000 * (finished - started),
        "event": 1000 * (ended_wall - finished),
        "faces": len(final["latest_faces"]),
    }


def one_api_run(api: ApiClient, jpeg: bytes) -> dict:
    """Upload the photo through the API with a key and long-poll its snapshot until it ended; stage milliseconds."""
    began_wall, began = time.time(), time.perf_counter()
    status, answer = api.upload("astronaut.jpg", jpeg, {})
    if status != 201:
        raise RuntimeError(f"API upload answered {status}: {answer.get('error', '')}")
    final = answer
    while final["status"] in ("PENDING", "RUNNING"):
        status, final = api.json(f"/api/v1/jobs/{answer['id']}/?wait={JOB_TIMEOUT_SECONDS}")
    return stage_milliseconds(final, began, began_wall, None)  # a long poll's answer is its first news


def healthz_milliseconds(client: SiteClient, runs: int) -> float:
    """Median round trip of GET /healthz (it reads the database and pings Redis)."""
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        client.get_json("/healthz")
        times.append(1000 * (time.perf_counter() - began))
    return statistics.median(times)


def in_process_milliseconds(jpeg: bytes, runs: int) -> float:
    """Median time of analyze_image on the same JPEG bytes here, with the shipped model already loaded."""
    analyzer = Analyzer(load_model(default_model_dir()))
    analyzer.analyze_image(jpeg)
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        analyzer.analyze_image(jpeg)
        times.append(1000 * (time.perf_counter() - began))
    return statistics.median(times)


def summarize(runs: list[dict], baselines: dict, args: argparse.Namespace) -> dict:
    """Every figure of the run as one JSON-ready dictionary."""
    stages = {
        stage: {
            "p50_ms": percentile([run[stage] for run in runs], 0.50),
            "p95_ms": percentile([run[stage] for run in runs], 0.95),
            "max_ms": max(run[stage] for run in runs),
        }
        for stage in STAGES
    }
    p50 = stages["total"]["p50_ms"]
    return {
        "machine": machine(),
        "settings": {"runs": args.runs, "warmup": args.warmup, "worker_processes": 1},
        "p50_ms": p50,
        "p95_ms": stages["total"]["p95_ms"],
        "stages": stages,
        "baselines": baselines,
        "faces_per_photo": sorted({run["faces"] for run in runs}),
        "bar_p50_ms": BAR_P50_MS,
        "bar_met": p50 <= BAR_P50_MS,
        "runs": runs,
    }


def print_table(report: dict) -> None:
    """The figures as a plain table (this is a command-line tool: it prints)."""
    print(f"{'stage':<16}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}")
    for stage, figures in report["stages"].items():
        print(f"{stage:<16}{figures['p50_ms']:>9.1f}{figures['p95_ms']:>9.1f}{figures['max_ms']:>9.1f}")
    baselines = report["baselines"]
    print(f"baseline  analyze_image in-process {baselines['analyze_image_ms']:.1f} ms, ", end="")
    print(f"GET /healthz {baselines['healthz_ms']:.1f} ms (medians)")
    verdict = "met" if report["bar_met"] else "MISSED"
    print(f"upload -> final event p50 {report['p50_ms']:.1f} ms, bar <= {BAR_P50_MS:.0f} ms: {verdict}")
    print(f"faces per photo {report['faces_per_photo']}, load average {report['machine']['load_average']}")
    if "api" in report:
        api = report["api"]
        verdict = "met" if api["bar_met"] else "MISSED"
        print(f"API upload -> ?wait answer p50 {api['p50_ms']:.1f} ms, p95 {api['p95_ms']:.1f} ms; ", end="")
        print(f"bar <= {api['bar_ratio']:.2f} x page p50 ({report['p50_ms']:.1f} ms): {verdict}")


def api_summary(api_runs: list[dict], page_p50: float) -> dict:
    """The API runs' figures, compared with the page's p50 (bar: at most API_BAR_RATIO times it)."""
    totals = [run["total"] for run in api_runs]
    p50 = percentile(totals, 0.50)
    return {
        "p50_ms": p50,
        "p95_ms": percentile(totals, 0.95),
        "analysis_p50_ms": percentile([run["analysis"] for run in api_runs], 0.50),
        "bar_ratio": API_BAR_RATIO,
        "bar_met": p50 <= API_BAR_RATIO * page_p50,
        "runs": api_runs,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50, help="uploads measured, one after another (default 50)")
    parser.add_argument("--warmup", type=int, default=3, help="uploads before measuring, not counted (default 3)")
    parser.add_argument("--json", type=Path, metavar="OUT", help="write all figures as JSON")
    parser.add_argument("--api", action="store_true", help="also time the public API (key, upload, ?wait long poll)")
    args = parser.parse_args()

    jpeg = photo_jpeg()
    with (
        tempfile.TemporaryDirectory(prefix="genrec-latency-") as temporary,
        Platform(workers=1, workdir=Path(temporary)) as platform,
    ):
        print(f"platform on {platform.url} with 1 worker process; {args.warmup} warm-up + {args.runs} runs", flush=True)
        client = SiteClient(platform.url)
        client.sign_up(f"latency-{secrets.token_hex(3)}")
        api = ApiClient(platform.url, create_key(client, "latency", "write")[0]) if args.api else None
        for _ in range(args.warmup):
            one_run(client, jpeg)
            if api:
                one_api_run(api, jpeg)
        runs, api_runs = [], []
        for _ in range(args.runs):  # alternating, so both paths see the same load on the machine
            runs.append(one_run(client, jpeg))
            if api:
                api_runs.append(one_api_run(api, jpeg))
        healthz = healthz_milliseconds(client, args.runs)
    baselines = {"analyze_image_ms": in_process_milliseconds(jpeg, args.runs), "healthz_ms": healthz}
    report = summarize(runs, baselines, args)
    if api_runs:
        report["api"] = api_summary(api_runs, report["p50_ms"])
    print_table(report)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
