"""Media objects by key (``uploads/<uuid>.<ext>``, ``results/<job>/<n>.jpg``, ``studies/<hex>/…``), one home.

Everything goes through Django's default storage: the file system under MEDIA_ROOT (GENREC_MEDIA_STORAGE=fs) or a
private S3-compatible bucket (s3). Nothing else in predictions/ or workers/ opens a path under MEDIA_ROOT: a step
that needs a real file (OpenCV, a folder walk) asks for a local copy, which is the stored file itself on the file
system and a temporary download, always removed, on a bucket.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import IO

from botocore.exceptions import ClientError
from django.conf import settings
from django.core.files import File
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

logger = logging.getLogger(__name__)

COPY_CHUNK_BYTES = 1024 * 1024
_saving: tuple[int, ThreadPoolExecutor] | None = None  # (process id, its one saving thread)


def save(key: str, content: bytes | IO[bytes] | File) -> str:
    """Store bytes or a readable binary file under ``key`` exactly (replacing an object of that key); the key."""
    if isinstance(content, bytes):
        stored = ContentFile(content)
    else:  # a Django File as it is: the file system moves a spooled upload instead of copying it
        stored = content if isinstance(content, File) else File(content)
    name = default_storage.save(key, stored)
    if name != key:  # a backend that renames on a clash would break every key the database holds
        default_storage.delete(name)
        raise RuntimeError(f"the media storage stored {key!r} as {name!r}")
    return key


def read_bytes(key: str) -> bytes:
    """The whole content of one object (small ones: frames, reports)."""
    with default_storage.open(key, "rb") as handle:
        return handle.read()


def open_file(key: str) -> IO[bytes]:
    """An open binary file of one object, for streaming it in a response (the caller closes it)."""
    return default_storage.open(key, "rb")


def exists(key: str) -> bool:
    """Whether an object of that key is stored."""
    return default_storage.exists(key)


def size(key: str) -> int:
    """The size of one object in bytes."""
    return default_storage.size(key)


def delete(key: str) -> bool:
    """Delete one object if it is there; whether it was."""
    if not default_storage.exists(key):
        return False
    default_storage.delete(key)
    return True


def children(prefix: str) -> tuple[list[str], list[str]]:
    """(folder names, file names) directly under ``prefix``; empty when nothing is stored there."""
    try:
        folders, files = default_storage.listdir(prefix)
    except FileNotFoundError:  # the file system has no folder until something is written into it
        return [], []
    return sorted(folders), sorted(files)


def walk(prefix: str) -> Iterator[str]:
    """Every object key under ``prefix``, at any depth."""
    folders, files = children(prefix)
    for name in files:
        yield f"{prefix}/{name}"
    for name in folders:
        yield from walk(f"{prefix}/{name}")


def delete_tree(prefix: str) -> int:
    """Delete every object under ``prefix`` (a job's frames, a study's videos); how many went."""
    keys = list(walk(prefix))
    for key in keys:
        default_storage.delete(key)
    _remove_empty_folders(prefix)
    return len(keys)


def modified_time(key: str) -> datetime:
    """When an object was last written (aware datetime)."""
    return default_storage.get_modified_time(key)


def newest_time(prefix: str) -> datetime | None:
    """When the most recent object under ``prefix`` was written, or None when there is none."""
    return max((modified_time(key) for key in walk(prefix)), default=None)


def local_path(key: str) -> Path | None:
    """The object's own file when the storage is a file system, else None (a bucket has no paths)."""
    try:
        return Path(default_storage.path(key))
    except NotImplementedError:
        return None


def presigned_url(key: str, *, expire_seconds: int | None = None) -> str:
    """A signed URL of one object of the bucket that expires after ``expire_seconds`` (AWS_QUERYSTRING_EXPIRE)."""
    return default_storage.url(key, expire=expire_seconds or settings.AWS_QUERYSTRING_EXPIRE)


@contextmanager
def local_copy(key: str, *, suffix: str = "") -> Iterator[Path]:
    """A real file with the object's content for the ``with`` block: the stored file itself, or a temporary download
    that is always removed."""
    path = local_path(key)
    if path is not None:
        if not path.is_file():
            raise FileNotFoundError(key)
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="genrec-media-", dir=settings.FILE_UPLOAD_TEMP_DIR) as folder:
        target = Path(folder) / ("object" + (suffix or PurePosixPath(key).suffix))
        _download(key, target)
        yield target


@contextmanager
def local_tree(prefix: str) -> Iterator[Path]:
    """A real folder with every object under ``prefix`` at its relative path: the stored folder itself, or a
    temporary download that is always removed."""
    path = local_path(prefix)
    if path is not None:
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="genrec-media-", dir=settings.FILE_UPLOAD_TEMP_DIR) as folder:
        root = Path(folder)
        for key in walk(prefix):
            target = root / PurePosixPath(key).relative_to(prefix)
            target.parent.mkdir(parents=True, exist_ok=True)
            _download(key, target)
        yield root


@contextmanager
def video_source(key: str) -> Iterator[str]:
    """What a worker hands OpenCV to read a stored video: its file, or a temporary download of it (measured against
    a presigned URL in bench/README.md, "Reading videos from object storage"), removed afterwards."""
    with local_copy(key) as path:
        yield str(path)


def save_tree(folder: Path, prefix: str) -> list[str]:
    """Store every file under a local folder as ``prefix/<relative path>``; the keys written."""
    keys = []
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            with path.open("rb") as handle:
                keys.append(save(f"{prefix}/{path.relative_to(folder).as_posix()}", handle))
    return keys


def _saving_thread() -> ThreadPoolExecutor:
    """The process's one saving thread, made on first use in this very process (a forked pool process must not
    inherit its parent's); it lives as long as the process, so its storage connection is made once."""
    global _saving
    if _saving is None or _saving[0] != os.getpid():
        _saving = (os.getpid(), ThreadPoolExecutor(max_workers=1, thread_name_prefix="media-save"))
    return _saving[1]


class BackgroundSaver:
    """Stores objects one after another on the process's saving thread, so an analysis never waits for the store.

    ``latest_tag`` is the tag of the newest object already stored (e.g. a frame index to announce); ``close()``
    waits for every object handed over.
    """

    def __init__(self) -> None:
        self._executor = _saving_thread()
        self._futures: list[Future] = []
        self._lock = threading.Lock()
        self.latest_tag: int | None = None

    def save(self, key: str, content: bytes, *, tag: int | None = None) -> None:
        """Hand one object over to be stored."""
        self._futures.append(self._executor.submit(self._store, key, content, tag))

    def _store(self, key: str, content: bytes, tag: int | None) -> bool:
        try:
            save(key, content)
        except Exception:
            logger.warning("Could not store %s", key, exc_info=True)
            return False
        with self._lock:
            if tag is not None and (self.latest_tag is None or tag > self.latest_tag):
                self.latest_tag = tag
        return True

    def close(self) -> int:
        """Wait until everything handed over is stored (or failed, logged); how many were stored."""
        wait(self._futures)
        return sum(1 for future in self._futures if future.result())


def _download(key: str, target: Path) -> None:
    bucket = getattr(default_storage, "bucket", None)
    if bucket is not None:  # boto3's parallel ranged download, straight into the file (no spooled copy first)
        target.touch(mode=0o600, exist_ok=False)
        try:
            bucket.download_file(key, str(target))
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey"):
                raise FileNotFoundError(key) from None
            raise
        return
    with default_storage.open(key, "rb") as source, target.open("xb") as sink:
        shutil.copyfileobj(source, sink, COPY_CHUNK_BYTES)


def _remove_empty_folders(prefix: str) -> None:
    """On the file system, the emptied folders go too (a bucket has no folders to leave behind)."""
    path = local_path(prefix)
    if path is None or not path.is_dir():
        return
    for folder in sorted((entry for entry in path.rglob("*") if entry.is_dir()), reverse=True):
        _rmdir_if_empty(folder)
    _rmdir_if_empty(path)


def _rmdir_if_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:
        pass
