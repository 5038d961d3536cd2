"""Study ZIPs: every entry is judged from the central directory at upload; the worker unpacks good ones safely."""

from __future__ import annotations

import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from predictions.archives import (
    ARCHIVE_NAME,
    archive_waiting,
    check_study_archive,
    entry_parts,
    store_study_archive,
    study_members,
    unpack_stored_archive,
)
from predictions.validators import UploadRejected
from tests.study_helpers import STUDY_ENTRIES, face_study_zip, study_zip, symlink_zip, zip_infos
from workers.pipeline.study import find_study_videos
from workers.pipeline.types import FEMALE, MALE

VIDEO_ENTRY = "RealVideo-RealAudio/African/men/id00001/00001.mp4"


def uploaded(path) -> SimpleUploadedFile:
    return SimpleUploadedFile(path.name, path.read_bytes(), content_type="application/zip")


def stored(archive, folder):
    """What the upload request does: check the central directory, keep the archive in the study's folder."""
    upload = uploaded(archive)
    checked = check_study_archive(upload)
    store_study_archive(upload, folder)
    return checked


def damaged_in_the_middle(archive):
    """The archive with a byte of its first entry's packed data changed: its directory still looks right."""
    with zipfile.ZipFile(archive) as reader:
        info = reader.infolist()[0]
    data = bytearray(archive.read_bytes())
    middle = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra) + info.compress_size // 2
    data[middle] ^= 0xFF
    archive.write_bytes(bytes(data))
    return archive


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("../RealVideo-RealAudio/African/men/id1/a.mp4", "outside the archive"),
        ("RealVideo-RealAudio/African/../../../etc/a.mp4", "outside the archive"),
        ("/RealVideo-RealAudio/African/men/id1/a.mp4", "absolute path"),
        ("RealVideo-RealAudio\\African\\men\\id1\\a.mp4", "Windows path"),
        ("C:RealVideo-RealAudio/African/men/id1/a.mp4", "Windows path"),
        ("RealVideo-RealAudio/African/men/id1/a\x07.mp4", "control characters"),
    ],
)
def test_entry_name_that_could_leave_the_folder_is_refused(name, message):
    with pytest.raises(UploadRejected, match=message):
        entry_parts(name)


def test_entry_name_is_normalised_without_empty_or_dot_parts():
    assert entry_parts("./FakeAVCeleb//RealVideo-RealAudio/./a.mp4") == ("FakeAVCeleb", "RealVideo-RealAudio", "a.mp4")


def test_members_keep_cells_and_unpack_to_paths_built_from_the_layout():
    members, unpacked_bytes = study_members(
        zip_infos(
            [
                "FakeAVCeleb/FakeVideo-FakeAudio/Asian_East/women/id 00003!/clip one.MP4",
                "FakeAVCeleb/RealVideo-RealAudio/Caucasian (European)/men/id00004/00004.mp4",
                "FakeAVCeleb/meta_data.csv",
                "__MACOSX/FakeAVCeleb/._00004.mp4",
                "FakeAVCeleb/.DS_Store",
            ]
        )
    )
    assert [member.video.path for member in members] == [
        "FakeVideo-FakeAudio/Asian (East)/women/id_00003/clip_one.mp4",
        "RealVideo-RealAudio/Caucasian (European)/men/id00004/00004.mp4",
    ]
    assert [member.video.gender for member in members] == [FEMALE, MALE]
    assert unpacked_bytes == 2 * len(b"video")


@pytest.mark.parametrize(
    ("names", "message"),
    [
        (["RealVideo-RealAudio/African/men/id1/notes.txt"], "not a video"),
        (["Holiday/African/men/id1/a.mp4"], "not in the study layout"),
        (["RealVideo-RealAudio/Martian/men/id1/a.mp4"], "not in the study layout"),
        (["RealVideo-RealAudio/African/men/id1/a.mp4", "RealVideo-RealAudio/African/men/id1/a.MP4"], "same video"),
        (["FakeAVCeleb/meta_data.csv"], "no video"),
    ],
)
def test_archive_without_a_clean_study_layout_is_refused(names, message):
    with pytest.raises(UploadRejected, match=message):
        study_members(zip_infos(names))


def test_symlink_encrypted_and_special_entries_are_refused():
    for mode, flag_bits, message in (
        (0o120777, 0, "symbolic link"),
        (0o020666, 0, "not a regular file"),  # a character device
        (0o100644, 0x1, "encrypted"),
    ):
        info = zip_infos([VIDEO_ENTRY])[0]
        info.external_attr, info.flag_bits = mode << 16, flag_bits
        with pytest.raises(UploadRejected, match=message):
            study_members([info])


def test_more_videos_than_the_limit_are_refused(settings):
    settings.GENREC_STUDY_MAX_VIDEOS = 2
    names = [f"RealVideo-RealAudio/African/men/id{n}/{n}.mp4" for n in range(3)]
    with pytest.raises(UploadRejected, match="more than 2 videos"):
        study_members(zip_infos(names))


def test_declared_unpacked_size_over_the_limit_is_refused(settings):
    settings.GENREC_STUDY_MAX_UNPACKED_BYTES = 5 * 1024 * 1024
    info = zip_infos([VIDEO_ENTRY])[0]
    info.file_size = info.compress_size = 6 * 1024 * 1024  # what the central directory claims
    with pytest.raises(UploadRejected, match="unpacks to more than 5 MB"):
        study_members([info])


def test_decompression_bomb_is_refused_from_the_directory(tmp_path):
    archive = study_zip(tmp_path / "bomb.zip", {VIDEO_ENTRY: bytes(8 * 1024 * 1024)})
    with pytest.raises(UploadRejected, match="decompression bomb"):
        check_study_archive(uploaded(archive))


def test_symlink_archive_is_refused_from_the_directory(tmp_path):
    archive = symlink_zip(tmp_path / "link.zip", VIDEO_ENTRY, "/etc/passwd")
    with pytest.raises(UploadRejected, match="symbolic link"):
        check_study_archive(uploaded(archive))


def test_not_a_zip_is_refused(tmp_path):
    with pytest.raises(UploadRejected, match="not a ZIP"):
        check_study_archive(SimpleUploadedFile("study.zip", b"%PDF-1.7 not an archive"))


def test_entry_that_is_not_really_a_video_is_refused_when_unpacked_leaving_only_the_archive(tmp_path):
    clip_and_fake = face_study_zip(tmp_path, entries=STUDY_ENTRIES[:1])
    with zipfile.ZipFile(clip_and_fake, "a") as archive:
        archive.writestr("FakeVideo-FakeAudio/African/men/id9/9.mp4", b"<?php system($_GET['c']); ?>" * 4)
    folder = tmp_path / "study"
    stored(clip_and_fake, folder)  # the directory is clean: only unpacking finds out
    with pytest.raises(UploadRejected, match="FakeVideo-FakeAudio/African/men/id9/9.mp4"):
        unpack_stored_archive(folder)
    assert [path.name for path in folder.rglob("*")] == [ARCHIVE_NAME]


def test_entry_whose_data_does_not_match_its_header_is_refused_when_unpacked(tmp_path):
    archive = damaged_in_the_middle(face_study_zip(tmp_path, frames=4))
    folder = tmp_path / "study"
    stored(archive, folder)
    with pytest.raises(UploadRejected, match="damaged and cannot be unpacked"):
        unpack_stored_archive(folder)
    assert [path.name for path in folder.rglob("*")] == [ARCHIVE_NAME]


def test_good_archive_is_kept_at_upload_and_unpacked_by_the_worker_into_its_cells(tmp_path):
    archive = face_study_zip(tmp_path, frames=4)
    folder = tmp_path / "study"

    checked = stored(archive, folder)
    assert len(checked.members) == 3 and checked.display_name == "study.zip"
    assert archive_waiting(folder) and [path.name for path in folder.iterdir()] == [ARCHIVE_NAME]
    (folder / "RealVideo-RealAudio").mkdir()  # what an unpacking stopped half-way left
    (folder / "RealVideo-RealAudio" / "partial.mp4").write_bytes(b"\x00" * 10)

    assert unpack_stored_archive(folder) == 3

    assert not archive_waiting(folder)
    found = find_study_videos(folder)
    assert sorted(video.cell for video in found) == sorted(member.video.cell for member in checked.members)
    assert {video.ethnicity for video in found} == {"African", "Asian (East)"}
    assert sum(1 for path in folder.rglob("*") if path.is_file()) == 3
