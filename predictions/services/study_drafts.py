"""A study built from loose video files: a draft folder filled one checked file at a time, run when asked.

A draft is a folder under MEDIA_ROOT/studies with a ``draft.json`` naming its owner; each file is checked as
any upload (validators.validate_upload: sniffed, probed, decoded to its end) and moved to the canonical path
of the labels the person chose. ``study_draft_start`` turns the folder into a queued study job. A draft
nobody runs has no job row, so the orphan sweep removes it an hour after its last file.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import uuid
from functools import partial
from pathlib import Path, PurePosixPath

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction

from workers.pipeline.study import CATEGORIES, ETHNICITIES, GENDERS, VIDEO_SUFFIXES, StudyVideo, study_video_from_path

from ..archives import canonical_path
from ..formatting import megabytes
from ..models import Job, ModelVersion, studies_dir
from ..selectors import model_version_default
from ..validators import UploadRejected, sanitize_display_name, validate_upload
from .jobs import job_enqueue

logger = logging.getLogger(__name__)

DRAFT_FILE = "draft.json"
DRAFT_ID = re.compile(r"^[0-9a-f]{32}$")
GONE_MESSAGE = "This unfinished study is no longer available (it was started, or removed after an hour unused)."


def _videos(folder: Path) -> list[Path]:
    return [path for path in folder.rglob("*") if path.suffix.lower() in VIDEO_SUFFIXES and path.is_file()]


def _draft_folder(*, owner, draft: str) -> Path:
    """The owner's draft folder, or UploadRejected (404) for any other id: a draft exists for its owner only."""
    folder = studies_dir() / draft if DRAFT_ID.match(draft or "") else None
    try:
        marker = json.loads((folder / DRAFT_FILE).read_text(encoding="utf-8")) if folder else {}
    except (OSError, ValueError):
        marker = {}
    if marker.get("owner") != owner.pk:
        raise UploadRejected(GONE_MESSAGE, status=404)
    return folder


def _write_marker(folder: Path, *, owner) -> None:
    """Write draft.json afresh (a new file renamed into place, so the folder's time says when it was last used)."""
    temporary = folder / f".{DRAFT_FILE}.{uuid.uuid4().hex}"
    temporary.write_text(json.dumps({"owner": owner.pk}), encoding="utf-8")
    os.replace(temporary, folder / DRAFT_FILE)


def check_labels(*, category: str, ethnicity: str, gender: str) -> None:
    """Refuse a label outside the study's allowed values (the page's selects offer only those)."""
    for name, value, allowed in (
        ("category", category, CATEGORIES),
        ("ethnicity", ethnicity, ETHNICITIES),
        ("gender", gender, GENDERS),
    ):
        if value not in allowed:
            raise UploadRejected(f"Choose the {name} of this video: one of {', '.join(allowed)}.")


def _check_room(folder: Path | None, size_bytes: int) -> None:
    videos = _videos(folder) if folder else []
    if len(videos) >= settings.GENREC_STUDY_MAX_VIDEOS:
        raise UploadRejected(f"A study holds at most {settings.GENREC_STUDY_MAX_VIDEOS} videos; run this one first.")
    if sum(path.stat().st_size for path in videos) + size_bytes > settings.GENREC_STUDY_MAX_UNPACKED_BYTES:
        limit = megabytes(settings.GENREC_STUDY_MAX_UNPACKED_BYTES)
        raise UploadRejected(f"A study's videos may take at most {limit}; run this one first.", status=413)


def study_draft_add(
    *, owner, draft: str, file: UploadedFile | None, category: str, ethnicity: str, gender: str, path: str = ""
) -> dict:
    """Check one video with its labels and add it to the owner's draft (a new one when ``draft`` is empty).

    Returns the draft id, the video's place in the study and how many videos the draft holds. Raises
    UploadRejected; a refused file leaves nothing behind (and a draft it would have started is not created).
    """
    check_labels(category=category, ethnicity=ethnicity, gender=gender)
    folder = _draft_folder(owner=owner, draft=draft) if draft else None
    _check_room(folder, file.size if file else 0)
    upload = validate_upload(file)
    if upload.kind != "video":
        upload.discard()
        raise UploadRejected("This file is an image; a study takes videos (MP4, WEBM, AVI, MOV).")
    # The id folder of a FakeAVCeleb path the person dropped is kept; the labels are those they confirmed.
    from_path = study_video_from_path(PurePosixPath(path)) if path else None
    stem = PurePosixPath(upload.display_name).stem
    video = StudyVideo(stem, category, ethnicity, gender, from_path.source_id if from_path else "", "")
    new_folder = folder is None
    folder = folder or studies_dir() / uuid.uuid4().hex
    target = folder / canonical_path(video, "." + upload.extension)
    try:
        if target.exists():
            raise UploadRejected(f"This study already has a video named {target.name} in the same group.")
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(upload.path, target)
        _write_marker(folder, owner=owner)
    except BaseException:
        upload.discard()
        if new_folder:
            shutil.rmtree(folder, ignore_errors=True)
        raise
    logger.info("Draft study %s: added %s", folder.name, target.relative_to(folder))
    place = {"path": target.relative_to(folder).as_posix(), "category": category, "ethnicity": ethnicity}
    return {"draft": folder.name, "video": {**place, "gender": gender}, "videos": len(_videos(folder))}


def study_draft_start(
    *, owner, draft: str, name: str, every_n_frames: int, max_frames: int | None, model: ModelVersion | None = None
) -> Job:
    """Turn the owner's draft into a PENDING study job with its model (chosen, else the default), queued once committed.

    UploadRejected when the draft is empty.
    """
    folder = _draft_folder(owner=owner, draft=draft)
    videos = _videos(folder)
    if not videos:
        raise UploadRejected("Add at least one video before running the study.")
    with transaction.atomic():
        job = Job.objects.create(
            owner=owner,
            kind=Job.Kind.STUDY,
            original_name=sanitize_display_name(name or f"{len(videos)} videos"),
            upload_name=folder.name,
            size_bytes=sum(path.stat().st_size for path in videos),
            every_n_frames=max(1, int(every_n_frames)),
            max_frames=max_frames,
            frames_total=len(videos),
            model_version=model or model_version_default(),
        )
        (folder / DRAFT_FILE).unlink()
        transaction.on_commit(partial(job_enqueue, job.pk))
    return job
