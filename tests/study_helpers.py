"""Study archives for tests: ZIPs in the FakeAVCeleb layout built from generated face clips, and hostile ones."""

from __future__ import annotations

import io
import stat
import zipfile
from pathlib import Path

from tests.jobs_helpers import write_face_clip

# Three clips in three cells; the spellings are FakeAVCeleb's (underscores) and the study's (spaces).
STUDY_ENTRIES = (
    "FakeAVCeleb/RealVideo-RealAudio/African/men/id00001/00001.mp4",
    "FakeAVCeleb/FakeVideo-FakeAudio/African/men/id00001/00002_fake.mp4",
    "FakeAVCeleb/FakeVideo-FakeAudio/Asian_East/women/id00003/00003.mp4",
)


def study_zip(path: Path, entries: dict[str, bytes]) -> Path:
    """A ZIP of the given entries (deflated), written to ``path``."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in entries.items():
            archive.writestr(name, content)
    return path


def face_study_zip(folder: Path, *, frames: int = 12, entries: tuple[str, ...] = STUDY_ENTRIES) -> Path:
    """A study ZIP whose videos are the same generated astronaut clip under each of ``entries``."""
    clip = write_face_clip(folder / "face.mp4", frames=frames).read_bytes()
    return study_zip(folder / "study.zip", {name: clip for name in entries})


def symlink_zip(path: Path, link_name: str, target: str) -> Path:
    """A ZIP with one symbolic-link entry (Unix mode S_IFLNK in its external attributes), as `zip -y` writes."""
    info = zipfile.ZipInfo(link_name)
    info.create_system = 3  # Unix, so the high bits of external_attr are a st_mode
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(info, target)
    return path


def zip_infos(names: list[str]) -> list[zipfile.ZipInfo]:
    """The central directory of a ZIP with these entry names (a few bytes each), read back as zipfile sees it."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in names:
            archive.writestr(name, b"video")
    with zipfile.ZipFile(buffer) as archive:
        return archive.infolist()
