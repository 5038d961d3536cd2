"""manage.py analyze: JSON keys for an image and a video, annotated output, clear errors for bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import pytest
from django.core.management import CommandError, call_command

from workers.pipeline.model import ModelIntegrityError, default_model_dir, load_model
from workers.pipeline.synthetic import astronaut_bgr, write_moving_face_clip

pytestmark = pytest.mark.timeout(120)
REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module", autouse=True)
def shipped_model():
    try:
        return load_model(default_model_dir())
    except ModelIntegrityError as error:
        pytest.skip(f"no usable model in {default_model_dir()}: {error}")


def test_image_json_lists_classified_faces_and_writes_the_annotated_image(tmp_path):
    image, out, annotated = tmp_path / "astronaut.jpg", tmp_path / "result.json", tmp_path / "annotated.jpg"
    cv2.imwrite(str(image), astronaut_bgr())
    call_command("analyze", str(image), json=out, annotated=annotated)
    document = json.loads(out.read_text())
    assert document["kind"] == "image"
    assert len(document["faces"]) == 1
    face = document["faces"][0]
    assert set(face) >= {"box", "label", "p_female", "confidence"}
    assert face["label"] in ("male", "female") and 0.5 <= face["confidence"] <= 1
    assert cv2.imread(str(annotated)).shape == (512, 512, 3)


def test_video_json_has_frames_and_summary(tmp_path):
    clip = write_moving_face_clip(tmp_path / "moving.mp4", count=30)
    out, annotated = tmp_path / "result.json", tmp_path / "frame.jpg"
    call_command("analyze", str(clip), json=out, annotated=annotated, every_n_frames=2, max_frames=10)
    document = json.loads(out.read_text())
    assert document["kind"] == "video"
    assert [frame["index"] for frame in document["frames"]] == list(range(0, 20, 2))
    summary = document["summary"]
    assert set(summary) >= {
        "label",
        "mean_confidence",
        "std_confidence",
        "frames_analyzed",
        "frames_with_faces",
        "persons",
    }
    assert summary["frames_analyzed"] == 10 and summary["frames_with_faces"] >= 9
    assert summary["label"] in ("male", "female")
    assert len(summary["persons"]) == 1
    assert cv2.imread(str(annotated)).shape == (360, 640, 3)


def test_missing_file_is_a_command_error(tmp_path):
    with pytest.raises(CommandError, match="does not exist"):
        call_command("analyze", str(tmp_path / "nothing.mp4"))


def test_unreadable_video_exits_non_zero_with_a_clear_message(tmp_path):
    path = tmp_path / "garbage.mp4"
    path.write_bytes(os.urandom(30_000))
    environment = {**os.environ, "DEBUG": "1"}
    environment.pop("SECRET_KEY", None)  # the command must work in a plain DEBUG=1 development shell
    completed = subprocess.run(
        [sys.executable, "manage.py", "analyze", str(path)],
        cwd=REPO_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=100,
    )
    assert completed.returncode != 0
    assert "cannot open the video 'garbage.mp4'" in completed.stderr
    assert "Traceback" not in completed.stderr
