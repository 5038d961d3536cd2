"""The study's tree: FakeAVCeleb's categories, ethnicities and genders, its folders and meta_data.csv, and the sample.

A cell is category x ethnicity x gender. The folder's gender (men/women) is the ground truth.
"""

from __future__ import annotations

import csv
import logging
import random
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ..errors import PipelineError
from ..types import FEMALE, MALE

logger = logging.getLogger(__name__)

REAL_REAL = "RealVideo-RealAudio"
REAL_FAKE_AUDIO = "RealVideo-FakeAudio"
FAKE_REAL_AUDIO = "FakeVideo-RealAudio"
FAKE_FAKE = "FakeVideo-FakeAudio"
CATEGORIES = (REAL_REAL, REAL_FAKE_AUDIO, FAKE_REAL_AUDIO, FAKE_FAKE)
ETHNICITIES = ("African", "Asian (East)", "Asian (South)", "Caucasian (American)", "Caucasian (European)")
GENDERS = (MALE, FEMALE)
DEFAULT_CATEGORIES = (REAL_REAL, FAKE_FAKE)  # the study's Tables 1 and 2
DEFAULT_COMPARISON = (REAL_REAL, FAKE_FAKE)
DEFAULT_PER_GROUP = 25  # videos per cell, as in the study
DEFAULT_SEED = 25
METADATA_FILE = "meta_data.csv"
VIDEO_SUFFIX = ".mp4"  # FakeAVCeleb's own files, and the files its meta_data.csv names
VIDEO_SUFFIXES = (VIDEO_SUFFIX, ".avi", ".mov", ".webm")  # what a folder walk picks up


def _name_key(name: str) -> str:
    """Letters only, lower case: 'Asian_East', 'Asian (East)' and 'asian-east' share one key."""
    return re.sub(r"[^a-z]", "", name.lower())


_CATEGORY_BY_KEY = {_name_key(name): name for name in CATEGORIES}
_ETHNICITY_BY_KEY = {_name_key(name): name for name in ETHNICITIES}
_GENDER_BY_KEY = {"men": MALE, "man": MALE, "male": MALE, "women": FEMALE, "woman": FEMALE, "female": FEMALE}


def normalize_category(name: str) -> str | None:
    """The canonical category name for a folder or CSV spelling, or None if it is not one."""
    return _CATEGORY_BY_KEY.get(_name_key(name))


def normalize_ethnicity(name: str) -> str | None:
    """The canonical ethnicity ('Asian (East)') for any spelling ('Asian_East'), or None."""
    return _ETHNICITY_BY_KEY.get(_name_key(name))


def normalize_gender(name: str) -> str | None:
    """'male' or 'female' for FakeAVCeleb's 'men'/'women' (and plain spellings), or None."""
    return _GENDER_BY_KEY.get(_name_key(name))


class StudyLayoutError(PipelineError):
    """A study root in which no FakeAVCeleb-shaped video could be found."""


@dataclass(frozen=True)
class StudyVideo:
    """One video of the tree with its cell; ``path`` is relative to the study root."""

    path: str
    category: str
    ethnicity: str
    gender: str  # ground truth from the men/women folder
    source_id: str = ""
    method: str = ""  # FakeAVCeleb's generation method, known only from meta_data.csv

    @property
    def cell(self) -> tuple[str, str, str]:
        return (self.category, self.ethnicity, self.gender)


def study_video_from_path(relative: Path, method: str = "") -> StudyVideo | None:
    """Label ``[...]/category/ethnicity/men|women[/id]/file.mp4`` (relative to the root) by its folders."""
    parts = relative.parts
    start = next((index for index, part in enumerate(parts[:-1]) if normalize_category(part)), None)
    if start is None or len(parts) - start < 4:
        return None
    category = normalize_category(parts[start])
    ethnicity, gender = normalize_ethnicity(parts[start + 1]), normalize_gender(parts[start + 2])
    if not (ethnicity and gender):
        return None
    source_id = parts[-2] if len(parts) - start >= 5 else ""
    return StudyVideo(relative.as_posix(), category, ethnicity, gender, source_id, method)


def _walk_layout(root: Path) -> list[StudyVideo]:
    videos = []
    for path in sorted(root.rglob("*")):
        if path.suffix.lower() not in VIDEO_SUFFIXES or not path.is_file():
            continue
        video = study_video_from_path(path.relative_to(root))
        if video is None:
            logger.debug("not in the FakeAVCeleb layout, skipped: %s", path)
        else:
            videos.append(video)
    return videos


def _relative_from_category(location: str) -> Path | None:
    """Cut a metadata location ('FakeAVCeleb/RealVideo-RealAudio/African/...') at its category folder."""
    parts = Path(location.replace("\\", "/")).parts
    for index, part in enumerate(parts):
        if normalize_category(part):
            return Path(*parts[index:])
    return None


def read_metadata(root: Path, metadata_file: Path | None = None) -> list[StudyVideo]:
    """Read FakeAVCeleb's meta_data.csv, tolerating its quirks.

    Its header is ``source,target1,target2,method,category,type,race,gender,path,`` but each row has
    the file name under ``path`` and the folder ('FakeAVCeleb/<type>/<race>/<gender>/<id>') in the
    unnamed last column; other copies name them ``filename`` and ``path``. So the file is the value
    ending in .mp4 and the folder the other value containing a slash. When a row has no folder, the
    folder is rebuilt from type/race/gender/source. Rows whose file is not on disk are skipped.
    """
    metadata_file = metadata_file or root / METADATA_FILE
    videos, missing = [], 0
    with metadata_file.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        header = [name.strip().lower() for name in next(reader, [])]
        for values in reader:
            values = [value.strip() for value in values]
            named = dict(zip(header, values, strict=False))
            location = _metadata_location(values, named)
            if location is None:
                continue
            relative = _relative_from_category(location)
            video = _resolve_metadata_row(root, relative, named.get("method", "")) if relative else None
            if video is None:
                missing += 1
            else:
                videos.append(video)
    if missing:
        logger.warning("%d rows of %s name no video found under %s; skipped", missing, metadata_file.name, root)
    return sorted(videos, key=lambda video: video.path)


def _metadata_location(values: list[str], named: dict[str, str]) -> str | None:
    """The row's file as 'folder/file.mp4'; None for a row that names no video."""
    file_names = [value for value in values if value.lower().endswith(VIDEO_SUFFIX)]
    if not file_names:
        return None
    file_name = file_names[0]
    if "/" in file_name:
        return file_name
    folders = [value for value in values if "/" in value and not value.lower().endswith(VIDEO_SUFFIX)]
    if folders:
        return f"{folders[0]}/{file_name}"
    return "/".join([*(named.get(key, "") for key in ("type", "race", "gender", "source")), file_name])


def _resolve_metadata_row(root: Path, relative: Path, method: str) -> StudyVideo | None:
    """Find the row's file under any accepted spelling of its ethnicity folder ('Asian (East)', 'Asian_East')."""
    parts = relative.parts
    if len(parts) < 2:
        return None
    ethnicity = normalize_ethnicity(parts[1])
    spellings = [parts[1]] + ([ethnicity, ethnicity.replace(" (", "_").rstrip(")")] if ethnicity else [])
    for spelling in dict.fromkeys(spellings):
        candidate = Path(parts[0], spelling, *parts[2:])
        if (root / candidate).is_file():
            return study_video_from_path(candidate, method)
    return None


def find_study_videos(root: str | Path) -> list[StudyVideo]:
    """Every video of a FakeAVCeleb tree: from meta_data.csv when it names files present, else from the folders."""
    root = Path(root)
    if not root.is_dir():
        raise StudyLayoutError(f"the study root {str(root)!r} is not a folder")
    metadata_file = root / METADATA_FILE
    videos = read_metadata(root, metadata_file) if metadata_file.is_file() else []
    if not videos:  # no metadata, or one naming none of the files present (a partial copy): trust the folders
        videos = _walk_layout(root)
    if not videos:
        found = ", ".join(sorted(child.name for child in root.iterdir())[:10]) or "nothing"
        raise StudyLayoutError(
            f"no FakeAVCeleb video under {str(root)!r}: expected ROOT/<category>/<ethnicity>/<men|women>/<id>/*.mp4 "
            f"with category one of {', '.join(CATEGORIES)} and ethnicity one of {', '.join(ETHNICITIES)} "
            f"(or Asian_East-style spellings), or a meta_data.csv naming such files; found: {found}"
        )
    return videos


def sample_per_cell(videos: Iterable[StudyVideo], per_group: int, seed: int) -> list[StudyVideo]:
    """Up to ``per_group`` videos of each cell, drawn with a seed of their own per cell.

    Seeding each cell by its name keeps a cell's sample the same whatever other cells the tree holds.
    """
    by_cell: dict[tuple[str, str, str], list[StudyVideo]] = {}
    for video in sorted(videos, key=lambda video: video.path):
        by_cell.setdefault(video.cell, []).append(video)
    sampled = []
    for cell, members in sorted(by_cell.items()):
        chooser = random.Random(f"{seed}|{'|'.join(cell)}")
        sampled.extend(sorted(chooser.sample(members, min(per_group, len(members))), key=lambda video: video.path))
    return sampled
