"""Models as data: folders synced into ModelVersion rows, one active model chosen in the admin, jobs keep theirs."""

from __future__ import annotations

import io
import shutil

import pytest
from django.core.management import call_command
from django.db import IntegrityError, transaction
from django.urls import reverse

from predictions import selectors, services
from predictions.models import Job, ModelVersion
from tests.jobs_helpers import validated_upload, write_face_image
from tests.model_helpers import train_generated_model
from workers import runner
from workers.pipeline.model import load_model

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:predictions_modelversion_changelist"


@pytest.fixture(autouse=True)
def _in_memory_channel_layer(settings):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}


def rows() -> dict[str, tuple]:
    return {
        version.name: (version.pk, version.sha256, version.folder, version.available, version.active)
        for version in ModelVersion.objects.all()
    }


def new_job(owner, tmp_path, **options) -> Job:
    image = write_face_image(tmp_path / f"face-{Job.objects.count()}.jpg")
    return services.job_create(owner=owner, upload=validated_upload(image), every_n_frames=1, **options)


def test_sync_models_registers_every_folder_and_is_idempotent(installed_models):
    out = io.StringIO()
    call_command("sync_models", stdout=out)
    first = rows()

    again = services.model_versions_sync()

    assert set(first) == {"eigen-a", "eigen-b"}
    assert first["eigen-b"][1:4] == (load_model(installed_models / "eigen-b").sha256, "eigen-b", True)
    assert not again.changed and rows() == first
    assert "added: eigen-a, eigen-b" in out.getvalue() and "new jobs use eigen-a" in out.getvalue()


def test_sync_updates_the_row_of_a_retrained_folder(installed_models):
    services.model_versions_sync()
    before = ModelVersion.objects.get(name="eigen-b")

    train_generated_model(installed_models / "eigen-b", seed=7)
    report = services.model_versions_sync()

    after = ModelVersion.objects.get(name="eigen-b")
    assert report.updated == ["eigen-b"] and after.pk == before.pk
    assert after.sha256 == load_model(installed_models / "eigen-b").sha256 != before.sha256


def test_sync_keeps_a_vanished_model_that_jobs_used_and_forgets_an_unused_one(installed_models, alice, tmp_path):
    train_generated_model(installed_models / "eigen-c", seed=3)
    services.model_versions_sync()
    used = ModelVersion.objects.get(name="eigen-b")
    services.model_version_activate(version=used)
    job = new_job(alice, tmp_path)
    assert job.model_version == used

    shutil.rmtree(installed_models / "eigen-b")
    shutil.rmtree(installed_models / "eigen-c")
    report = services.model_versions_sync()

    used.refresh_from_db()
    assert report.unavailable == ["eigen-b"] and report.deleted == ["eigen-c"]
    assert not used.available and not used.active and Job.objects.get(pk=job.pk).model_version == used
    assert selectors.model_version_default().name == "eigen-a"  # GENREC_MODEL_DIR, the fallback
    assert [version.name for version in selectors.model_versions_available()] == ["eigen-a"]


def test_a_job_of_a_model_no_longer_installed_fails_with_a_clear_message(installed_models, alice, tmp_path):
    services.model_versions_sync()
    job = new_job(alice, tmp_path, model_version=ModelVersion.objects.get(name="eigen-b"))
    shutil.rmtree(installed_models / "eigen-b")

    with pytest.raises(runner.ModelNotInstalled, match=r"\(eigen-b\) is no longer installed"):
        runner.job_model(Job.objects.get(pk=job.pk))


def test_at_most_one_model_is_active(installed_models):
    services.model_versions_sync()
    first, second = ModelVersion.objects.order_by("name")
    services.model_version_activate(version=first)
    services.model_version_activate(version=second)

    assert list(ModelVersion.objects.filter(active=True)) == [second]
    with pytest.raises(IntegrityError), transaction.atomic():
        ModelVersion.objects.filter(pk=first.pk).update(active=True)


def test_an_unavailable_model_cannot_be_made_active(installed_models):
    services.model_versions_sync()
    version = ModelVersion.objects.get(name="eigen-b")
    ModelVersion.objects.filter(pk=version.pk).update(available=False)
    version.refresh_from_db()

    with pytest.raises(services.ModelUnavailable):
        services.model_version_activate(version=version)
    assert not ModelVersion.objects.filter(active=True).exists()


def test_admin_action_changes_the_model_of_new_jobs_while_queued_jobs_keep_theirs(
    installed_models, admin_client, alice, tmp_path
):
    services.model_versions_sync()
    first, second = ModelVersion.objects.get(name="eigen-a"), ModelVersion.objects.get(name="eigen-b")
    queued = new_job(alice, tmp_path)

    response = admin_client.post(
        reverse(CHANGELIST), {"action": "make_active", "_selected_action": [second.pk]}, follow=True
    )
    newer = new_job(alice, tmp_path)

    assert "Now active: eigen-b. New jobs use it" in response.content.decode()
    assert queued.model_version == first and newer.model_version == second
    # The worker loads each job's own model, by folder: the queued job still runs with eigen-a.
    assert runner.job_model(Job.objects.get(pk=queued.pk)).sha256 == first.sha256
    assert runner.job_model(Job.objects.get(pk=newer.pk)).sha256 == second.sha256
    claimed = services.job_claim(job_id=queued.pk)
    runner.run_job(claimed)
    claimed.refresh_from_db()
    assert claimed.status == Job.Status.SUCCEEDED and claimed.model_version == first


def test_admin_change_form_makes_one_model_active(installed_models, admin_client):
    services.model_versions_sync()
    first, second = ModelVersion.objects.order_by("name")
    services.model_version_activate(version=first)

    response = admin_client.post(
        reverse("admin:predictions_modelversion_change", args=[second.pk]), {"make_active": "on"}
    )

    assert response.status_code == 302
    assert list(ModelVersion.objects.filter(active=True)) == [second]


def test_admin_refuses_to_make_an_unavailable_model_active(installed_models, admin_client):
    services.model_versions_sync()
    version = ModelVersion.objects.get(name="eigen-b")
    ModelVersion.objects.filter(pk=version.pk).update(available=False)

    response = admin_client.post(
        reverse("admin:predictions_modelversion_change", args=[version.pk]), {"make_active": "on"}
    )

    assert response.status_code == 200 and "cannot be the active model" in response.content.decode()
    assert not ModelVersion.objects.filter(active=True).exists()


def test_a_job_created_before_any_sync_records_the_fallback_model_when_it_runs(installed_models, alice, tmp_path):
    job = new_job(alice, tmp_path)
    assert job.model_version is None

    runner.run_job(services.job_claim(job_id=job.pk))

    job.refresh_from_db()
    assert job.model_version.sha256 == load_model(installed_models / "eigen-a").sha256
    services.model_versions_sync()  # the folder's row adopts the version the worker registered
    assert ModelVersion.objects.get(pk=job.model_version.pk).name == "eigen-a"
