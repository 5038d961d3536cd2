"""A study ZIP upload is answered without unpacking: a 200 MB archive's request returns in under one second.

What is timed is the server's work once the body has arrived. Reading the multipart body into its spooled
file happens while the bytes come in over the network (Django parses as it reads); it is timed apart and
printed, since on a loaded machine it alone can take a second or two.
"""

from __future__ import annotations

import os
import time
import zipfile

import pytest
from django.test import RequestFactory
from django.urls import reverse

from predictions import media
from predictions.archives import ARCHIVE_NAME
from predictions.models import Job
from predictions.study_views import study_upload

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

ENTRY_BYTES = 50 * 1024 * 1024
ENTRIES = 4  # 200 MB of stored (not deflated) entries
LIMIT_SECONDS = 1.0


@pytest.fixture
def big_archive(tmp_path):
    path = tmp_path / "big.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
        for number in range(ENTRIES):
            name = f"RealVideo-RealAudio/African/men/id{number:05d}/{number:05d}.mp4"
            archive.writestr(name, os.urandom(ENTRY_BYTES))
    return path


def test_200_mb_study_archive_request_returns_within_a_second_and_keeps_it_for_the_worker(
    big_archive, django_user_model, settings, tmp_path
):
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path)  # spooled where MEDIA_ROOT is, as a deployment configures it
    staff = django_user_model.objects.create_user("carol", password="carol-password-123", is_staff=True)
    with big_archive.open("rb") as file:
        request = RequestFactory().post(reverse("study-upload"), {"file": file, "every_n_frames": "5"})
    request.user = staff
    request._dont_enforce_csrf_checks = True
    started = time.perf_counter()
    assert request.FILES["file"].size == big_archive.stat().st_size  # the body, parsed and spooled as it arrives
    received = time.perf_counter() - started

    started = time.perf_counter()
    response = study_upload(request)
    elapsed = time.perf_counter() - started
    request.close()  # what the handler does once the response is sent: the spooled copy was moved away

    assert response.status_code == 201, response.content
    assert elapsed < LIMIT_SECONDS, f"{elapsed:.2f} s"
    job = Job.objects.get()
    assert job.frames_total == ENTRIES
    assert media.size(f"{job.upload_key}/{ARCHIVE_NAME}") == big_archive.stat().st_size
    print(f"200 MB study archive: body parsed in {received:.3f} s, then answered in {elapsed:.3f} s")
