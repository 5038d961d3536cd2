"""Try it now in a real browser: sign up, upload a video, watch it analysed live over the real server and worker."""

from __future__ import annotations

import os
import re
import secrets
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import cv2
import pytest
import redis
from skimage import data

from tests.browser.page_checks import ARTIFACTS, record_failed_requests, screenshot
from tests.predictions.web_factories import astronaut_video

pytestmark = pytest.mark.browser

REPO_ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Redis databases of these tests alone (the jobs engine's integration tests use others); each run claims a free
# one, so two runs on one machine never share a queue (a worker of one run would take the other's jobs).
# The server is REDIS_URL's (scripts/with_redis.py sets it), else the default one.
REDIS_SERVER = urllib.parse.urlsplit(os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379")._replace(path="").geturl()
REDIS_DATABASES = (12, 13, 14, 15)
CLAIM_KEY = "genrec-browser-test-claim"
JOB_TIMEOUT_MS = 180_000


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def claim_redis_database() -> str | None:
    """The URL of a Redis database no other run is using, now claimed for this one; None when none is free."""
    for number in REDIS_DATABASES:
        url = f"{REDIS_SERVER}/{number}"
        try:
            client = redis.Redis.from_url(url, socket_connect_timeout=1)
            if client.set(CLAIM_KEY, os.getpid(), nx=True, ex=1800):
                client.flushdb()
                client.set(CLAIM_KEY, os.getpid(), ex=1800)
                return url
        except redis.RedisError:
            return None
    return None


def wait_for_http(url: str, process: subprocess.Popen, log: Path, seconds: float = 60) -> None:
    """Poll until the server answers (it is ready), failing early with its log if it died."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the server exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.3)
    pytest.fail(f"the server did not answer at {url}:\n{log.read_text()[-3000:]}")


def stop(process: subprocess.Popen | None) -> None:
    if process is not None and process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class LiveSite:
    """The real platform on loopback: daphne and a Celery worker as subprocesses sharing one environment."""

    def __init__(self, tmp_path: Path, redis_url: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server_log, self.worker_log = tmp_path / "daphne.log", tmp_path / "worker.log"
        self.server: subprocess.Popen | None = None
        self.worker: subprocess.Popen | None = None
        self.env = {
            **os.environ,
            "DEBUG": "0",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "DATABASE_URL": f"sqlite:///{tmp_path / 'site.sqlite3'}",
            "MEDIA_ROOT": str(tmp_path / "media"),
            "REDIS_URL": redis_url,
            "CHANNELS_PREFIX": f"genrec-browser-{self.port}",
            "ALLOWED_HOSTS": "127.0.0.1",
            # Plain HTTP on loopback: the production defaults (HTTPS only) are relaxed here on purpose.
            "SECURE_SSL_REDIRECT": "0",
            "SESSION_COOKIE_SECURE": "0",
            "CSRF_COOKIE_SECURE": "0",
            "SECURE_HSTS_SECONDS": "0",
            "PYTHONUNBUFFERED": "1",
        }
        self.manage("migrate", "--noinput")
        self.manage("sync_models")  # as the quick start and docker compose do before the site starts
        self.database = tmp_path / "site.sqlite3"

    def job_model_name(self, public_id: str) -> str | None:
        """The name of the model a job recorded, read from the site's database."""
        with sqlite3.connect(self.database) as connection:
            row = connection.execute(
                "SELECT m.name FROM predictions_job j JOIN predictions_modelversion m ON m.id = j.model_version_id "
                "WHERE replace(j.public_id, '-', '') = ?",
                (public_id.replace("-", ""),),
            ).fetchone()
        return row[0] if row else None

    def manage(self, *arguments: str) -> None:
        subprocess.run(
            [sys.executable, "manage.py", *arguments], cwd=REPO_ROOT, env=self.env, check=True, capture_output=True
        )

    def spawn(self, arguments: list[str], log: Path) -> subprocess.Popen:
        with log.open("a") as output:
            return subprocess.Popen(
                [sys.executable, *arguments], cwd=REPO_ROOT, env=self.env, stdout=output, stderr=subprocess.STDOUT
            )

    def start_server(self) -> None:
        daphne = ["-m", "daphne", "-b", "127.0.0.1", "-p", str(self.port), "genrec_site.asgi:application"]
        self.server = self.spawn(daphne, self.server_log)
        wait_for_http(self.url + "/healthz", self.server, self.server_log)

    def stop_server(self) -> None:
        stop(self.server)
        self.server = None

    def start_worker(self) -> None:
        worker = ["-m", "celery", "-A", "genrec_site", "worker", "--pool=solo", "--without-gossip"]
        worker += ["--without-mingle", "--loglevel=INFO", "-n", f"browser-test-{self.port}@%h"]
        self.worker = self.spawn(worker, self.worker_log)

    def stop_all(self) -> None:
        stop(self.worker)
        self.stop_server()


@pytest.fixture
def live_site(tmp_path) -> Iterator[LiveSite]:
    """The site's server, on a fresh SQLite database, media folder and Redis database; the test starts the worker."""
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed at /usr/bin/chromium (the setup script installs it)")
    model_dir = Path(os.environ.get("GENREC_MODEL_DIR") or REPO_ROOT / "models" / "default")
    if not (model_dir / "manifest.json").is_file():
        pytest.skip(f"no trained model at {model_dir} (the shipped model or GENREC_MODEL_DIR)")
    redis_url = claim_redis_database()
    if redis_url is None:
        pytest.skip(f"no Redis answers at {REDIS_SERVER}, or databases {REDIS_DATABASES} are all in use")
    site = LiveSite(tmp_path, redis_url)
    try:
        site.start_server()
        yield site
    finally:
        site.stop_all()
        redis.Redis.from_url(redis_url).flushdb()  # the claim goes with it
        if os.environ.get("GENREC_KEEP_BROWSER_LOGS"):
            ARTIFACTS.mkdir(exist_ok=True)
            for log in (site.server_log, site.worker_log):
                if log.exists():
                    (ARTIFACTS / log.name).write_text(log.read_text())


@pytest.fixture
def browser_page():
    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        try:
            yield page
        finally:
            context.close()
            browser.close()


def sign_up(page, base_url: str, username: str, screenshot_name: str | None = None) -> None:
    if not page.url.endswith("/accounts/signup/"):
        page.goto(base_url + "/accounts/signup/")
    page.fill("#id_username", username)
    page.fill("#id_password1", "a-long-browser-pass-phrase")
    page.fill("#id_password2", "a-long-browser-pass-phrase")
    if screenshot_name:
        screenshot(page, screenshot_name)
    page.click("button:has-text('Sign up')")
    page.wait_for_url(base_url + "/try/")


CONNECTION_TEXT = "document.querySelector('[data-job-panel] [data-field=\"connection\"]').textContent"
FOCUSED_ID = "document.activeElement && document.activeElement.id"
# The "male" band label sits right of the plot, where no point of the curve can be drawn over it.
MALE_LABEL_BESIDE_PLOT = """() => {
  const svg = document.querySelector('[data-timeline]');
  const plotRight = Number(svg.querySelector('.midline').getAttribute('x2'));
  return svg.querySelector('.band-label-male').getBBox().x > plotRight;
}"""


def status_is(status: str) -> str:
    return f"document.querySelector('[data-job-panel] [data-field=\"status\"]').dataset.status === '{status}'"


def test_sign_up_upload_a_video_and_watch_it_analysed_live(live_site, browser_page, tmp_path):
    live_site.start_worker()
    base_url = live_site.url
    page = browser_page
    page.set_default_timeout(30_000)
    failed_requests = record_failed_requests(page)
    page.goto(base_url + "/")
    screenshot(page, "welcome.png")
    page.goto(base_url + "/accounts/login/")
    screenshot(page, "login.png")
    page.goto(base_url + "/concept/")
    figures = page.locator("figure img")
    for index in range(figures.count()):
        figures.nth(index).scroll_into_view_if_needed()  # the figures load lazily
    page.wait_for_function("[...document.querySelectorAll('figure img')].every((img) => img.naturalWidth > 0)")
    screenshot(page, "concept.png")

    page.click("text=Sign up")
    sign_up(page, base_url, "walter", screenshot_name="signup.png")
    screenshot(page, "try_it_now_empty.png")
    assert page.get_by_role("link", name="Change password", exact=True).count() == 1

    disguised = tmp_path / "holiday.jpg"
    disguised.write_bytes(b"<?php system($_GET['c']); ?>")
    page.set_input_files("#upload-file", str(disguised))
    page.click("[data-upload-button]")
    error = page.locator("[data-upload-error]")
    error.wait_for(state="visible")
    assert (
        error.inner_text() == "This file is not an image or video we can read (JPEG, PNG, WEBP, MP4, WEBM, AVI, MOV)."
    )
    screenshot(page, "try_it_now_refused.png")

    clip = astronaut_video(tmp_path / "astronaut walk.mp4", fourcc="mp4v", frames=40, size=320)
    page.set_input_files("#upload-file", str(clip))
    assert "astronaut walk.mp4" in page.inner_text("[data-dropzone-title]")
    page.select_option("#every-n-frames", "2")
    page.click("[data-upload-button]")

    panel = page.locator("[data-job-panel]")
    panel.wait_for(state="visible")
    page.wait_for_url(base_url + "/jobs/*/")  # a reload from here shows this job
    assert page.evaluate(FOCUSED_ID) == "job-title"  # focus moved to the result's heading
    assert page.locator("h1").count() == 1
    status = panel.locator('[data-field="status"]')
    page.wait_for_function(status_is("SUCCEEDED"), timeout=JOB_TIMEOUT_MS)
    assert status.inner_text() == "Done"
    assert page.title() == "astronaut walk.mp4 · Done · GEN_REC"
    assert panel.locator('[data-field="meta"]').inner_text() == "Video · 320 × 320 · every 2nd frame"
    announcement = panel.locator('[data-field="announcement"]').text_content()
    assert re.fullmatch(
        r"Video: (female|male), \d+%, the person on screen longest; 1 person, 20 frames analysed\.", announcement
    )
    # Socket states ("Connecting…", "Live") are shown, never announced: no live region holds them.
    assert page.locator('[aria-live] [data-field="connection"], [role="status"] [data-field="connection"]').count() == 0
    assert page.evaluate(MALE_LABEL_BESIDE_PLOT)
    progress = panel.locator("[data-progress]")
    assert progress.get_attribute("aria-valuenow") == "100"
    assert panel.locator('[data-field="progress"]').inner_text() == "100%"
    assert panel.locator('[data-field="frames"]').inner_text().startswith("20 / 20")

    gallery_images = panel.locator("[data-gallery] img")
    video_frames_kept = gallery_images.count()
    assert video_frames_kept >= 1
    gallery_images.first.scroll_into_view_if_needed()
    page.wait_for_function(
        "[...document.querySelectorAll('[data-gallery] img')].every((img) => img.complete && img.naturalWidth > 0)"
    )
    assert panel.locator("[data-timeline] polyline, [data-timeline] circle").count() >= 1
    persons = panel.locator("[data-faces-table] tbody tr")
    assert persons.count() == 1 and persons.first.get_attribute("data-track-id") is not None
    assert "on screen longest" in panel.locator("[data-summary-note]").inner_text()
    # One smoothed curve per person by default; the raw per-frame values are a keyboard press away.
    assert panel.locator("[data-timeline] .series.person-0, [data-timeline] .series-dot.person-0").count() >= 1
    raw = page.get_by_role("checkbox", name="Show the raw per-frame values")
    assert not raw.is_checked() and panel.locator("[data-legend-raw]").is_hidden()
    raw.focus()
    page.keyboard.press("Space")
    assert raw.is_checked() and panel.locator("[data-legend-persons]").is_hidden()
    page.wait_for_function("!document.querySelector('[data-timeline] .person-0')")
    assert panel.locator("[data-timeline] polyline.series, [data-timeline] circle.series-dot").count() >= 1
    page.keyboard.press("Space")
    page.wait_for_function("document.querySelector('[data-timeline] .person-0') !== null")
    assert "every 2nd frame" in panel.locator("[data-summary]").inner_text()
    finished = screenshot(page, "try_it_now_finished.png")
    assert finished.stat().st_size > 0

    page.click("[data-another-button]")
    assert page.url == base_url + "/try/"
    # The model is an advanced choice: folded away, the active model preselected, every installed model offered.
    model_select = page.locator("#upload-model")
    assert not model_select.is_visible()
    page.click("summary:has-text('Advanced options')")
    offered = model_select.locator("option").evaluate_all("(options) => options.map((option) => option.value)")
    assert "default" in offered and model_select.input_value() == "default"
    screenshot(page, "try_it_now_advanced.png")
    chosen = offered[-1]
    page.select_option("#upload-model", chosen)
    photo = tmp_path / "astronaut.jpg"
    cv2.imwrite(str(photo), cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR))
    page.set_input_files("#upload-file", str(photo))
    page.click("[data-upload-button]")
    page.wait_for_function(
        """document.querySelector('[data-field="original_name"]').textContent === 'astronaut.jpg'
        && document.querySelector('[data-field="status"]').dataset.status === 'SUCCEEDED'""",
        timeout=JOB_TIMEOUT_MS,
    )
    faces = panel.locator("[data-faces-table] tbody tr")
    assert faces.count() >= 1
    first_label = faces.first.locator("td").nth(1).inner_text()
    assert first_label in ("Female", "Male")
    assert page.evaluate(FOCUSED_ID) == "job-title"
    assert page.title() == "astronaut.jpg · Done · GEN_REC"
    assert panel.locator('[data-field="meta"]').inner_text() == "Image · 512 × 512"
    announcement = panel.locator('[data-field="announcement"]').text_content()
    counted = f"{faces.count()} face{'s' if faces.count() > 1 else ''} found: "
    assert announcement.startswith(counted + first_label.lower() + ", "), announcement
    assert re.fullmatch(r"\d+ faces? found: (female|male), \d+%(; (female|male), \d+%)*", announcement)
    page.wait_for_function(
        "[...document.querySelectorAll('[data-gallery] img')].every((img) => img.complete && img.naturalWidth > 0)"
    )
    assert panel.locator("[data-gallery] img").count() == 1
    screenshot(page, "try_it_now_image.png")
    assert live_site.job_model_name(page.url.rstrip("/").rsplit("/", 1)[-1]) == chosen

    page.goto(base_url + "/jobs/")
    page.click("text=astronaut walk.mp4")
    page.wait_for_function(status_is("SUCCEEDED"))
    assert page.locator("[data-gallery] img").count() == video_frames_kept
    assert page.locator("h1").all_inner_texts() == ["astronaut walk.mp4"]
    assert page.title() == "astronaut walk.mp4 · Done · GEN_REC"
    screenshot(page, "job_page.png")
    page.goto(base_url + "/jobs/")
    assert "astronaut.jpg" in page.inner_text("table")
    screenshot(page, "my_jobs.png")
    page.set_viewport_size({"width": 375, "height": 800})
    screenshot(page, "my_jobs_narrow.png")
    page.set_viewport_size({"width": 1280, "height": 900})
    page.get_by_role("link", name="Change password", exact=True).click()
    screenshot(page, "password_change.png")
    page.goto(base_url + "/admin/login/")
    screenshot(page, "admin_login.png")
    missing = f"{base_url}/jobs/{uuid.uuid4()}/"
    assert page.goto(missing).status == 404
    screenshot(page, "not_found.png")

    icon = page.request.get(base_url + "/favicon.ico")
    assert icon.status == 200 and icon.headers["content-type"].startswith("image/")
    page.goto(base_url + "/try/")
    page.click("button:has-text('Log out')")
    screenshot(page, "logged_out.png")
    expected = {f"404 {missing}"}  # the refused upload's 400 is an answer to the API, not a page's request
    assert [line for line in failed_requests if line not in expected and "/api/jobs/" not in line] == []


def test_page_reconnects_and_resyncs_after_the_server_restarts(live_site, browser_page, tmp_path):
    """No worker yet: the job waits; the server goes away and comes back; the page recovers and shows the result."""
    page = browser_page
    page.set_default_timeout(30_000)
    sign_up(page, live_site.url, "rosalind")
    photo = tmp_path / "astronaut.jpg"
    cv2.imwrite(str(photo), cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR))
    page.set_input_files("#upload-file", str(photo))
    page.click("[data-upload-button]")
    page.wait_for_function(status_is("PENDING"))
    assert page.title() == "astronaut.jpg · Waiting · GEN_REC"
    screenshot(page, "try_it_now_waiting.png")
    connection = page.locator('[data-job-panel] [data-field="connection"]')
    page.wait_for_function(CONNECTION_TEXT + " === 'Live'")

    live_site.stop_server()
    page.wait_for_function(CONNECTION_TEXT + ".startsWith('Reconnecting')")
    live_site.start_server()
    page.wait_for_function(CONNECTION_TEXT + " === 'Live'", timeout=60_000)
    assert page.locator('[data-job-panel] [data-field="status"]').inner_text() == "Waiting"

    live_site.start_worker()
    page.wait_for_function(status_is("SUCCEEDED"), timeout=JOB_TIMEOUT_MS)
    assert page.title() == "astronaut.jpg · Done · GEN_REC"  # the tab follows the job live
    assert connection.inner_text() == ""
    page.wait_for_function("document.querySelector('[data-gallery] img')?.naturalWidth > 0")
    assert page.locator("[data-faces-table] tbody tr").count() >= 1
