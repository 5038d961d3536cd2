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


class Platform:
    """Redis, daphne, the quick start's workers (``workers`` processes + one for photos) and beat, all temporary."""

    def __init__(self, *, workers: int, workdir: Path, env: dict[str, str] | None = None) -> None:
        self.workers = workers
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
        # The quick start's worker layout: one worker on every queue, one process kept for photos.
        for name, (command, env) in launcher.worker_commands(python, self.workers, loglevel="WARNING").items():
            self._start(name, command, env)
        beat = [python, "-m", "celery", "-A", "genrec_site", "beat", "--loglevel=WARNING"]
        self._start("beat", beat + [f"--schedule={self.workdir / 'beat-schedule'}"])
        while True:
            self._check_alive(deadline)
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.3)

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
            chosen = [process for name, process in self.processes if name in names]
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
        worker = next(process for name, process in self.processes if name == "worker")
        peaks = []
        for task in (Path("/proc") / str(worker.pid) / "task").glob("*"):
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
