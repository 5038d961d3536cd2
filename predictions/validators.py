"""Upload checks done before a job exists: size, type by content, a real decode, pixel and duration limits."""

from __future__ import annotations

import logging
import os
import re
import unicodedata
import uuid
import warnings
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from PIL import Image, UnidentifiedImageError

logger = logging.getLogger(__name__)

UNREADABLE_MESSAGE = "This file is not an image or video we can read (JPEG, PNG, WEBP, MP4, WEBM, AVI, MOV)."
DISPLAY_NAME_MAX_LENGTH = 120
SNIFF_BYTES = 64
# Frame rates outside this range come from broken headers, not from cameras.
PLAUSIBLE_FPS = (0.1, 1000.0)
# How far short of its declared frame count a video may end and still count as whole.
FRAME_COUNT_SLACK = 0.05


class UploadRejected(Exception):
    """An upload we refuse, with a message for the person and the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass(frozen=True)
class ValidatedUpload:
    """What the checks learned about an accepted upload; the extension comes from its content."""

    file: UploadedFile
    kind: str  # "image" or "video"
    extension: str
    size_bytes: int
    display_name: str
    width: int
    height: int
    frames: int
    fps: float

    @property
    def duration_seconds(self) -> float:
        return self.frames / self.fps if self.fps else 0.0


def sniff_type(head: bytes) -> tuple[str, str] | None:
    """(kind, extension) from a file's first bytes, or None when it is not on the allow-list."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image", "jpg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image", "png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image", "webp"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "video", "avi"
    if head[4:8] == b"ftyp":
        return "video", "mov" if head[8:12] == b"qt  " else "mp4"
    # EBML header; Matroska files that are not WebM are not on the list.
    if head.startswith(b"\x1a\x45\xdf\xa3") and b"webm" in head[:SNIFF_BYTES]:
        return "video", "webm"
    return None


def sanitize_display_name(name: str | None) -> str:
    """A file name safe to show and store as text: basename only, no control characters, bounded length."""
    name = unicodedata.normalize("NFC", name or "")
    name = re.split(r"[\\/]", name)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")
    name = name.strip().lstrip(".").strip()
    if len(name) > DISPLAY_NAME_MAX_LENGTH:
        stem, dot, suffix = name.rpartition(".")
        if dot and 0 < len(suffix) <= 10:
            name = stem[: DISPLAY_NAME_MAX_LENGTH - len(suffix) - 1] + "." + suffix
        else:
            name = name[:DISPLAY_NAME_MAX_LENGTH]
    return name or "upload"


def check_content_length(content_length: str | int | None) -> None:
    """Refuse a request whose declared body is larger than any upload we accept, before reading it."""
    try:
        declared = int(content_length or 0)
    except ValueError:
        raise UploadRejected("The request has an invalid Content-Length.") from None
    # The multipart envelope adds a little to the file itself.
    if declared > settings.GENREC_MAX_UPLOAD_BYTES + 64 * 1024:
        raise UploadRejected(too_large_message(), status=413)


def too_large_message() -> str:
    """The message for a file over GENREC_MAX_UPLOAD_BYTES."""
    return f"This file is too large: the limit is {settings.GENREC_MAX_UPLOAD_BYTES // (1024 * 1024)} MB."


def validate_upload(upload: UploadedFile | None) -> ValidatedUpload:
    """Check an uploaded file completely; raise UploadRejected with a readable message when it fails."""
    if upload is None:
        raise UploadRejected("Choose an image or a video to upload.")
    if upload.size == 0:
        raise UploadRejected("This file is empty.")
    if upload.size > settings.GENREC_MAX_UPLOAD_BYTES:
        raise UploadRejected(too_large_message(), status=413)
    upload.seek(0)
    sniffed = sniff_type(upload.read(SNIFF_BYTES))
    upload.seek(0)
    if sniffed is None:
        raise UploadRejected(UNREADABLE_MESSAGE)
    kind, extension = sniffed
    display_name = sanitize_display_name(upload.name)
    try:
        if kind == "image":
            width, height = _decode_image(upload)
            frames, fps = 1, 0.0
        else:
            width, height, frames, fps = _decode_video(upload, extension)
    except UploadRejected:
        raise
    except Exception:
        # Decoders meet crafted files here; whatever they raise, the person gets the same clear answer.
        logger.warning("Refused a %s upload that a decoder failed on", extension, exc_info=True)
        raise UploadRejected(UNREADABLE_MESSAGE) from None
    upload.seek(0)
    return ValidatedUpload(
        file=upload,
        kind=kind,
        extension=extension,
        size_bytes=upload.size,
        display_name=display_name,
        width=width,
        height=height,
        frames=frames,
        fps=fps,
    )


def _decode_image(upload: UploadedFile) -> tuple[int, int]:
    """Decode the whole image with Pillow (pixel limit enforced) and with OpenCV; return its size."""
    max_pixels = settings.GENREC_MAX_IMAGE_PIXELS
    too_many_pixels = f"This image is too large: the limit is {max_pixels / 1e6:.0f} megapixels."
    Image.MAX_IMAGE_PIXELS = max_pixels
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(upload) as image:
                width, height = image.size
                # The header is enough to refuse a bomb before any pixel is decompressed.
                if width * height > max_pixels:
                    raise UploadRejected(too_many_pixels)
                image.verify()
            upload.seek(0)
            with Image.open(upload) as image:
                image.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise UploadRejected(too_many_pixels) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
        logger.info("Refused an image that Pillow cannot decode: %s", exc)
        raise UploadRejected(UNREADABLE_MESSAGE) from None
    upload.seek(0)
    decoded = cv2.imdecode(np.frombuffer(upload.read(), dtype=np.uint8), cv2.IMREAD_COLOR)
    if decoded is None:
        raise UploadRejected(UNREADABLE_MESSAGE)
    return width, height


def _decode_video(upload: UploadedFile, extension: str) -> tuple[int, int, int, float]:
    """Open the video with OpenCV from a private temp file, read its first and last frames, check its limits."""
    scratch_dir = Path(settings.MEDIA_ROOT) / "validating"
    scratch_dir.mkdir(parents=True, exist_ok=True)
    scratch_path = scratch_dir / f"{uuid.uuid4().hex}.{extension}"
    try:
        with open(scratch_path, "wb") as scratch:
            for chunk in upload.chunks():
                scratch.write(chunk)
        return probe_video(scratch_path)
    finally:
        scratch_path.unlink(missing_ok=True)
        try:
            scratch_dir.rmdir()
        except OSError:
            pass  # another upload is being checked at the same time


def probe_video(path: Path) -> tuple[int, int, int, float]:
    """(width, height, frames, fps) of a video that decodes from its first to its last frame."""
    capture = cv2.VideoCapture(os.fspath(path))
    try:
        if not capture.isOpened():
            raise UploadRejected(UNREADABLE_MESSAGE)
        first_ok, first_frame = capture.read()
        if not first_ok or first_frame is None:
            raise UploadRejected("This video has no frame we can decode.")
        frames = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        fps = float(capture.get(cv2.CAP_PROP_FPS))
        height, width = first_frame.shape[:2]
        if frames <= 0 or not PLAUSIBLE_FPS[0] <= fps <= PLAUSIBLE_FPS[1]:
            raise UploadRejected("This video does not say how many frames it has or at what rate; it may be damaged.")
        if frames > settings.GENREC_MAX_VIDEO_FRAMES:
            raise UploadRejected(f"This video is too long: the limit is {settings.GENREC_MAX_VIDEO_FRAMES} frames.")
        if frames / fps > settings.GENREC_MAX_VIDEO_SECONDS:
            raise UploadRejected(
                f"This video is too long: the limit is {settings.GENREC_MAX_VIDEO_SECONDS // 60} minutes."
            )
        # A cut file still opens and plays its first part; its end is what is missing. Containers without a
        # frame index (WebM) only estimate the count, so a frame close to the end is accepted as the end.
        end_positions = sorted({frames - 1, int(frames * (1 - FRAME_COUNT_SLACK)) - 1}, reverse=True)
        if frames > 1 and not any(_frame_decodes(capture, position) for position in end_positions if position > 0):
            raise UploadRejected("This video is truncated or damaged: it stops before its last frame.")
        return width, height, frames, fps
    finally:
        capture.release()


def _frame_decodes(capture: cv2.VideoCapture, position: int) -> bool:
    capture.set(cv2.CAP_PROP_POS_FRAMES, position)
    decoded, _ = capture.read()
    return decoded
