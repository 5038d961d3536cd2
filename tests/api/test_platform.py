"""The API over real HTTP against the running platform (Redis, daphne, a Celery worker, beat): a script's whole day."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
import subprocess
import sys
import time
from pathlib import Path

import pytest
from websockets.sync.client import connect

from bench.live_platform import Platform
from tests.jobs_helpers import write_face_clip, write_face_image
from tests.site_client import SiteClient

from .api_client import ApiClient, create_key
from .receiver import WebhookReceiver

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

API_DOC = Path(__file__).resolve().parents[2] / "docs" / "API.md"
FINAL = {"SUCCEEDED", "FAILED", "CANCELLED"}


def follow(api: ApiClient, job_id: str) -> list[dict]:
    """The job's websocket with the key as a subprotocol, read until the job has ended."""
    url = api.url(f"/ws/jobs/{job_id}/").replace("http://", "ws://", 1)
    messages = []
    with connect(url, origin=api.base_url, subprotocols=["genrec.v1", f"genrec.key.{api.key}"]) as socket:
        assert socket.subprotocol == "genrec.v1"
        while True:
            messages.append(json.loads(socket.recv(timeout=120)))
            last = messages[-1]
            if last["type"] == "finished" or (last["type"] == "snapshot" and last["job"]["status"] in FINAL):
                return messages


@pytest.fixture(scope="module")
def platform(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("api-platform")
    env = {
        "GENREC_WEBHOOK_ALLOW_PRIVATE": "1",
        "GENREC_WEBHOOK_BACKOFF_SECONDS": "0.5",
        "GENREC_MAX_ACTIVE_JOBS": "10",
        "GENREC_RESULT_FLUSH_FRAMES": "5",
    }
    with Platform(workers=1, workdir=workdir, env=env) as running:
        yield running


@pytest.fixture(scope="module")
def keys(platform):
    browser = SiteClient(platform.url)
    browser.sign_up(f"api-{secrets.token_hex(3)}")
    write, secret = create_key(browser, "integration", "write")
    read, _ = create_key(browser, "reader", "read")
    stranger = SiteClient(platform.url)
    stranger.sign_up(f"other-{secrets.token_hex(3)}")
    other, _ = create_key(stranger, "other", "write")
    return {"write": write, "read": read, "other": other, "secret": secret}


def test_photo_and_video_with_progress_results_csv_cancel_delete(platform, keys, tmp_path):
    api, reader, stranger = (ApiClient(platform.url, keys[name]) for name in ("write", "read", "other"))
    photo = write_face_image(tmp_path / "face.jpg").read_bytes()
    status, job = api.upload("face.jpg", photo, {})
    assert status == 201 and job["kind"] == "image", job
    status, done = api.json(f"/api/v1/jobs/{job['id']}/?wait=60")
    assert status == 200 and done["status"] == "SUCCEEDED" and done["faces_found"] >= 1, done

    clip = write_face_clip(tmp_path / "walk.mp4", frames=40).read_bytes()
    status, video = api.upload("walk.mp4", clip, {"every_n_frames": "2"})
    assert status == 201 and video["frames_total"] == 20, video
    messages = follow(reader, video["id"])  # a read key may watch
    assert messages[0]["type"] == "snapshot" and messages[-1]["job"]["status"] == "SUCCEEDED"
    assert {message["type"] for message in messages[1:-1]} <= {"progress"}
    final = messages[-1]["job"]
    status, results = reader.json(f"/api/v1/jobs/{video['id']}/results/?page_size=1000")
    assert results["count"] == final["faces_found"] > 0 and len(results["detections"]) == results["count"]
    status, csv_body, headers = reader.call("GET", f"/api/v1/jobs/{video['id']}/results.csv")
    assert status == 200 and headers["Content-Type"].startswith("text/csv")
    assert len(csv_body.decode().strip().splitlines()) == 1 + final["faces_found"]
    status, jpeg, _ = reader.call("GET", f"/api/v1/jobs/{video['id']}/frames/{final['result_frames'][0]['index']}.jpg")
    assert status == 200 and jpeg[:3] == b"\xff\xd8\xff"
    assert stranger.json(f"/api/v1/jobs/{video['id']}/")[0] == 404
    assert reader.json(f"/api/v1/jobs/{video['id']}/", "DELETE")[0] == 403

    status, long_job = api.upload("long.mp4", write_face_clip(tmp_path / "long.mp4", frames=600).read_bytes(), {})
    assert status == 201
    status, cancelled = api.json(f"/api/v1/jobs/{long_job['id']}/cancel/", "POST")
    assert status == 200 and cancelled["status"] == "CANCELLED"
    assert api.json(f"/api/v1/jobs/{long_job['id']}/?wait=30")[1]["status"] == "CANCELLED"

    assert api.json(f"/api/v1/jobs/{video['id']}/", "DELETE")[0] == 204
    assert api.json(f"/api/v1/jobs/{video['id']}/")[0] == 404
    names = [item["original_name"] for item in api.json("/api/v1/jobs/")[1]["results"]]
    assert names == ["long.mp4", "face.jpg"]


def test_webhook_is_signed_retried_and_logged(platform, keys, tmp_path):
    api = ApiClient(platform.url, keys["write"])
    with WebhookReceiver([500, 200]) as receiver:
        photo = write_face_image(tmp_path / "hook.jpg").read_bytes()
        status, job = api.upload("hook.jpg", photo, {"webhook_url": receiver.url})
        assert status == 201, job
        deadline = time.monotonic() + 60
        while len(receiver.calls) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
    assert [call["answered"] for call in receiver.calls] == [500, 200]
    for call in receiver.calls:
        timestamp = call["headers"]["X-Genrec-Timestamp"]
        digest = hmac.new(keys["secret"].encode(), timestamp.encode() + b"." + call["body"], hashlib.sha256)
        assert call["headers"]["X-Genrec-Signature"] == f"sha256={digest.hexdigest()}"
        assert json.loads(call["body"])["job"]["status"] == "SUCCEEDED"
    status, log = api.json(f"/api/v1/jobs/{job['id']}/webhook/")
    assert [(item["attempt"], item["status_code"], item["ok"]) for item in log["deliveries"]] == [
        (1, 500, False),
        (2, 200, True),
    ]


def code_block(language: str) -> str:
    """The one fenced block of ``language`` in docs/API.md that is an example to run (the first)."""
    return re.search(rf"```{language}\n(.*?)```", API_DOC.read_text(), re.DOTALL).group(1)


def run_example(command: list[str], platform, keys, tmp_path) -> subprocess.CompletedProcess:
    clips = tmp_path / "clips"
    clips.mkdir()
    for index in range(2):
        write_face_clip(clips / f"clip{index}.mp4", frames=20)
    env = {**os.environ, "GENREC_URL": platform.url, "GENREC_KEY": keys["write"]}
    return subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)


def test_the_python_example_runs_as_written(platform, keys, tmp_path):
    done = run_example([sys.executable, "-c", code_block("python")], platform, keys, tmp_path)
    assert done.returncode == 0, done.stderr
    faces, clips = re.search(r"(\d+) faces in (\d+) clips", done.stdout).groups()
    assert int(faces) > 0 and int(clips) == 2


def test_the_curl_example_runs_as_written(platform, keys, tmp_path):
    done = run_example(["bash", "-c", code_block("sh")], platform, keys, tmp_path)
    assert done.returncode == 0, done.stderr
    for name in ("clip0.csv", "clip1.csv"):
        lines = (tmp_path / name).read_text().splitlines()
        assert lines[0].startswith("frame_index,time_seconds,face_index") and len(lines) > 1
