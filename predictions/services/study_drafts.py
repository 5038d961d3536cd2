"""A study built from loose video files: a draft folder filled one checked file at a time, run when asked.

A draft is a media prefix ``studies/<hex>`` with a ``draft.json`` object naming its owner; each file is checked
as any upload (validators.validate_upload: sniffed, probed, decoded to its end, in a temporary copy), then copied
by key to the canonical path of the labels the person chose (its uploads/ object is deleted). ``study_draft_start``
turns the prefix into a queued study job. A draft nobody runs has no job row, so the orphan sweep removes it an
hour after its last file.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from functools import partial
from pathlib import PurePosixPath

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction

from workers.pipeline.study import CATEGORIES, ETHNICITIES, GENDERS, VIDEO_SUFFIXES, StudyVideo, study_video_from_path

from .. import media
from ..archives import canonical_path
from ..formatting import megabytes
from ..models import STUDIES_FOLDER, Job, ModelVersion
from ..selectors import model_version_default
from ..validators import UploadRejected, sanitize_display_name, validate_upload
from .jobs import job_enqueue

logger = logging.getLogger(__name__)

DRAFT_FILE = "draft.json"
DRAFT_ID = re.compile(r"^[0-9a-f]{32}$")
GONE_MESSAGE = "This unfinished study is no longer available (it was started, or removed after an hour unused)."


def _videos(prefix: str) -> list[str]:
    """The keys of the videos a draft holds."""
    return [key for key in media.walk(prefix) if PurePosixPath(key).suffix.lower() in VIDEO_SUFFIXES]


def _draft_prefix(*, owner, draft: str) -> str:
    """The owner's draft prefix, or UploadRejected (404) for any other id: a draft exists for its owner only."""
    prefix = f"{STUDIES_FOLDER}/{draft}" if DRAFT_ID.match(draft or "") else None
    try:
        marker = json.loads(media.read_bytes(f"{prefix}/{DRAFT_FILE}")) if prefix else {}
    except (OSError, ValueError):
        marker = {}
    if marker.get("owner") != owner.pk:
        raise UploadRejected(GONE_MESSAGE, status=404)
    return prefix


def _write_marker(prefix: str, *, owner) -> None:
    """Write draft.json afresh (so the newest object's time says when the draft was last used)."""
    media.save(f"{prefix}/{DRAFT_FILE}", json.dumps({"owner": owner.pk}).encode())


def check_labels(*, category: str, ethnicity: str, gender: str) -> None:
    """Refuse a label outside the study's allowed values (the page's selects offer only those)."""
    for name, value, allowed in (
        ("category", category, CATEGORIES),
        ("ethnicity", ethnicity, ETHNICITIES),
        ("gender", gender, GENDERS),
    ):
        if value not in allowed:
            raise UploadRejected(f"Choose the {name} of this video: one of {', '.join(allowed)}.")


def _check_room(prefix: str | None, size_bytes: int) -> None:
    videos = _videos(prefix) if prefix else []
    if len(videos) >= settings.GENREC_STUDY_MAX_VIDEOS:
        raise UploadRejected(f"A study holds at most {settings.GENREC_STUDY_MAX_VIDEOS} videos; run this one first.")
    if sum(media.size(key) for key in videos) + size_bytes > settings.GENREC_STUDY_MAX_UNPACKED_BYTES:
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
    prefix = _draft_prefix(owner=owner, draft=draft) if draft else None
    _check_room(prefix, file.size if file else 0)
    upload = validate_upload(file)
    if upload.kind != "video":
        upload.discard()
        raise UploadRejected("This file is an image; a study takes videos (MP4, WEBM, AVI, MOV).")
    # The id folder of a FakeAVCeleb path the person dropped is kept; the labels are those they confirmed.
    from_path = study_video_from_path(PurePosixPath(path)) if path else None
    stem = PurePosixPath(upload.display_name).stem
    video = StudyVideo(stem, category, ethnicity, gender, from_path.source_id if from_path else "", "")
    new_draft = prefix is None
    prefix = prefix or f"{STUDIES_FOLDER}/{uuid.uuid4().hex}"
    place = canonical_path(video, "." + upload.extension)
    key = f"{prefix}/{place}"
    try:
        if media.exists(key):
            raise UploadRejected(f"This study already has a video named {PurePosixPath(key).name} in the same group.")
        with media.open_file(upload.key) as handle:  # checked and stored under uploads/; the draft keeps its copy
            media.save(key, handle)
        _write_marker(prefix, owner=owner)
    except BaseException:
        if new_draft:
            media.delete_tree(prefix)
        raise
    finally:
        upload.discard()
    logger.info("Draft study %s: added %s", prefix, place)
    return {
        "draft": PurePosixPath(prefix).name,
        "video": {"path": place, "category": category, "ethnicity": ethnicity, "gender": gender},
        "videos": len(_videos(prefix)),
    }


def study_draft_start(
    *, owner, draft: str, name: str, every_n_frames: int, max_frames: int | None, model: ModelVersion | None = None
) -> Job:
    """Turn the owner's draft into a PENDING study job (its model: the one chosen, else the default), queued once
    committed; UploadRejected when it is empty."""
    prefix = _draft_prefix(owner=owner, draft=draft)
    videos = _videos(prefix)
    if not videos:
        raise UploadRejected("Add at least one video before running the study.")
    with transaction.atomic():
        job = Job.objects.create(
            owner=owner,
            kind=Job.Kind.STUDY,
            original_name=sanitize_display_name(name or f"{len(videos)} videos"),
            upload_name=PurePosixPath(prefix).name,
            size_bytes=sum(media.size(key) for key in videos),
            every_n_frames=max(1, int(every_n_frames)),
            max_frames=max_frames,
            frames_total=len(videos),
            model_version=model or model_version_default(),
        )
        media.delete(f"{prefix}/{DRAFT_FILE}")
        transaction.on_commit(partial(job_enqueue, job.pk))
    return job
