"""Study archives: a ZIP of FakeAVCeleb-laid-out videos, checked entry by entry before anything is unpacked.

Nothing in the archive is trusted. Every entry's name is normalised and refused when it is absolute, has a
drive letter or backslash, or climbs out with ``..``; links and other special files, encrypted entries,
too many videos, a declared unpacked size over the limit and decompression bombs are refused from the
central directory alone, while the upload request waits; the request then only stores the archive by key
(``studies/<hex>/archive.zip``). The worker unpacks a local copy of it in a temporary folder
(``unpack_stored_archive``): the videos one by one, to paths built
from the recognised layout (never from the archive's own spelling), each copy bounded by its declared size,
and each video decoded from its first to its last frame.
"""

from __future__ import annotations

import logging
import re
import shutil
import stat
import unicodedata
import zipfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath

from django.conf import settings
from django.core.files.move import file_move_safe
from django.core.files.uploadedfile import UploadedFile

from workers.pipeline.study import METADATA_FILE, VIDEO_SUFFIXES, StudyVideo, study_video_from_path
from workers.pipeline.types import MALE

from .formatting import megabytes
from .validators import (
    COPY_CHUNK_BYTES,
    SNIFF_BYTES,
    UploadRejected,
    check_video_file,
    sanitize_display_name,
    sniff_type,
)

logger = logging.getLogger(__name__)

ARCHIVE_NAME = "archive.zip"  # where a study's archive waits in its folder until the worker unpacks it
ZIP_SIGNATURES = (b"PK\x03\x04", b"PK\x05\x06")  # an archive with entries, or an empty one
ENCRYPTED_FLAG = 0x1
# Folders and the odd file per video (macOS "._" twins) are fine; a listing far beyond that is not a study.
MAX_ENTRIES_PER_VIDEO = 10
# Unpacked, never looked at: what archivers and FakeAVCeleb add beside the videos.
IGNORED_NAMES = {".ds_store", "thumbs.db", "desktop.ini", METADATA_FILE.lower()}
IGNORED_FOLDERS = {"__macosx"}
UNSAFE_NAME_CHARACTERS = re.compile(r"[^A-Za-z0-9_-]+")
DRIVE_LETTER = re.compile(r"^[A-Za-z]:")
LAYOUT_HINT = (
    "{Category}/{Ethnicity}/{men|women}/idNNNNN/video.mp4, e.g. FakeVideo-FakeAudio/African/men/id00076/00109.mp4"
)


@dataclass(frozen=True)
class StudyMember:
    """One video entry of an accepted archive; ``video.path`` is where it is unpacked, relative to the folder."""

    info: zipfile.ZipInfo
    name: str  # the entry's normalised name, only ever shown
    video: StudyVideo


@dataclass(frozen=True)
class StudyArchive:
    """What the checks learned about an accepted archive."""

    display_name: str
    size_bytes: int
    members: list[StudyMember]
    unpacked_bytes: int


def entry_parts(name: str) -> tuple[str, ...]:
    """The normalised path components of an entry name; UploadRejected for any name that could leave the folder."""
    name = unicodedata.normalize("NFC", name)
    shown = name[:200]
    if any(unicodedata.category(character)[0] == "C" for character in name):
        raise UploadRejected(f"The archive entry {shown!r} has control characters in its name.")
    if "\\" in name or DRIVE_LETTER.match(name):
        raise UploadRejected(f"The archive entry {shown!r} uses a Windows path (backslash or drive letter).")
    if name.startswith("/"):
        raise UploadRejected(f"The archive entry {shown!r} has an absolute path.")
    parts = tuple(part for part in name.split("/") if part not in ("", "."))
    if ".." in parts:
        raise UploadRejected(f"The archive entry {shown!r} points outside the archive (it contains '..').")
    return parts


def _refuse_special_entry(info: zipfile.ZipInfo, name: str) -> None:
    """Links, devices and encrypted entries: refused from the central directory, before anything is read."""
    file_type = stat.S_IFMT(info.external_attr >> 16)
    if stat.S_ISLNK(file_type):
        raise UploadRejected(f"The archive entry {name!r} is a symbolic link; links are not accepted.")
    if file_type and file_type not in (stat.S_IFREG, stat.S_IFDIR):
        raise UploadRejected(f"The archive entry {name!r} is not a regular file.")
    if info.flag_bits & ENCRYPTED_FLAG:
        raise UploadRejected(f"The archive entry {name!r} is encrypted; upload an archive without a password.")


def _is_ignored(parts: tuple[str, ...]) -> bool:
    basename = parts[-1].lower()
    return (
        basename in IGNORED_NAMES or basename.startswith("._") or any(part.lower() in IGNORED_FOLDERS for part in parts)
    )


def _safe_name(text: str, fallback: str) -> str:
    """A file or folder name made of letters, digits, '-' and '_' only."""
    return UNSAFE_NAME_CHARACTERS.sub("_", text).strip("_")[:80] or fallback


def canonical_path(video: StudyVideo, suffix: str) -> str:
    """Where a study video goes in its folder, built from its labels and a cleaned id and file name."""
    stem = _safe_name(PurePosixPath(video.path).stem, "video")
    folders = [video.category, video.ethnicity, "men" if video.gender == MALE else "women"]
    if video.source_id:
        folders.append(_safe_name(video.source_id, "id"))
    return PurePosixPath(*folders, stem + suffix).as_posix()


def study_members(infos: list[zipfile.ZipInfo]) -> tuple[list[StudyMember], int]:
    """The archive's videos with their cells and their total declared size, or UploadRejected saying why not."""
    max_videos = settings.GENREC_STUDY_MAX_VIDEOS
    if len(infos) > max_videos * MAX_ENTRIES_PER_VIDEO:
        raise UploadRejected(f"The archive has {len(infos)} entries; a study holds at most {max_videos} videos.")
    members: list[StudyMember] = []
    destinations: set[str] = set()
    unpacked_bytes = 0
    for info in infos:
        parts = entry_parts(info.filename)
        name = "/".join(parts)
        _refuse_special_entry(info, name)
        if not parts or info.is_dir() or _is_ignored(parts):
            continue
        suffix = PurePosixPath(parts[-1]).suffix.lower()
        if suffix not in VIDEO_SUFFIXES:
            raise UploadRejected(
                f"The archive entry {name!r} is not a video: a study archive holds only "
                f"{', '.join(VIDEO_SUFFIXES)} files laid out as {LAYOUT_HINT}."
            )
        video = study_video_from_path(Path(*parts))
        if video is None:
            raise UploadRejected(f"The archive entry {name!r} is not in the study layout {LAYOUT_HINT}.")
        ratio = info.file_size / max(info.compress_size, 1)
        if ratio > settings.GENREC_STUDY_MAX_COMPRESSION_RATIO:
            raise UploadRejected(
                f"The archive entry {name!r} would unpack to {ratio:.0f} times its packed size; "
                "that is not a video but a decompression bomb."
            )
        video = replace(video, path=canonical_path(video, suffix))
        if video.path in destinations:
            raise UploadRejected(f"The archive entry {name!r} names the same video as another entry.")
        destinations.add(video.path)
        members.append(StudyMember(info=info, name=name, video=video))
        unpacked_bytes += info.file_size
        if len(members) > max_videos:
            raise UploadRejected(f"The archive has more than {max_videos} videos; split the study into batches.")
        if unpacked_bytes > settings.GENREC_STUDY_MAX_UNPACKED_BYTES:
            raise UploadRejected(
                f"The archive unpacks to more than {megabytes(settings.GENREC_STUDY_MAX_UNPACKED_BYTES)} "
                "(the sizes it declares); split the study into batches."
            )
    if not members:
        raise UploadRejected(f"The archive holds no video laid out as {LAYOUT_HINT}.")
    return members, unpacked_bytes


def check_study_archive_size(size_bytes: int | None) -> None:
    """Refuse an archive (or a declared request body) over GENREC_STUDY_MAX_ZIP_BYTES, before it is read."""
    if size_bytes is not None and size_bytes > settings.GENREC_STUDY_MAX_ZIP_BYTES + 64 * 1024:
        limit = megabytes(settings.GENREC_STUDY_MAX_ZIP_BYTES)
        raise UploadRejected(f"This archive is too large: the limit is {limit}.", status=413)


def check_declared_archive_size(content_length: str | None) -> None:
    """Refuse a study upload request by its declared Content-Length (unreadable, or over the archive limit)."""
    try:
        declared = int(content_length or 0)
    except ValueError:
        raise UploadRejected("The request has an invalid Content-Length.") from None
    check_study_archive_size(declared)


def check_study_archive(upload: UploadedFile | None) -> StudyArchive:
    """Check a study ZIP from its signature and central directory alone (zipfile reads nothing else); UploadRejected."""
    if upload is None:
        raise UploadRejected("Choose a ZIP archive of study videos to upload.")
    check_study_archive_size(upload.size)
    upload.seek(0)
    if upload.read(4) not in ZIP_SIGNATURES:
        raise UploadRejected("This file is not a ZIP archive.")
    upload.seek(0)
    with _opened(upload.file) as archive:
        members, unpacked_bytes = study_members(archive.infolist())
    return StudyArchive(
        display_name=sanitize_display_name(upload.name),
        size_bytes=upload.size,
        members=members,
        unpacked_bytes=unpacked_bytes,
    )


def store_study_archive(upload: UploadedFile, folder: Path) -> Path:
    """Keep a checked archive as ``folder/ARCHIVE_NAME`` for the worker: moved when Django spooled it to disk."""
    folder.mkdir(parents=True, exist_ok=False)
    target = folder / ARCHIVE_NAME
    if hasattr(upload, "temporary_file_path"):
        file_move_safe(upload.temporary_file_path(), str(target))  # a rename on the same file system
    else:
        with target.open("xb") as sink:
            for chunk in upload.chunks(COPY_CHUNK_BYTES):
                sink.write(chunk)
    target.chmod(settings.FILE_UPLOAD_PERMISSIONS or 0o600)
    return target


def archive_waiting(folder: Path) -> bool:
    """Whether a study's folder still holds its archive (not unpacked yet, or unpacking was interrupted)."""
    return (folder / ARCHIVE_NAME).is_file()


def unpack_stored_archive(folder: Path, *, on_video: Callable[[], None] | None = None) -> int:
    """Unpack the archive a study's folder holds, checking it all again; videos unpacked, or UploadRejected.

    A run stopped half-way starts again from a clean folder. On refusal (an entry larger than its header says,
    a damaged entry, a file that is not a video) the folder keeps nothing but the archive; once every video
    is in place the archive goes. ``on_video`` is called before each video (the worker's heartbeat).
    """
    _clear_unpacked(folder)
    try:
        with _opened(folder / ARCHIVE_NAME) as archive:
            members, _ = study_members(archive.infolist())
            for member in members:
                if on_video:
                    on_video()
                _unpack_video(archive, member, folder)
    except BaseException:
        _clear_unpacked(folder)
        raise
    (folder / ARCHIVE_NAME).unlink()
    return len(members)


@contextmanager
def _opened(source) -> Iterator[zipfile.ZipFile]:
    """A ZipFile over a path or file object; an archive zipfile cannot read is an UploadRejected."""
    try:
        with zipfile.ZipFile(source) as archive:
            yield archive
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError) as error:
        logger.info("Refused a study archive that zipfile cannot read: %s", error)
        raise UploadRejected("This file is not a ZIP archive we can read (it may be damaged).") from None


def _clear_unpacked(folder: Path) -> None:
    """Remove whatever an earlier unpacking left in the folder, keeping the archive."""
    for entry in folder.iterdir():
        if entry.name == ARCHIVE_NAME:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)


def _unpack_video(archive: zipfile.ZipFile, member: StudyMember, destination: Path) -> None:
    """Copy one entry to its own new file, never more bytes than it declared, then check the video decodes."""
    target = destination / member.video.path
    if not target.resolve().is_relative_to(destination.resolve()):  # the layout names are allow-listed; belt and braces
        raise UploadRejected(f"The archive entry {member.name!r} points outside the archive.")
    target.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    try:
        with archive.open(member.info) as source, target.open("xb") as sink:
            while chunk := source.read(COPY_CHUNK_BYTES):
                written += len(chunk)
                if written > member.info.file_size:
                    raise UploadRejected(f"The archive entry {member.name!r} is larger than its header says.")
                sink.write(chunk)
    except (zipfile.BadZipFile, zlib.error, NotImplementedError, RuntimeError, EOFError) as error:
        logger.info("Refused a study archive entry that does not unpack: %s", error)
        raise UploadRejected(f"The archive entry {member.name!r} is damaged and cannot be unpacked.") from None
    with target.open("rb") as video_file:
        sniffed = sniff_type(video_file.read(SNIFF_BYTES))
    if sniffed is None or sniffed[0] != "video":
        raise UploadRejected(f"The archive entry {member.name!r} is not a video we can read (MP4, WEBM, AVI, MOV).")
    try:
        check_video_file(target)
    except UploadRejected as refusal:
        raise UploadRejected(f"{member.name}: {refusal.message}", refusal.status) from None
    except Exception:
        # Decoders meet crafted files here; whatever they raise, the person gets the same clear answer.
        logger.warning("Refused a study video that a decoder failed on", exc_info=True)
        raise UploadRejected(f"The archive entry {member.name!r} is not a video we can read.") from None
