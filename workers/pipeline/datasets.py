"""Readers for labelled face collections: UTKFace file names, one folder per class, or a labels CSV."""

from __future__ import annotations

import csv
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

MALE, FEMALE = 0, 1
RACE_NAMES = {0: "White", 1: "Black", 2: "Asian", 3: "Indian", 4: "Others"}
ADULT_AGE = 18
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}

_GENDER_WORDS = {"0": MALE, "male": MALE, "m": MALE, "1": FEMALE, "female": FEMALE, "f": FEMALE}
_GENDER_BY_FOLDER = {"male": MALE, "female": FEMALE}
_RACE_BY_NAME = {name.lower(): code for code, name in RACE_NAMES.items()}
# UTKFace: [age]_[gender]_[race]_[date&time].jpg(.chip.jpg); a few names lack the race field.
_UTKFACE_NAME = re.compile(r"^(\d{1,3})_([01])_([0-4])_\d+")


class DatasetError(ValueError):
    """A data folder or labels file that cannot be read as a labelled face collection."""


@dataclass(frozen=True)
class FaceRecord:
    """One labelled face image: gender 0 male / 1 female; race, age and group when the source has them."""

    path: Path
    gender: int
    race: int | None = None
    age: int | None = None
    group: str | None = None

    @property
    def race_name(self) -> str | None:
        return RACE_NAMES.get(self.race) if self.race is not None else None


def _image_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def read_utkface(directory: Path) -> list[FaceRecord]:
    """Read every image under ``directory`` whose name follows UTKFace's ``age_gender_race_date`` pattern."""
    records, skipped = [], 0
    for path in _image_files(Path(directory)):
        match = _UTKFACE_NAME.match(path.name)
        if match is None:
            skipped += 1
            continue
        age, gender, race = (int(part) for part in match.groups())
        records.append(FaceRecord(path=path, gender=gender, race=race, age=age))
    if skipped:
        logger.warning("skipped %d files in %s whose names are not UTKFace labels", skipped, directory)
    return records


def read_class_folders(directory: Path) -> list[FaceRecord]:
    """Read images from ``male/`` and ``female/`` sub-folders (any case), e.g. IMDB-WIKI crop subsets."""
    directory = Path(directory)
    records = []
    for folder in sorted(p for p in directory.iterdir() if p.is_dir()):
        gender = _GENDER_BY_FOLDER.get(folder.name.lower())
        if gender is None:
            continue
        records.extend(FaceRecord(path=path, gender=gender) for path in _image_files(folder))
    return records


def parse_gender(value: str) -> int:
    """Turn ``0``/``1``/``male``/``female`` (any case) into 0 male / 1 female."""
    gender = _GENDER_WORDS.get(str(value).strip().lower())
    if gender is None:
        raise DatasetError(f"unknown gender value {value!r}: expected 0/1 or male/female")
    return gender


def parse_race(value: str | None) -> int | None:
    """Turn a race code (0-4) or name (White, Black, Asian, Indian, Others) into its code; blank is None."""
    text = (value or "").strip()
    if not text:
        return None
    if text.isdigit() and int(text) in RACE_NAMES:
        return int(text)
    if text.lower() in _RACE_BY_NAME:
        return _RACE_BY_NAME[text.lower()]
    raise DatasetError(f"unknown race value {value!r}: expected 0-4 or one of {', '.join(RACE_NAMES.values())}")


def read_labels_csv(labels: Path, root: Path | None = None) -> list[FaceRecord]:
    """Read a CSV with ``path,gender`` and optional ``race``, ``age``, ``group``; paths relative to ``root``."""
    labels = Path(labels)
    root = Path(root) if root is not None else labels.parent
    with labels.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = {"path", "gender"} - set(reader.fieldnames or [])
        if missing:
            raise DatasetError(f"{labels} lacks the column(s) {', '.join(sorted(missing))}")
        records = [_record_from_row(row, root, line) for line, row in enumerate(reader, start=2)]
    return records


def _record_from_row(row: dict[str, str], root: Path, line: int) -> FaceRecord:
    try:
        age_text = (row.get("age") or "").strip()
        return FaceRecord(
            path=root / row["path"],
            gender=parse_gender(row["gender"]),
            race=parse_race(row.get("race")),
            age=int(age_text) if age_text else None,
            group=(row.get("group") or "").strip() or None,
        )
    except (DatasetError, ValueError) as error:
        raise DatasetError(f"line {line}: {error}") from error


def read_dataset(data: Path, labels: Path | None = None) -> list[FaceRecord]:
    """Read a labels CSV when given (paths relative to ``data``), else class folders, else UTKFace names."""
    data = Path(data)
    if labels is not None:
        return read_labels_csv(labels, root=data)
    if data.is_file() and data.suffix.lower() == ".csv":
        return read_labels_csv(data)
    if not data.is_dir():
        raise DatasetError(f"{data} is not a folder or a labels CSV")
    if (data / "labels.csv").is_file():
        return read_labels_csv(data / "labels.csv")
    records = read_class_folders(data) or read_utkface(data)
    if not records:
        raise DatasetError(f"found no labelled images in {data}: expected male/ and female/ folders or UTKFace names")
    return records


def filter_min_age(records: Iterable[FaceRecord], min_age: int | None) -> list[FaceRecord]:
    """Keep records of at least ``min_age`` years; records without an age are kept only when no minimum is set."""
    if min_age is None:
        return list(records)
    return [record for record in records if record.age is not None and record.age >= min_age]
