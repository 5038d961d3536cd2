"""predictions/media.py: the few operations on media objects, the same on the file system and in a bucket."""

from __future__ import annotations

import re
import urllib.parse
from pathlib import Path

import pytest

from predictions import media
from tests.s3_media import s3_client


def test_objects_are_saved_read_listed_and_deleted_by_key(media_backend):
    media.save("results/job-1/0.jpg", b"first")
    media.save("results/job-1/0.jpg", b"second")  # a re-run replaces its frame under the same key
    media.save("results/job-1/nested/study.json", b"{}")

    assert media.read_bytes("results/job-1/0.jpg") == b"second"
    assert media.children("results/job-1") == (["nested"], ["0.jpg"])
    assert sorted(media.walk("results")) == ["results/job-1/0.jpg", "results/job-1/nested/study.json"]
    assert media.children("nothing-here") == ([], [])
    assert media.delete("results/job-1/0.jpg") is True and media.delete("results/job-1/0.jpg") is False
    assert media.delete_tree("results/job-1") == 1
    assert list(media.walk("results")) == []


def test_a_local_copy_is_removed_after_its_block_even_when_the_block_fails(media_backend, settings, tmp_path):
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path / "scratch")
    (tmp_path / "scratch").mkdir()
    media.save("uploads/clip.mp4", b"video bytes")

    with pytest.raises(RuntimeError), media.local_copy("uploads/clip.mp4") as path:
        assert path.read_bytes() == b"video bytes" and path.suffix == ".mp4"
        raise RuntimeError("the analysis failed")

    if media_backend == "s3":
        assert not path.exists()
    else:  # the file system's copy is the stored file itself, never removed by reading it
        assert path == settings.MEDIA_ROOT / "uploads" / "clip.mp4" and path.exists()
    assert list((tmp_path / "scratch").iterdir()) == []


def test_a_local_tree_holds_every_object_under_the_prefix(media_backend, settings, tmp_path):
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path / "scratch")
    (tmp_path / "scratch").mkdir()
    media.save("studies/abc/RealVideo-RealAudio/African/men/id1/a.mp4", b"a")
    media.save("studies/abc/b.mp4", b"b")

    with media.local_tree("studies/abc") as root:
        found = sorted(path.relative_to(root).as_posix() for path in root.rglob("*") if path.is_file())

    assert found == ["RealVideo-RealAudio/African/men/id1/a.mp4", "b.mp4"]
    assert list((tmp_path / "scratch").iterdir()) == []


def test_a_missing_object_has_no_local_copy(media_backend):
    with pytest.raises(FileNotFoundError), media.local_copy("uploads/gone.mp4"):
        pass


def test_bucket_objects_are_private_and_signed_urls_short_lived(s3_media, settings):
    media.save("results/job-2/0.jpg", b"jpeg")

    acl = s3_client(settings.AWS_S3_ENDPOINT_URL).get_object_acl(Bucket=s3_media, Key="results/job-2/0.jpg")
    grantees = {grant["Grantee"].get("URI", grant["Grantee"].get("ID")) for grant in acl["Grants"]}
    assert not any("AllUsers" in str(grantee) or "AuthenticatedUsers" in str(grantee) for grantee in grantees)
    assert [grant["Permission"] for grant in acl["Grants"]] == ["FULL_CONTROL"]  # the owner, nobody else

    query = urllib.parse.parse_qs(urllib.parse.urlsplit(media.presigned_url("results/job-2/0.jpg")).query)
    assert int(query["X-Amz-Expires"][0]) == settings.AWS_QUERYSTRING_EXPIRE <= 600
    assert media.local_path("results/job-2/0.jpg") is None  # a bucket has no paths


def test_the_file_system_is_the_default_and_its_objects_are_files_under_media_root(settings):
    media.save("uploads/a.jpg", b"jpeg")
    assert settings.GENREC_MEDIA_STORAGE == "fs"
    assert media.local_path("uploads/a.jpg") == settings.MEDIA_ROOT / "uploads" / "a.jpg"


def test_the_background_saver_stores_everything_before_close_returns(media_backend):
    saver = media.BackgroundSaver()
    for index in (0, 12, 24):
        saver.save(f"results/job-3/{index}.jpg", b"jpeg %d" % index, tag=index)

    assert saver.close() == 3
    assert saver.latest_tag == 24
    stored = [media.read_bytes(f"results/job-3/{index}.jpg") for index in (0, 12, 24)]
    assert stored == [b"jpeg 0", b"jpeg 12", b"jpeg 24"]


def test_the_background_saver_announces_only_what_was_stored(settings, caplog):
    settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"}}
    saver = media.BackgroundSaver()
    saver.save("results/job-4/0.jpg", b"jpeg", tag=0)
    saver.save("../outside.jpg", b"jpeg", tag=5)  # refused by the storage: logged, never announced

    assert saver.close() == 1
    assert saver.latest_tag == 0
    assert "Could not store ../outside.jpg" in caplog.text


def test_only_the_media_module_touches_the_storage_or_media_root():
    """predictions/ and workers/ (the pipeline aside) reach media by key through predictions/media.py alone."""
    root = Path(__file__).resolve().parents[2]
    sources = [*root.glob("predictions/**/*.py"), *root.glob("workers/*.py"), *root.glob("workers/management/**/*.py")]
    offenders = [
        source.relative_to(root).as_posix()
        for source in sources
        if source.name != "media.py"
        and "migrations" not in source.parts
        and re.search(r"settings\.MEDIA_ROOT|default_storage|storages\[", source.read_text())
    ]
    assert len(sources) > 20 and offenders == []
