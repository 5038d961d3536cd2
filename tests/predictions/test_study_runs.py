"""Two runs of the same videos side by side on the report page and in run_study --against, cell by cell."""

from __future__ import annotations

import pytest
from django.urls import reverse

from predictions.models import Job
from tests.predictions.test_study_views import finished_study
from workers.pipeline.study.runs import compare_runs, same_videos

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_user("carol", password="carol-password-123", is_staff=True)


def second_run(owner, tmp_path, *, shift: float) -> Job:
    """The same videos again, every real mean and interval moved by ``shift`` points (as another sampling would)."""
    job = finished_study(owner, tmp_path)
    summary = job.summary
    for cell in summary["cells"]:
        if cell["category"] == "RealVideo-RealAudio":
            cell["mean_confidence_pct"] += shift
            cell["mean_ci"] = [bound + shift for bound in cell["mean_ci"]]
    Job.objects.filter(pk=job.pk).update(summary=summary, original_name="every frame", every_n_frames=1)
    job.refresh_from_db()
    return job


def test_compare_runs_gives_both_means_and_their_difference_per_cell(staff, tmp_path):
    first, second = finished_study(staff, tmp_path).summary, second_run(staff, tmp_path, shift=2.5).summary

    pairs = {(pair.category, pair.ethnicity, pair.gender): pair for pair in compare_runs(first, second)}

    real = pairs[("RealVideo-RealAudio", "African", "male")]
    assert real.means == (80.0, 82.5) and real.difference == pytest.approx(2.5)
    assert real.interval_shift == pytest.approx(2.5)
    fake = pairs[("FakeVideo-FakeAudio", "African", "male")]
    assert fake.difference == 0 and fake.interval_shift is None  # one video with a face: no interval
    assert same_videos(first, second)


def test_report_page_compares_with_another_finished_study_of_the_same_staff_member(client, staff, tmp_path):
    job = finished_study(staff, tmp_path)
    other = second_run(staff, tmp_path, shift=-4.0)
    client.force_login(staff)

    plain = client.get(reverse("study-detail", args=[job.public_id])).content.decode()
    assert f'<option value="{other.public_id}"' in plain and "data-runs-table" not in plain

    page = client.get(reverse("study-detail", args=[job.public_id]), {"against": str(other.public_id)})

    text = page.content.decode()
    assert page.status_code == 200 and "data-runs-table" in text
    assert "80.00 (79.00 – 81.00)" in text  # this run's real African men
    assert "76.00 (75.00 – 77.00)" in text  # the other run's real African men
    assert "+4.00" in text  # this run minus the other
    assert "did not analyse the same videos" not in text


def test_comparing_with_a_study_of_someone_else_is_a_404(client, staff, tmp_path, django_user_model):
    job = finished_study(staff, tmp_path)
    stranger = django_user_model.objects.create_user("dave", password="dave-password-123", is_staff=True)
    foreign = finished_study(stranger, tmp_path)
    client.force_login(staff)

    response = client.get(reverse("study-detail", args=[job.public_id]), {"against": str(foreign.public_id)})

    assert response.status_code == 404
