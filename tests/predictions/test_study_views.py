"""Study pages are staff only and owner only; the report renders a finished study's document; Concept shows fairness."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from predictions import media
from predictions.models import Job
from predictions.study_presenter import study_report
from workers.pipeline.study import (
    CellComparison,
    CellStats,
    StudyResult,
    StudySettings,
    StudyVideoRow,
    describe_comparison,
)
from workers.pipeline.study.report import write_study

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_user("carol", password="carol-password-123", is_staff=True)


def video_row(path: str, category: str, confidence_pct: float | None) -> StudyVideoRow:
    return StudyVideoRow(
        path=path,
        category=category,
        ethnicity="African",
        gender="male",
        source_id="id1",
        method="",
        predicted_label=None if confidence_pct is None else "male",
        confidence_pct=confidence_pct,
        correct=None if confidence_pct is None else True,
        face_frame_share=None if confidence_pct is None else 1.0,
        frames_analyzed=4,
        frames_with_faces=0 if confidence_pct is None else 4,
        faces=0 if confidence_pct is None else 4,
    )


def finished_study(owner, tmp_path) -> Job:
    """A SUCCEEDED study whose summary and files are what the worker writes, for one real and one fake cell."""
    rows = [
        video_row("RealVideo-RealAudio/African/men/id1/a.mp4", "RealVideo-RealAudio", 81.0),
        video_row("RealVideo-RealAudio/African/men/id1/b.mp4", "RealVideo-RealAudio", 79.0),
        video_row("FakeVideo-FakeAudio/African/men/id1/c.mp4", "FakeVideo-FakeAudio", 71.0),
        video_row("FakeVideo-FakeAudio/African/men/id1/d.mp4", "FakeVideo-FakeAudio", None),
    ]
    cells = [
        CellStats("RealVideo-RealAudio", "African", "male", 2, 2, 2, 0, 0, 80.0, 1.41, (79.0, 81.0), 1.0, (1.0, 1.0)),
        CellStats("FakeVideo-FakeAudio", "African", "male", 2, 2, 1, 1, 0, 71.0, None, None, 1.0, None),
    ]
    comparison = CellComparison(
        ethnicity="African",
        gender="male",
        real_category="RealVideo-RealAudio",
        fake_category="FakeVideo-FakeAudio",
        real_videos=2,
        fake_videos=1,
        real_mean_pct=80.0,
        fake_mean_pct=71.0,
        difference_pct=-9.0,
        difference_ci=None,
        welch_t=None,
        p_value=None,
        sentence="",
    )
    comparison.sentence = describe_comparison(comparison)
    settings = StudySettings(
        root="batch.zip",
        categories=["RealVideo-RealAudio", "FakeVideo-FakeAudio"],
        comparison=["RealVideo-RealAudio", "FakeVideo-FakeAudio"],
        per_group=4,
        seed=25,
        every_n_frames=5,
        max_frames=4,
        jobs=1,
        detection={"scale_factor": 1.1, "min_neighbors": 5, "detect_width": None, "redetect_every": 1},
        model={"name": "tiny", "sha256": "ab" * 32},
    )
    result = StudyResult(settings, rows, cells, [comparison], {"confidence_pct": "per video"})
    job = Job.objects.create(
        owner=owner, kind=Job.Kind.STUDY, status=Job.Status.SUCCEEDED, original_name="batch.zip", frames_total=4
    )
    paths = write_study(result, tmp_path / "report")
    media.save_tree(tmp_path / "report", job.results_prefix)
    Job.objects.filter(pk=job.pk).update(summary=json.loads(paths["study.json"].read_text()), frames_done=4)
    job.refresh_from_db()
    return job


def test_report_page_shows_both_tables_the_comparison_and_what_was_left_out(client, staff, tmp_path):
    job = finished_study(staff, tmp_path)
    client.force_login(staff)

    page = client.get(reverse("study-detail", args=[job.public_id])).content.decode()

    assert "Table 1 — RealVideo-RealAudio" in page and "Table 2 — FakeVideo-FakeAudio" in page
    assert "80.00" in page and "79.00 – 81.00" in page  # real African men: mean and its interval
    assert "70.84 ± 7.78" in page and "67.51 ± 8.75" in page  # the study's published values beside ours
    assert "-9.00" in page and "too few videos with a face to compare" in page
    assert "FakeVideo-FakeAudio/African/men/id1/d.mp4" in page  # no face: listed, not averaged
    for name in ("study.png", "confidence_hist.png", "study.csv", "study.json"):
        assert reverse("study-file", args=[job.public_id, name]) in page


def test_report_files_are_served_by_allow_listed_name_only(client, staff, tmp_path):
    job = finished_study(staff, tmp_path)
    media.save(f"{job.results_prefix}/secret.txt", b"not a study output")
    client.force_login(staff)

    csv_response = client.get(reverse("study-file", args=[job.public_id, "study.csv"]))
    assert csv_response.status_code == 200 and "attachment" in csv_response["Content-Disposition"]
    assert client.get(reverse("study-file", args=[job.public_id, "secret.txt"])).status_code == 404
    assert client.get(reverse("study-file", args=[job.public_id, "..%2Fstudy.csv"])).status_code == 404


def test_study_pages_are_404_for_other_staff_and_for_non_staff(client, staff, alice, django_user_model, tmp_path):
    job = finished_study(staff, tmp_path)
    other_staff = django_user_model.objects.create_user("dave", password="dave-password-123", is_staff=True)
    client.force_login(other_staff)
    assert client.get(reverse("study-detail", args=[job.public_id])).status_code == 404
    assert client.get(reverse("study-file", args=[job.public_id, "study.csv"])).status_code == 404
    client.force_login(alice)
    assert client.get(reverse("study-index")).status_code == 404
    assert "Study</a>" not in client.get(reverse("welcome")).content.decode()  # no nav link either


def test_study_index_lists_own_studies_for_staff(client, staff, tmp_path):
    job = finished_study(staff, tmp_path)
    client.force_login(staff)
    page = client.get(reverse("study-index")).content.decode()
    assert reverse("study-detail", args=[job.public_id]) in page and "batch.zip" in page
    assert reverse("study-upload") in page


def test_report_of_a_document_without_cells_is_none():
    assert study_report({}) is None


def test_concept_shows_image_fairness_beside_the_study_tables(client, settings, tmp_path):
    (tmp_path / "report").mkdir()
    (tmp_path / "manifest.json").write_text(json.dumps({"name": "default", "metrics": {"accuracy": 0.87}}))
    group = {"n": 312, "accuracy": 0.8301, "accuracy_ci": [0.788, 0.872], "mean_confidence": 0.8445}
    group["mean_confidence_ci"] = [0.8271, 0.8600]
    metrics = {"groups": {"race_gender": {"Black female": group}}}
    (tmp_path / "report" / "metrics.json").write_text(json.dumps(metrics))
    settings.GENREC_MODEL_DIR = tmp_path

    page = client.get(reverse("concept")).content.decode()

    assert "Black female" in page and "83.0%" in page and "84.5%" in page and "82.7% – 86.0%" in page
    assert "Table 1 — RealVideo-RealAudio" in page and "Table 2 — FakeVideo-FakeAudio" in page
    assert "70.84 ± 7.78" in page and "81.27 ± 12.80" in page
