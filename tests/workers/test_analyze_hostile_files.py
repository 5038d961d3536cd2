"""manage.py analyze on hostile images: the web refusal in one line; a truncated JPEG analysed with a warning."""

from __future__ import annotations

import io
import os
import struct
import subprocess
import sys

import pytest
from django.core.management import CommandError, call_command

from tests.conftest import REPO_ROOT
from tests.jobs_helpers import train_tiny_model, write_face_image
from tests.predictions.test_validators import crafted_png
from tests.predictions.web_factories import jpeg_bytes

TOO_LARGE = "This image is too large: the limit is 40 megapixels."


def jpeg_claiming(width: int, height: int) -> bytes:
    """A real small JPEG whose frame header (SOF0) claims another size."""
    content = bytearray(jpeg_bytes(64, 48))
    start = content.find(b"\xff\xc0")
    content[start + 5 : start + 9] = struct.pack(">HH", height, width)
    return bytes(content)


def test_analyze_refuses_a_png_bomb_in_one_line_and_exits_non_zero(tmp_path):
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(crafted_png(20000, 20000))
    environment = {key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"}

    completed = subprocess.run(
        [sys.executable, "manage.py", "analyze", str(bomb)],
        cwd=REPO_ROOT,
        env={**environment, "DEBUG": "1"},
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert completed.returncode != 0
    assert completed.stderr.strip().splitlines() == [f"CommandError: bomb.png: {TOO_LARGE}"]
    assert "Traceback" not in completed.stderr


def test_analyze_refuses_a_jpeg_claiming_65000_pixels_a_side_with_the_web_message(tmp_path):
    huge = tmp_path / "huge.jpg"
    huge.write_bytes(jpeg_claiming(65000, 65000))

    with pytest.raises(CommandError) as refusal:
        call_command("analyze", str(huge), stderr=io.StringIO())

    assert str(refusal.value) == f"huge.jpg: {TOO_LARGE}"


def test_analyze_reads_a_truncated_jpeg_with_a_warning_that_says_so(tmp_path):
    whole = write_face_image(tmp_path / "whole.jpg").read_bytes()
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(whole[: len(whole) * 3 // 4])
    model_dir = train_tiny_model(tmp_path / "model")
    stderr, stdout = io.StringIO(), io.StringIO()

    call_command("analyze", str(cut), "--model", str(model_dir), "--json", "-", stderr=stderr, stdout=stdout)

    assert "warning: cut.jpg is truncated" in stderr.getvalue()
    assert "face(s) in cut.jpg" in stderr.getvalue()
    assert '"kind": "image"' in stdout.getvalue()


def test_analyze_reads_a_whole_jpeg_without_a_warning(tmp_path):
    whole = write_face_image(tmp_path / "whole.jpg")
    stderr = io.StringIO()

    call_command("analyze", str(whole), "--model", str(train_tiny_model(tmp_path / "model")), stderr=stderr)

    assert "warning" not in stderr.getvalue() and "face(s) in whole.jpg" in stderr.getvalue()
