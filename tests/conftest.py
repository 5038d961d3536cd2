"""Fixtures every test can use: the shared data folder, a private MEDIA_ROOT, two users."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.model_helpers import generated_models, installed_models  # noqa: F401  (fixtures for every test)

REPO_ROOT = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path | None:
    """The research data beside the project (../shared/data), or GENREC_SHARED_DATA; None when absent."""
    candidate = Path(os.environ.get("GENREC_SHARED_DATA") or REPO_ROOT.parent / "shared" / "data")
    return candidate if candidate.is_dir() else None


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Skip with a reason when the licensed research data is not beside the project."""
    path = shared_data_dir()
    if path is None:
        pytest.skip("../shared/data (research-only faces and clips) is not beside the project")
    return path


@pytest.fixture(autouse=True)
def _private_media_root(settings, tmp_path):
    """Every test writes uploads and results into its own temporary folder."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.MEDIA_ROOT.mkdir()
    return settings.MEDIA_ROOT


@pytest.fixture
def alice(django_user_model):
    return django_user_model.objects.create_user("alice", password="alice-password-123")


@pytest.fixture
def bob(django_user_model):
    return django_user_model.objects.create_user("bob", password="bob-password-123")


from tests.s3_media import media_backend, s3_endpoint, s3_media  # noqa: E402, F401  (fixtures for every test)
