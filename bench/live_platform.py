"""The platform as benchmarks drive it: Redis, daphne, a Celery worker and beat on loopback, and a browser-like client.

Shared by bench/load.py, bench/scaling.py and bench/latency.py. (Not named platform.py: a script's own folder comes
first on sys.path, and that name would hide the standard library's platform module.)
"""

from __future__ import annotations

import importlib.util
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))  # the site client lives with the tests that share it

from tests.site_client import FINAL_STATUSES, HTTP_TIMEOUT_SECONDS, SiteClient  # noqa: E402, F401

READY_TIMEOUT_SECONDS = 90


def load_launcher():
    """scripts/run.py as a module: the quick start's own Redis command and process-group helpers."""
    spec = importlib.util.spec_from_file_location("genrec_run", REPO_ROOT / "scripts" / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


launcher = load_launcher()


def free_port() -> int:
    """A loopback TCP port nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class LocalS3:
    """An S3-protocol server on loopback in a process of its own (moto's ``moto_server``, as MinIO would be), with
    one bucket; ``environment(...)`` points the platform at it."""

    access_key, secret_key, region = "bench", "bench-secret", "us-east-1"

    def __init__(self, bucket: str = "bench-media") -> None:
        self.bucket = bucket
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def client(self):
        """A boto3 client of the server."""
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=self.region,
        )

    def environment(self) -> dict[str, str]:
        """GENREC_MEDIA_STORAGE=s3 and the conventional AWS_* names for this server's bucket."""
        return {
            "GENREC_MEDIA_STORAGE": "s3",
            "AWS_STORAGE_BUCKET_NAME": self.bucket,
            "AWS_S3_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_S3_REGION_NAME": self.region,
        }

    def keys(self) -> list[str]:
        """Every key in the bucket."""
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=self.bucket)
        return sorted(item["Key"] for page in pages for item in page.get("Contents", []))

    def __enter__(self) -> LocalS3:
        binary = Path(sys.executable).with_name("moto_server")
        self.process = subprocess.Popen(
            [str(binary), "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while True:
            try:
                self.client().create_bucket(Bucket=self.bucket)
                return self
            except Exception:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.__exit__()
                    raise
                time.sleep(0.2)

    def __exit__(self, *exc_info) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait()
            self.process = None


class Platform:
    """Redis, daphne, Celery workers and beat, on a temporary database and media.

    The quick start's workers (one on every queue with ``workers`` prefork pool processes, one process kept for
    photos); or, with ``separate_workers``, ``workers`` Celery
    workers of one process each, every one with a MEDIA_ROOT and a temporary folder of its own (hosts that share
    no directory).
    """

    def __init__(
        self, *, workers: int, workdir: Path, env: dict[str, str] | None = None, separate_workers: bool = False
    ) -> None:
        self.workers = workers
        self.separate_workers = separate_workers
        self.workdir = workdir
        self.port = free_port()
        self.redis_url = f"redis://127.0.0.1:{free_port()}/0"
        self.media_root = workdir / "media"
        self.url = f"http://127.0.0.1:{self.port}"
        self.processes: list[tuple[str, subprocess.Popen]] = []
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "genrec_site.settings",
            "DEBUG": "0",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "DATABASE_URL": os.environ.get("GENREC_BENCH_DATABASE_URL") or f"sqlite:///{workdir / 'bench.sqlite3'}",
            "MEDIA_ROOT": str(self.media_root),
            "REDIS_URL": self.redis_url,
            "CELERY_BROKER_URL": self.redis_url,
            "CELERY_RESULT_BACKEND": self.redis_url,
            "ALLOWED_HOSTS": "127.0.0.1",
            # Plain HTTP on loopback, as the quick start serves it.
            "SECURE_SSL_REDIRECT": "0",
            "SESSION_COOKIE_SECURE": "0",
            "CSRF_COOKIE_SECURE": "0",
            "SECURE_HSTS_SECONDS": "0",
            # A bench user uploads far more than a person would in an hour.
            "GENREC_UPLOADS_PER_HOUR": os.environ.get("GENREC_UPLOADS_PER_HOUR", "1000"),
            "LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
            **(env or {}),
        }

    def start(self) -> None:
        """Start everything and wait until the site answers /healthz."""
        self._start("redis", launcher.embedded_redis_command(self.redis_url))
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while not launcher.redis_answers(self.redis_url):
            self._check_alive(deadline)
            time.sleep(0.1)
        python = sys.executable
        subprocess.run(
            [python, "manage.py", "migrate", "--noinput"], cwd=REPO_ROOT, env=self.env, check=True, capture_output=True
        )
        self._start("web", [python, "-m", "daphne", "-b", "127.0.0.1", "-p", str(self.port), launcher.ASGI_APP])
        celery = [python, "-m", "celery", "-A", "genrec_site"]
        if self.separate_workers:
            for number in range(1, self.workers + 1):
                worker = ["worker", "--loglevel=WARNING", "--concurrency=1", "-n", f"worker-{number}@%h"]
                self._start(f"worker-{number}", celery + worker, env=self.worker_env(number))
        else:
            # The quick start's worker layout: one worker on every queue, one process kept for photos.
            for name, (command, env) in launcher.worker_commands(python, self.workers, loglevel="WARNING").items():
                self._start(name, command, env)
        self._start("beat", celery + ["beat", "--loglevel=WARNING", f"--schedule={self.workdir / 'beat-schedule'}"])
        while True:
            self._check_alive(deadline)
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.3)

    def worker_env(self, number: int) -> dict[str, str]:
        """A separate worker's environment: its own MEDIA_ROOT (used only on the file system) and temporary folder."""
        folders = {
            "MEDIA_ROOT": self.workdir / f"worker-{number}-media",
            "TMPDIR": self.workdir / f"worker-{number}-tmp",
        }
        for folder in folders.values():
            folder.mkdir(parents=True, exist_ok=True)
        if self.env.get("GENREC_MEDIA_STORAGE", "fs") == "fs":
            del folders["MEDIA_ROOT"]  # the file system is the store itself: it must be the web's folder
        return {**self.env, **{name: str(folder) for name, folder in folders.items()}}

    def local_media_files(self) -> list[str]:
        """Files under every MEDIA_ROOT and worker temporary folder of this platform (all empty on object storage)."""
        folders = [self.media_root, *self.workdir.glob("worker-*-media"), *self.workdir.glob("worker-*-tmp")]
        files = (path for folder in folders if folder.is_dir() for path in folder.rglob("*"))
        return sorted(str(path) for path in files if path.is_file())

    def _start(self, name: str, command: list[str], env: dict[str, str] | None = None) -> None:
        log = (self.workdir / f"{name}.log").open("w")
        process = subprocess.Popen(
            command,
            cwd=REPO_ROOT,
            env={**self.env, **(env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.processes.append((name, process))

    def _check_alive(self, deadline: float) -> None:
        for name, process in self.processes:
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited with {process.returncode}; see {self.workdir / (name + '.log')}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"the platform did not start within {READY_TIMEOUT_SECONDS} s; logs in {self.workdir}")

    def stop(self) -> None:
        """Stop web, worker and beat, then Redis; kill whatever does not stop in the grace period."""
        for names in (("web", "worker", "photos", "beat"), ("redis",)):
            chosen = [process for name, process in self.processes if name.split("-")[0] in names]
            for process in chosen:
                launcher.signal_group(process, signal.SIGTERM)
            for process in chosen:
                try:
                    process.wait(timeout=launcher.STOP_GRACE_SECONDS)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
                launcher.signal_group(process, signal.SIGKILL)

    def worker_peak_memory_mb(self) -> list[float]:
        """Peak resident memory (VmHWM) of each worker pool process so far, in MB (Linux /proc)."""
        workers = [process for name, process in self.processes if name.split("-")[0] == "worker"]
        peaks = []
        for task in (path for worker in workers for path in (Path("/proc") / str(worker.pid) / "task").glob("*")):
            try:
                children = (task / "children").read_text().split()
                statuses = [(Path("/proc") / child / "status").read_text() for child in children]
            except OSError:
                continue  # a thread or pool process ended while we looked
            for status in statuses:
                kilobytes = next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:"))
                peaks.append(round(int(kilobytes) / 1024, 1))
        return peaks

    def __enter__(self) -> Platform:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()


def percentile(values: list[float], fraction: float) -> float | None:
    """The nearest-rank percentile of values, None when there are none."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(fraction * len(ordered) + 0.5) - 1))]


def machine() -> dict:
    """What the figures were measured on, load average included (other work on the machine skews them)."""
    return {"cpus": os.cpu_count(), "load_average": [round(value, 2) for value in os.getloadavg()]}
