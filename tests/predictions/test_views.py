"""The pages: public ones render, the others need a login; accounts; the Concept page reads the model's report."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from predictions.views import figure_caption

from .web_factories import png_bytes

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """These tests log in many times; the production hasher's deliberate slowness is not what they test."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.mark.parametrize("name", ["welcome", "concept", "login", "signup"])
def test_public_page_renders_for_anonymous(client, name):
    response = client.get(reverse(name))
    assert response.status_code == 200
    assert b"GEN_REC" in response.content


@pytest.mark.parametrize("name", ["try", "job-list", "password_change"])
def test_private_page_redirects_anonymous_to_login(client, name):
    response = client.get(reverse(name))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login") + "?next=")


def test_try_page_offers_upload_with_default_sampling(client, alice, settings):
    settings.GENREC_DEFAULT_EVERY_N_FRAMES = 5
    client.force_login(alice)
    response = client.get(reverse("try"))
    assert response.status_code == 200
    page = response.content.decode()
    assert 'name="file"' in page and reverse("job-upload") in page
    assert '<option value="5" selected>' in page
    assert "js/upload.js" in page and "js/job.js" in page and "js/timeline.js" in page


def test_pages_use_no_external_resources(client, alice):
    client.force_login(alice)
    for name in ("welcome", "concept", "try", "job-list"):
        page = client.get(reverse(name)).content.decode()
        assert "https://" not in page and "http://" not in page.replace("http://www.w3.org/2000/svg", ""), name


def test_signup_creates_the_account_logs_in_and_opens_try_it_now(client):
    response = client.post(
        reverse("signup"),
        {"username": "carol", "password1": "a-long-pass-phrase-42", "password2": "a-long-pass-phrase-42"},
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("try")
    assert get_user_model().objects.filter(username="carol").exists()
    assert client.get(reverse("try")).status_code == 200


def test_signup_with_mismatched_passwords_shows_the_error(client):
    response = client.post(reverse("signup"), {"username": "dave", "password1": "x-long-pass-1", "password2": "nope"})
    assert response.status_code == 200
    assert "password fields didn" in response.content.decode()
    assert not get_user_model().objects.filter(username="dave").exists()


def test_login_then_logout_by_post(client, alice):
    response = client.post(reverse("login"), {"username": "alice", "password": "alice-password-123"})
    assert response.status_code == 302 and response["Location"] == reverse("try")
    assert client.get(reverse("job-list")).status_code == 200
    assert client.get(reverse("logout")).status_code == 405  # Django 5: logging out is a POST
    response = client.post(reverse("logout"))
    assert response.status_code == 302
    assert client.get(reverse("job-list")).status_code == 302


def test_password_change_flow(client, alice):
    client.force_login(alice)
    assert client.get(reverse("password_change")).status_code == 200
    response = client.post(
        reverse("password_change"),
        {
            "old_password": "alice-password-123",
            "new_password1": "a-new-pass-phrase-77",
            "new_password2": "a-new-pass-phrase-77",
        },
    )
    assert response.status_code == 302 and response["Location"] == reverse("password_change_done")
    alice.refresh_from_db()
    assert alice.check_password("a-new-pass-phrase-77")
    assert client.get(reverse("password_change_done")).status_code == 200


@pytest.fixture
def model_dir(settings, tmp_path):
    """A model folder with a manifest and two report figures, as the training command writes it."""
    folder = tmp_path / "model"
    (folder / "report").mkdir(parents=True)
    manifest = {
        "name": "default",
        "created_at": "2026-11-27T08:00:00+00:00",
        "parameters": {"pca": {"n_components": 137, "whiten": True}, "svm": {"C": 10, "kernel": "rbf"}},
        "support_vectors": 4321,
        "training_data": {"train_images": 15328, "train_faces": 14151, "test_images": 3832},
        "metrics": {
            "n": 3538,
            "accuracy": 0.8629,
            "roc_auc": 0.9361,
            "race_accuracy": {"Asian": 0.8349, "Black": 0.8564},
            "adults": {
                "n": 2953,
                "accuracy": 0.8906,
                "roc_auc": 0.9560,
                "race_gap": {"best": "Indian", "worst": "Black", "gap": 0.0593},
                "race_accuracy": {"Asian": 0.8779, "Black": 0.8641},
            },
        },
    }
    metrics = {
        "groups": {
            "race_gender": {
                "Black female": {"n": 312, "accuracy": 0.8301, "accuracy_ci": [0.788, 0.872], "mean_confidence": 0.841}
            }
        }
    }
    (folder / "report" / "metrics.json").write_text(json.dumps(metrics))
    (folder / "manifest.json").write_text(json.dumps(manifest))
    (folder / "report" / "roc_curve.png").write_bytes(png_bytes())
    (folder / "report" / "eigenfaces.png").write_bytes(png_bytes())
    (folder / "report" / "report.md").write_text("# not a figure")
    settings.GENREC_MODEL_DIR = folder
    return folder


def test_concept_shows_the_manifest_numbers_and_figures(client, model_dir):
    page = client.get(reverse("concept")).content.decode()
    assert "89.1%" in page and "0.956" in page  # adults: accuracy, ROC AUC (the headline)
    assert "86.3%" in page and "0.936" in page  # all ages
    assert "137" in page and "4321" in page  # eigenfaces kept, support vectors
    assert "15328" in page and "14151" in page  # training images and faces found in them
    assert "Black (5.9%)" in page  # worst group and its gap
    assert "83.5%" in page and "87.8%" in page  # per group: Asian, all ages and adults
    assert "Black female" in page and "83.0%" in page and "78.8% – 87.2%" in page
    assert reverse("model-figure", args=["roc_curve.png"]) in page
    assert reverse("model-figure", args=["eigenfaces.png"]) in page


def test_concept_with_the_shipped_model_renders(client, settings):
    """The real manifest in models/default, whatever its numbers are today."""
    manifest_path = settings.GENREC_MODEL_DIR / "manifest.json"
    if not manifest_path.is_file():
        pytest.skip("no shipped model in models/default")
    accuracy = json.loads(manifest_path.read_text())["metrics"]["accuracy"]
    page = client.get(reverse("concept")).content.decode()
    assert f"{100 * accuracy:.1f}%" in page


def test_concept_says_so_when_the_model_report_is_missing(client, settings, tmp_path):
    settings.GENREC_MODEL_DIR = tmp_path / "nothing-here"
    response = client.get(reverse("concept"))
    assert response.status_code == 200
    assert "No trained model report is installed" in response.content.decode()


@pytest.mark.parametrize("manifest", ['{"name": "bare"}', "[1, 2]", "{not json"])
def test_concept_survives_a_sparse_or_broken_manifest(client, settings, tmp_path, manifest):
    settings.GENREC_MODEL_DIR = tmp_path
    (tmp_path / "manifest.json").write_text(manifest)
    response = client.get(reverse("concept"))
    assert response.status_code == 200
    assert ("bare" in response.content.decode()) == (manifest == '{"name": "bare"}')


def test_model_figure_serves_only_pngs_of_the_report_folder(client, model_dir):
    response = client.get(reverse("model-figure", args=["roc_curve.png"]))
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert b"".join(response.streaming_content) == (model_dir / "report" / "roc_curve.png").read_bytes()
    for name in ("report.md", "missing.png", "..%2Fmanifest.json", "%2e%2e%2fmanifest.png"):
        assert client.get(reverse("model-figure", args=["x"]).replace("x", name)).status_code == 404, name
    assert client.get("/concept/figures/../manifest.json").status_code == 404


@pytest.mark.parametrize(
    ("name", "caption"),
    [
        ("roc.png", "ROC"),
        ("accuracy_by_race_gender.png", "Accuracy by race gender"),
        ("01-eigenfaces.png", "Eigenfaces"),
    ],
)
def test_figure_captions_read_well(name, caption):
    assert figure_caption(name) == caption


def test_unknown_page_gets_the_site_404(client):
    response = client.get("/no/such/page/")
    assert response.status_code == 404
    assert "Page not found" in response.content.decode()
