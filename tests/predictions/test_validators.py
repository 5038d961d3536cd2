"""Hostile and broken uploads, generated here, are refused before any job exists; good ones pass with a safe name."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from PIL import Image

from predictions import media
from predictions.models import Job
from predictions.validators import (
    UNREADABLE_MESSAGE,
    ImageTruncated,
    UploadRejected,
    check_image_file,
    sanitize_display_name,
    validate_upload,
)

from .web_factories import astronaut_video, jpeg_bytes, png_bytes


def crafted_png(width: int, height: int) -> bytes:
    """A valid 1-bit PNG of any size whose all-zero pixels compress to almost nothing (a decompression bomb)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    row = b"\x00" * (1 + (width + 7) // 8)  # filter byte + packed bits
    compressor = zlib.compressobj(9)
    pixels = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


def zip_bytes() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("clip.mp4", b"\x00" * 1000)
    return buffer.getvalue()


def truncated(path) -> bytes:
    content = path.read_bytes()
    return content[: len(content) // 2]


@pytest.fixture
def hostile_corpus(tmp_path) -> dict[str, tuple[str, bytes, str]]:
    """name -> (file name, content, the message a person must see)."""
    mp4 = astronaut_video(tmp_path / "clip.mp4", fourcc="mp4v")
    avi = astronaut_video(tmp_path / "clip.avi", fourcc="MJPG")
    bomb = crafted_png(20000, 20000)
    assert len(bomb) < 100_000  # tiny on disk, 400 megapixels once decoded
    return {
        "html behind a PNG header": (
            "cat.png",
            b"\x89PNG\r\n\x1a\n<html><script>alert(1)</script></html>",
            UNREADABLE_MESSAGE,
        ),
        "php script named .jpg": ("photo.jpg", b"<?php system($_GET['c']); ?>", UNREADABLE_MESSAGE),
        "random bytes named .mp4": ("movie.mp4", np.random.default_rng(7).bytes(8192), UNREADABLE_MESSAGE),
        "truncated mp4": ("cut.mp4", truncated(mp4), UNREADABLE_MESSAGE),
        "truncated avi": (
            "cut.avi",
            truncated(avi),
            "This video is truncated or damaged: it stops before its last frame.",
        ),
        "20000x20000 png bomb": ("huge.png", bomb, "This image is too large: the limit is 40 megapixels."),
        "zero-byte file": ("empty.jpg", b"", "This file is empty."),
        "zip named .mp4": ("archive.mp4", zip_bytes(), UNREADABLE_MESSAGE),
        "jpeg header then garbage, with ../ and unicode in the name": (
            "../../etc/pässwörd.jpg",
            b"\xff\xd8\xff\xe0" + b"\x00" * 200,
            UNREADABLE_MESSAGE,
        ),
    }


CORPUS_NAMES = [
    "html behind a PNG header",
    "php script named .jpg",
    "random bytes named .mp4",
    "truncated mp4",
    "truncated avi",
    "20000x20000 png bomb",
    "zero-byte file",
    "zip named .mp4",
    "jpeg header then garbage, with ../ and unicode in the name",
]


@pytest.mark.django_db
@pytest.mark.parametrize("case", CORPUS_NAMES)
def test_hostile_upload_is_refused_and_leaves_nothing(
    client, alice, hostile_corpus, case, settings, django_capture_on_commit_callbacks
):
    file_name, content, message = hostile_corpus[case]
    client.force_login(alice)
    # The declared type is a lie on purpose: only the content counts.
    upload = SimpleUploadedFile(file_name, content, content_type="image/png")
    with django_capture_on_commit_callbacks() as queued:
        response = client.post(reverse("job-upload"), {"file": upload, "every_n_frames": "1"})
    assert response.status_code == 400
    assert response.json() == {"error": message}
    assert Job.objects.count() == 0
    assert [path for path in settings.MEDIA_ROOT.rglob("*") if path.is_file()] == []
    assert queued == []  # process_job is only ever sent from job_create's on-commit hook


@pytest.mark.django_db
def test_good_upload_creates_the_job_stores_the_file_and_queues_it(
    client, alice, settings, django_capture_on_commit_callbacks
):
    """The positive control of the test above: the same checks see a row, a file and a queued task."""
    client.force_login(alice)
    upload = SimpleUploadedFile("../../etc/pässwörd\u202e\x07gnp.png", png_bytes(), content_type="video/mp4")
    with django_capture_on_commit_callbacks() as queued:
        response = client.post(reverse("job-upload"), {"file": upload})
    assert response.status_code == 201
    job = Job.objects.get()
    assert response.json()["job"]["id"] == str(job.public_id)
    assert job.kind == "image" and job.owner == alice
    assert job.original_name == "pässwördgnp.png"
    stored = [path for path in settings.MEDIA_ROOT.rglob("*") if path.is_file()]
    assert stored == [settings.MEDIA_ROOT / job.upload_key] and job.upload_name.endswith(".png")
    assert media.read_bytes(job.upload_key) == png_bytes()
    assert len(queued) == 1


@pytest.mark.django_db
def test_video_upload_records_frames_and_sampling(client, alice, tmp_path, django_capture_on_commit_callbacks):
    client.force_login(alice)
    clip = astronaut_video(tmp_path / "walk.mp4", fourcc="mp4v", frames=30)
    with django_capture_on_commit_callbacks():
        response = client.post(reverse("job-upload"), {"file": clip.open("rb"), "every_n_frames": "5"})
    assert response.status_code == 201, response.content
    snapshot = response.json()["job"]
    assert snapshot["kind"] == "video" and snapshot["every_n_frames"] == 5
    assert snapshot["frames_total"] == 6 and snapshot["fps"] == pytest.approx(10.0)


@pytest.mark.django_db
def test_sampling_out_of_range_is_refused(client, alice):
    client.force_login(alice)
    upload = SimpleUploadedFile("a.png", png_bytes())
    response = client.post(reverse("job-upload"), {"file": upload, "every_n_frames": "0"})
    assert response.status_code == 400 and "every N frames" in response.json()["error"]
    assert Job.objects.count() == 0


@pytest.mark.django_db
def test_missing_file_is_refused(client, alice):
    client.force_login(alice)
    response = client.post(reverse("job-upload"), {"every_n_frames": "1"})
    assert response.status_code == 400
    assert response.json() == {"error": "Choose an image or a video to upload."}


@pytest.mark.django_db
def test_file_over_the_size_limit_is_413(client, alice, settings):
    settings.GENREC_MAX_UPLOAD_BYTES = 1000
    client.force_login(alice)
    response = client.post(reverse("job-upload"), {"file": SimpleUploadedFile("a.jpg", jpeg_bytes(400, 400))})
    assert response.status_code == 413
    assert "too large" in response.json()["error"]
    assert Job.objects.count() == 0


@pytest.mark.django_db
def test_declared_content_length_over_the_limit_is_413_before_reading(client, alice, settings):
    settings.GENREC_MAX_UPLOAD_BYTES = 1000
    client.force_login(alice)
    response = client.post(
        reverse("job-upload"), {"file": SimpleUploadedFile("a.png", png_bytes())}, CONTENT_LENGTH=str(10**9)
    )
    assert response.status_code == 413
    assert Job.objects.count() == 0


def test_video_over_the_frame_limit_is_refused(tmp_path, settings):
    settings.GENREC_MAX_VIDEO_FRAMES = 20
    clip = astronaut_video(tmp_path / "long.mp4", fourcc="mp4v", frames=30)
    with pytest.raises(UploadRejected, match="too long: the limit is 20 frames"):
        validate_upload(SimpleUploadedFile("long.mp4", clip.read_bytes()))
    assert [path for path in settings.MEDIA_ROOT.rglob("*") if path.is_file()] == []


def test_video_over_the_duration_limit_is_refused(tmp_path, settings):
    settings.GENREC_MAX_VIDEO_SECONDS = 2  # the clip lasts 3 s
    clip = astronaut_video(tmp_path / "long.avi", fourcc="MJPG", frames=30)
    with pytest.raises(UploadRejected, match="too long"):
        validate_upload(SimpleUploadedFile("long.avi", clip.read_bytes()))


def image_bytes(image_format: str) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), (10, 200, 30)).save(buffer, format=image_format)
    return buffer.getvalue()


@pytest.mark.parametrize(("image_format", "extension"), [("JPEG", "jpg"), ("PNG", "png"), ("WEBP", "webp")])
def test_images_on_the_allow_list_pass_with_their_real_type(image_format, extension):
    upload = validate_upload(SimpleUploadedFile("no-extension", image_bytes(image_format)))
    assert (upload.kind, upload.extension, upload.width, upload.height, upload.frames) == (
        "image",
        extension,
        40,
        30,
        1,
    )


@pytest.mark.parametrize(
    ("fourcc", "suffix", "extension"), [("mp4v", "mp4", "mp4"), ("MJPG", "avi", "avi"), ("VP80", "webm", "webm")]
)
def test_videos_on_the_allow_list_pass_with_their_real_type(tmp_path, settings, fourcc, suffix, extension):
    settings.FILE_UPLOAD_TEMP_DIR = tmp_path / "checks"
    settings.FILE_UPLOAD_TEMP_DIR.mkdir()
    clip = astronaut_video(tmp_path / f"clip.{suffix}", fourcc=fourcc, frames=12)
    upload = validate_upload(SimpleUploadedFile("clip.bin", clip.read_bytes()))
    assert (upload.kind, upload.extension, upload.width, upload.height, upload.frames) == (
        "video",
        extension,
        160,
        160,
        12,
    )
    assert upload.fps == pytest.approx(10.0)
    # Stored once under its UUID name, nothing else written; the temporary copy that was checked is gone.
    assert [path for path in settings.MEDIA_ROOT.rglob("*") if path.is_file()] == [settings.MEDIA_ROOT / upload.key]
    assert upload.key == f"uploads/{upload.upload_name}" and upload.upload_name.endswith(f".{extension}")
    assert media.read_bytes(upload.key) == clip.read_bytes()
    assert list(settings.FILE_UPLOAD_TEMP_DIR.iterdir()) == []


def test_quicktime_brand_is_called_mov(tmp_path):
    clip = astronaut_video(tmp_path / "clip.mp4", fourcc="mp4v", frames=6).read_bytes()
    # Same container family; the ftyp brand "qt  " is what marks a QuickTime file.
    quicktime = clip[:8] + b"qt  " + clip[12:]
    assert validate_upload(SimpleUploadedFile("x", quicktime)).extension == "mov"


@pytest.mark.parametrize(
    ("given", "shown"),
    [
        ("../../etc/passwd", "passwd"),
        ("..\\..\\windows\\system.ini", "system.ini"),
        ("a\x00b\nc\u202ed.png", "abcd.png"),
        ("..", "upload"),
        ("", "upload"),
        ("Cafe\u0301.jpg", "Caf\u00e9.jpg"),
        ("x" * 300 + ".jpeg", "x" * 115 + ".jpeg"),
    ],
)
def test_display_name_is_sanitized(given, shown):
    assert sanitize_display_name(given) == shown


def test_mutated_files_are_accepted_or_refused_cleanly(tmp_path, settings):
    """Seeded byte flips and cuts of every allowed format: never an unexpected error, never a file left behind."""
    rng = np.random.default_rng(20261127)
    seeds = [image_bytes(image_format) for image_format in ("JPEG", "PNG", "WEBP")]
    seeds += [
        astronaut_video(tmp_path / f"seed.{suffix}", fourcc=fourcc, frames=6, size=64).read_bytes()
        for fourcc, suffix in (("mp4v", "mp4"), ("MJPG", "avi"), ("VP80", "webm"))
    ]
    outcomes = {"accepted": 0, "refused": 0}
    for case in range(150):
        content = bytearray(seeds[case % len(seeds)])
        for _ in range(int(rng.integers(1, 20))):
            content[int(rng.integers(0, len(content)))] = int(rng.integers(0, 256))
        if rng.random() < 0.3:
            content = content[: int(rng.integers(16, len(content)))]
        try:
            validate_upload(SimpleUploadedFile("fuzzed", bytes(content))).discard()
            outcomes["accepted"] += 1
        except UploadRejected as refusal:
            assert refusal.message and refusal.status == 400
            outcomes["refused"] += 1
    assert outcomes["accepted"] > 0 and outcomes["refused"] > 0
    assert [path for path in settings.MEDIA_ROOT.rglob("*") if path.is_file()] == []


def test_truncated_jpeg_is_refused_as_unreadable_and_told_apart_as_truncated(tmp_path):
    whole = jpeg_bytes(400, 300)
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(whole[: len(whole) * 2 // 3])

    with pytest.raises(ImageTruncated) as refusal:
        check_image_file(cut)
    assert refusal.value.message == UNREADABLE_MESSAGE  # what the web says, unchanged
    with pytest.raises(UploadRejected, match="^" + UNREADABLE_MESSAGE.replace("(", r"\(").replace(")", r"\)")):
        validate_upload(SimpleUploadedFile("cut.jpg", cut.read_bytes()))


@pytest.mark.django_db
def test_upload_over_the_hourly_limit_after_its_checks_leaves_no_file(client, alice, settings, monkeypatch):
    """The second limit check runs after the file was stored and checked: a refusal there deletes it too."""
    client.force_login(alice)
    answers = iter([None, "You have uploaded too many files."])
    monkeypatch.setattr("predictions.limits.upload_refusal", lambda *, user: next(answers))

    response = client.post(reverse("job-upload"), {"file": SimpleUploadedFile("a.png", png_bytes())})

    assert response.status_code == 429 and response.json() == {"error": "You have uploaded too many files."}
    assert Job.objects.count() == 0
    assert [path for path in settings.MEDIA_ROOT.rglob("*") if path.is_file()] == []
