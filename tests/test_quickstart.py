"""`make admin` and `make run` in a fresh clone without Redis: the staff account logs into the admin, the site
processes an uploaded photo, Ctrl-C stops it all."""

from __future__ import annotations

import importlib.util
import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import cv2
import pytest
from skimage import data as skimage_data

from tests.site_client import SiteClient

REPO_ROOT = Path(__file__).resolve().parents[1]
START_TIMEOUT_SECONDS = 300
JOB_TIMEOUT_SECONDS = 180
STOP_TIMEOUT_SECONDS = 60
# Settings this test process may carry (pytest env, CI's PostgreSQL) that a fresh quick start must not inherit.
INHERITED_SETTINGS = (
    "DATABASE_URL",
    "SECRET_KEY",
    "SECRET_KEY_FILE",
    "DEBUG",
    "MEDIA_ROOT",
    "REDIS_URL",
    "CELERY_BROKER_URL",
    "CELERY_RESULT_BACKEND",
    "CHANNELS_PREFIX",
    "SECURE_SSL_REDIRECT",
    "SESSION_COOKIE_SECURE",
    "CSRF_COOKIE_SECURE",
    "SECURE_HSTS_SECONDS",
    "ALLOWED_HOSTS",
    "GENREC_MODEL_DIR",
)


def load_launcher():
    spec = importlib.util.spec_from_file_location("genrec_run", REPO_ROOT / "scripts" / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def listening_addresses(port: int) -> list[str]:
    """The local addresses (hex, as /proc/net shows them) of sockets listening on port, IPv4 and IPv6."""
    addresses = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for row in Path(table).read_text().splitlines()[1:]:
            fields = row.split()
            address, port_hex = fields[1].rsplit(":", 1)
            if int(port_hex, 16) == port and fields[3] == "0A":  # 0A: LISTEN
                addresses.append(address)
    return addresses


def descendants(root_pid: int) -> set[int]:
    """Every process whose chain of parents leads to root_pid."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = set(), {root_pid}
    while frontier:
        frontier = {pid for pid, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def is_alive(pid: int) -> bool:
    """True for a running process; a zombie waiting for its parent to reap it counts as gone."""
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.fixture
def fresh_clone(tmp_path) -> Path:
    if not (REPO_ROOT / ".git").exists() or shutil.which("git") is None:
        pytest.skip("the quick start is tested on a fresh git clone, and this is not a git checkout")
    if shutil.which("make") is None:
        pytest.skip("`make run` is the quick-start command and make is not installed")
    clone = tmp_path / "genrec"
    subprocess.run(["git", "clone", "--quiet", str(REPO_ROOT), str(clone)], check=True)
    return clone


def test_embedded_redis_listens_on_loopback_only_and_keeps_nothing():
    launcher = load_launcher()
    command = launcher.embedded_redis_command("redis://:s3cret%21@localhost:6390/2")
    assert Path(command[0]).name == "redis-server" and os.access(command[0], os.X_OK)
    options = dict(zip(command[1::2], command[2::2], strict=True))
    assert options["--bind"] == "127.0.0.1" and options["--port"] == "6390"
    assert options["--save"] == "" and options["--appendonly"] == "no"
    assert options["--requirepass"] == "s3cret!"


def test_embedded_redis_is_refused_for_another_machine():
    launcher = load_launcher()
    with pytest.raises(launcher.QuickStartError, match="only serve this machine"):
        launcher.embedded_redis_command("redis://10.1.2.3:6379/0")


def test_with_redis_runs_a_command_beside_an_embedded_redis_and_stops_it():
    redis_port = free_port()
    ping = "import os, redis; raise SystemExit(0 if redis.Redis.from_url(os.environ['REDIS_URL']).ping() else 3)"
    env = {**os.environ, "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0"}
    script = str(REPO_ROOT / "scripts" / "with_redis.py")
    assert subprocess.run([sys.executable, script, sys.executable, "-c", ping], env=env, timeout=60).returncode == 0
    assert listening_addresses(redis_port) == []
    failing = subprocess.run([sys.executable, script, sys.executable, "-c", "raise SystemExit(7)"], env=env, timeout=60)
    assert failing.returncode == 7


@pytest.mark.parametrize("command", [["check"], ["createsuperuser", "--noinput", "--username", "nobody"]])
def test_manage_without_a_secret_says_what_to_set_in_one_line(command):
    env = {name: value for name, value in os.environ.items() if name not in INHERITED_SETTINGS}
    result = subprocess.run(
        [sys.executable, "manage.py", *command], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "SECRET_KEY_FILE=var/secret_key" in result.stderr and "make admin" in result.stderr


@pytest.mark.slow
@pytest.mark.timeout(START_TIMEOUT_SECONDS + JOB_TIMEOUT_SECONDS + 300)
def test_quickstart_in_a_fresh_clone_processes_an_upload_and_stops_cleanly(fresh_clone):
    redis_port, web_port = free_port(), free_port()
    assert listening_addresses(redis_port) == [], "the chosen Redis port must be free so the embedded one starts"
    env = {name: value for name, value in os.environ.items() if name not in INHERITED_SETTINGS}
    env |= {"REDIS_URL": f"redis://127.0.0.1:{redis_port}/0", "GENREC_VENV": sys.prefix}

    # The documented first staff account, before the site has ever started (no database, no secret yet).
    admin_password = "staff-" + uuid.uuid4().hex
    admin_env = env | {
        "DJANGO_SUPERUSER_USERNAME": "ada",
        "DJANGO_SUPERUSER_EMAIL": "ada@example.org",
        "DJANGO_SUPERUSER_PASSWORD": admin_password,
    }
    made = subprocess.run(
        ["make", "admin"], cwd=fresh_clone, env=admin_env, stdin=subprocess.DEVNULL, capture_output=True, text=True
    )
    assert made.returncode == 0, made.stdout + made.stderr
    assert "Superuser created successfully." in made.stdout, made.stdout + made.stderr

    launcher = subprocess.Popen(
        ["make", "run", f"RUN_ARGS=--port {web_port} --concurrency 1"],
        cwd=fresh_clone,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own group, so the test can press "Ctrl-C" on it alone
    )
    lines: queue.Queue[str] = queue.Queue()
    transcript: list[str] = []

    def read_output() -> None:
        for line in launcher.stdout:
            transcript.append(line)
            lines.put(line)

    threading.Thread(target=read_output, daemon=True).start()
    started: set[int] = set()
    try:
        base_url = wait_for_url(lines, launcher)
        started = descendants(launcher.pid)
        # The URL is the last line of the start: web, both workers and beat all said they were ready before it.
        before_url = "".join(transcript)
        for worker in ("worker", "photos"):
            assert re.search(rf"^{worker} +\| .* ready\.$", before_url, re.MULTILINE), before_url[-3000:]
        assert "beat: Starting..." in before_url, before_url[-3000:]
        time.sleep(2)
        assert "GEN_REC is running at " in transcript[-1], "".join(transcript[-10:])

        staff = SiteClient(base_url)
        landed = staff.submit_form("admin/login/?next=/admin/", {"username": "ada", "password": admin_password})
        assert landed == base_url + "admin/", landed
        status, admin_page = staff.request("admin/")
        assert status == 200 and b"Site administration" in admin_page

        # The embedded Redis listens on this machine only.
        assert listening_addresses(redis_port) == ["0100007F"]

        browser = SiteClient(base_url)
        password = "quick-start-" + uuid.uuid4().hex
        assert browser.sign_up("quickstart", password).endswith("/try/")
        assert browser.submit_form("accounts/login/", {"username": "quickstart", "password": password})
        assert browser.cookie("sessionid")

        photo = cv2.imencode(".jpg", cv2.cvtColor(skimage_data.astronaut(), cv2.COLOR_RGB2BGR))[1].tobytes()
        status, created = browser.upload("astronaut.jpg", photo, "image/jpeg")
        assert status == 201, created
        job = wait_for_job(browser, created["job"]["id"])
        assert job["status"] == "SUCCEEDED", job
        assert job["kind"] == "image"
        assert job["faces_found"] >= 1
        started |= descendants(launcher.pid)
    finally:
        stop(launcher)

    output = "".join(transcript)
    assert launcher.returncode is not None
    assert "genrec | stopped" in output, output[-3000:]
    assert [pid for pid in started if is_alive(pid)] == [], output[-3000:]
    assert listening_addresses(redis_port) == [] and listening_addresses(web_port) == []
    # The generated secret is readable by its owner only, and nothing the quick start wrote shows in git status.
    assert (fresh_clone / "var" / "secret_key").stat().st_mode & 0o077 == 0
    git_status = subprocess.run(["git", "status", "--porcelain"], cwd=fresh_clone, capture_output=True, text=True)
    assert git_status.stdout == ""


def wait_for_url(lines: queue.Queue, launcher: subprocess.Popen) -> str:
    """The URL the quick start prints once the site answers."""
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=1)
        except queue.Empty:
            assert launcher.poll() is None, "the quick start exited before printing its URL"
            continue
        if "GEN_REC is running at " in line:
            return line.split("GEN_REC is running at ", 1)[1].split()[0]
    raise AssertionError(f"no URL within {START_TIMEOUT_SECONDS} s")


def wait_for_job(browser: SiteClient, job_id: str) -> dict:
    """Poll the job's snapshot until it reaches a final status."""
    deadline = time.monotonic() + JOB_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        job = browser.get_json(f"api/jobs/{job_id}/")["job"]
        if job["status"] in {"SUCCEEDED", "FAILED", "CANCELLED"}:
            return job
        time.sleep(0.5)
    raise AssertionError(f"job {job_id} did not finish within {JOB_TIMEOUT_SECONDS} s: {job}")


def stop(launcher: subprocess.Popen) -> None:
    """Ctrl-C, as a terminal sends it to its foreground group; kill only if it does not stop in time."""
    if launcher.poll() is None:
        os.killpg(launcher.pid, signal.SIGINT)
        try:
            launcher.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            os.killpg(launcher.pid, signal.SIGKILL)
            launcher.wait()
            raise AssertionError("the quick start did not stop within a minute of Ctrl-C") from None
