"""Upload checks done before a job exists: size, type by content, a real decode, pixel and duration limits.

An upload is checked in a private temporary file (OpenCV and Pillow need a real file), always removed, and stored
once, as the media object ``uploads/<uuid>.<ext>``, only when it passed; a file refused later (a rate limit) is
deleted from the media storage at once. Videos are probed with the pipeline's own ``video.probe`` and judged by
one rule set (``video_refusal``), the same for single uploads and the videos of a study archive.
"""

from __future__ import annotations

import logging
import re
import tempfile
import unicodedata
import uuid
import warnings
from dataclasses import dataclass
from pathlib import Path

import cv2
from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from PIL import Image, UnidentifiedImageError

from workers.pipeline.errors import VideoReadError
from workers.pipeline.types import VideoInfo
from workers.pipeline.video import FrameReader, probe

from . import media
from .formatting import whole_megabytes
from .models import UPLOADS_FOLDER

logger = logging.getLogger(__name__)

UNREADABLE_MESSAGE = "This file is not an image or video we can read (JPEG, PNG, WEBP, MP4, WEBM, AVI, MOV)."
TRUNCATED_VIDEO_MESSAGE = "This video is truncated or damaged: it stops before its last frame."
DISPLAY_NAME_MAX_LENGTH = 120
SNIFF_BYTES = 64
# Frame rates outside this range come from broken headers, not from cameras.
PLAUSIBLE_FPS = (0.1, 1000.0)
# How far short of its declared frame count a video may end and still count as whole.
FRAME_COUNT_SLACK = 0.05
COPY_CHUNK_BYTES = 1024 * 1024


class UploadRejected(Exception):
    """An upload we refuse, with a message for the person and the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class ImageTruncated(UploadRejected):
    """An image whose data stops early: the web refuses it, the command line analyses what is there."""


@dataclass(frozen=True)
class ValidatedUpload:
    """An accepted upload, stored as the media object uploads/<upload_name>; the extension comes from its content."""

    kind: str  # "image" or "video"
    extension: str
    upload_name: str
    size_bytes: int
    display_name: str
    width: int
    height: int
    info: VideoInfo | None = None  # what video.probe said about a video; None for an image

    @property
    def key(self) -> str:
        """The media key of the stored upload."""
        return f"{UPLOADS_FOLDER}/{self.upload_name}"

    @property
    def frames(self) -> int:
        return self.info.frame_count if self.info else 1

    @property
    def fps(self) -> float:
        return self.info.fps if self.info else 0.0

    @property
    def duration_seconds(self) -> float:
        return self.info.duration_seconds if self.info else 0.0

    def discard(self) -> None:
        """Delete the stored file (an upload refused after its checks, e.g. by a rate limit)."""
        media.delete(self.key)


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
    return f"This file is too large: the limit is {whole_megabytes(settings.GENREC_MAX_UPLOAD_BYTES)} MB."


def validate_upload(upload: UploadedFile | None) -> ValidatedUpload:
    """Check an uploaded file in a temporary copy, then store it once under a UUID name; refused, nothing is stored.

    Raises UploadRejected with a readable message when the file fails a check.
    """
    if upload is None:
        raise UploadRejected("Choose an image or a video to upload.")
    if upload.size == 0:
        raise UploadRejected("This file is empty.")
    if upload.size > settings.GENREC_MAX_UPLOAD_BYTES:
        raise UploadRejected(too_large_message(), status=413)
    upload.seek(0)
    sniffed = sniff_type(upload.read(SNIFF_BYTES))
    if sniffed is None:
        raise UploadRejected(UNREADABLE_MESSAGE)
    kind, extension = sniffed
    upload_name = f"{uuid.uuid4().hex}.{extension}"
    with checked_copy(upload, suffix=f".{extension}") as copy:
        width, height, info = check_media_file(Path(copy.name), kind)
        copy.seek(0)
        media.save(f"{UPLOADS_FOLDER}/{upload_name}", copy)
    return ValidatedUpload(
        kind=kind,
        extension=extension,
        upload_name=upload_name,
        size_bytes=upload.size,
        display_name=sanitize_display_name(upload.name),
        width=width,
        height=height,
        info=info,
    )


def checked_copy(upload: UploadedFile, *, suffix: str) -> tempfile._TemporaryFileWrapper:
    """The upload written to a private temporary file (mode 0600), removed when its ``with`` block ends."""
    copy = tempfile.NamedTemporaryFile(prefix="genrec-upload-", suffix=suffix, dir=settings.FILE_UPLOAD_TEMP_DIR)
    try:
        upload.seek(0)
        for chunk in upload.chunks(COPY_CHUNK_BYTES):
            copy.write(chunk)
        copy.flush()
    except BaseException:
        copy.close()
        raise
    return copy


def check_media_file(path: Path, kind: str) -> tuple[int, int, VideoInfo | None]:
    """(width, height, VideoInfo or None) of a stored image or video that passes every check, else UploadRejected."""
    try:
        if kind == "image":
            width, height = check_image_file(path)
            return width, height, None
        info = check_video_file(path)
        return info.width, info.height, info
    except UploadRejected:
        raise
    except Exception:
        # Decoders meet crafted files here; whatever they raise, the person gets the same clear answer.
        logger.warning("Refused a %s that a decoder failed on", kind, exc_info=True)
        raise UploadRejected(UNREADABLE_MESSAGE) from None


def too_many_pixels_message() -> str:
    """The message for an image over GENREC_MAX_IMAGE_PIXELS."""
    return f"This image is too large: the limit is {settings.GENREC_MAX_IMAGE_PIXELS / 1e6:.0f} megapixels."


def check_image_file(path: Path) -> tuple[int, int]:
    """Decode a whole image with Pillow (pixel limit from the header first) and with OpenCV; return its size.

    Raises ImageTruncated for an image whose data stops early, UploadRejected for anything else refused.
    """
    max_pixels = settings.GENREC_MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = max_pixels
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                width, height = image.size
                # The header is enough to refuse a bomb before any pixel is decompressed.
                if width * height > max_pixels:
                    raise UploadRejected(too_many_pixels_message())
                image.verify()
            with Image.open(path) as image:
                image.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise UploadRejected(too_many_pixels_message()) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
        if "truncated" in str(exc).lower():
            logger.debug("An image stops early: %s", exc)
            raise ImageTruncated(UNREADABLE_MESSAGE) from None
        logger.info("Refused an image that Pillow cannot decode: %s", exc)
        raise UploadRejected(UNREADABLE_MESSAGE) from None
    if cv2.imread(str(path), cv2.IMREAD_COLOR) is None:
        raise UploadRejected(UNREADABLE_MESSAGE)
    return width, height


def check_video_file(path: Path) -> VideoInfo:
    """What video.probe says about a video that decodes from its first to its last frame within the limits."""
    try:
        info = probe(path)  # opens the file and decodes its first frame
    except VideoReadError:
        raise UploadRejected(_unreadable_video_message(path)) from None
    refusal = video_refusal(info)
    if refusal:
        raise UploadRejected(refusal)
    # A cut file still opens and plays its first part; its end is what is missing. Containers without a
    # frame index (WebM) only estimate the count, so a frame close to the end is accepted as the end.
    frames = info.frame_count
    end_positions = sorted({frames - 1, int(frames * (1 - FRAME_COUNT_SLACK)) - 1}, reverse=True)
    if frames > 1 and not any(_frame_decodes(path, position) for position in end_positions if position > 0):
        raise UploadRejected(TRUNCATED_VIDEO_MESSAGE)
    return info


def _unreadable_video_message(path: Path) -> str:
    """Why probe failed, as a person reads it: not a video at all, or a video without a frame that decodes."""
    capture = cv2.VideoCapture(str(path))
    try:
        return "This video has no frame we can decode." if capture.isOpened() else UNREADABLE_MESSAGE
    finally:
        capture.release()


def video_refusal(info: VideoInfo) -> str | None:
    """Why a probed video is refused (no frame count, implausible rate, over the limits), or None: the one rule set."""
    if info.frame_count <= 0 or not PLAUSIBLE_FPS[0] <= info.fps <= PLAUSIBLE_FPS[1]:
        return "This video does not say how many frames it has or at what rate; it may be damaged."
    if info.frame_count > settings.GENREC_MAX_VIDEO_FRAMES:
        return f"This video is too long: the limit is {settings.GENREC_MAX_VIDEO_FRAMES} frames."
    if info.duration_seconds > settings.GENREC_MAX_VIDEO_SECONDS:
        return f"This video is too long: the limit is {settings.GENREC_MAX_VIDEO_SECONDS // 60} minutes."
    return None


def _frame_decodes(path: Path, position: int) -> bool:
    """Whether the frame at ``position`` (or the first one the stream gives from there) decodes."""
    frames = iter(FrameReader(path, start_frame=position, max_frames=1))
    try:
        return next(frames, None) is not None
    except VideoReadError:
        return False
    finally:
        frames.close()
