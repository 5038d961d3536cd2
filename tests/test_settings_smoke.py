"""The settings load with DEBUG off and refuse what they cannot mean; pages, static files and security headers work."""

import os
import subprocess
import sys

import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.templatetags.static import static
from django.urls import reverse

from genrec_site.settings import envbool
from tests.conftest import REPO_ROOT

SHOW_SETTING = "from django.conf import settings; print(getattr(settings, sys.argv[1]))"


def load_settings(setting: str, **environment: str) -> subprocess.CompletedProcess:
    """Load the settings module in a fresh process with only these variables set; print one setting."""
    kept = {key: os.environ[key] for key in ("PATH", "HOME", "TMPDIR") if key in os.environ}
    return subprocess.run(
        [sys.executable, "-c", f"import sys; {SHOW_SETTING}", setting],
        cwd=REPO_ROOT,
        env={**kept, "DJANGO_SETTINGS_MODULE": "genrec_site.settings", **environment},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_settings_refuse_a_yes_no_typo_instead_of_reading_it_as_no():
    loaded = load_settings("SECURE_SSL_REDIRECT", SECRET_KEY="k" * 50, SECURE_SSL_REDIRECT="ture")

    assert loaded.returncode != 0
    assert "ImproperlyConfigured: SECURE_SSL_REDIRECT='ture' is not a yes/no value" in loaded.stderr


def test_settings_need_a_secret_when_debug_is_off():
    loaded = load_settings("SECRET_KEY", DEBUG="off")

    assert loaded.returncode != 0
    assert "SECRET_KEY must be set when DEBUG is off" in loaded.stderr
    assert load_settings("DEBUG", DEBUG="on").stdout.strip() == "True"


def test_settings_take_the_model_folder_from_the_pipeline(tmp_path):
    loaded = load_settings("GENREC_MODEL_DIR", SECRET_KEY="k" * 50, GENREC_MODEL_DIR=str(tmp_path))

    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.strip() == str(tmp_path)


def test_the_upload_pixel_limit_is_read_once_and_is_opencvs_limit_too():
    loaded = load_settings("GENREC_MAX_IMAGE_PIXELS", SECRET_KEY="k" * 50, GENREC_MAX_IMAGE_PIXELS="1234")
    opencv = subprocess.run(
        [sys.executable, "-c", "import os, genrec_site.settings; print(os.environ['OPENCV_IO_MAX_IMAGE_PIXELS'])"],
        cwd=REPO_ROOT,
        env={"PATH": os.environ.get("PATH", ""), "SECRET_KEY": "k" * 50, "GENREC_MAX_IMAGE_PIXELS": "1234"},
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert loaded.stdout.strip() == "1234"
    assert opencv.stdout.strip() == "1234", opencv.stderr


@pytest.mark.parametrize(
    ("value", "expected"), [("1", True), (" Yes ", True), ("on", True), ("0", False), ("off", False), ("", None)]
)
def test_envbool_reads_the_usual_words_and_keeps_the_default_for_empty(monkeypatch, value, expected):
    monkeypatch.setenv("GENREC_TEST_FLAG", value)
    assert envbool("GENREC_TEST_FLAG", True) is (True if expected is None else expected)
    assert envbool("GENREC_TEST_FLAG", False) is (False if expected is None else expected)


def test_envbool_refuses_an_unknown_word(monkeypatch):
    monkeypatch.setenv("GENREC_TEST_FLAG", "maybe")
    with pytest.raises(ImproperlyConfigured, match="GENREC_TEST_FLAG='maybe'"):
        envbool("GENREC_TEST_FLAG")


def test_settings_debug_is_off_by_default():
    assert settings.DEBUG is False


def test_urls_resolve_the_three_pages():
    assert [reverse(name) for name in ("welcome", "concept", "try")] == ["/", "/concept/", "/try/"]


def test_static_files_are_served_without_collectstatic(client):
    # Tests and the quick start never run collectstatic: the manifest storage would refuse to render any page.
    assert settings.STATIC_MANIFEST is False
    assert static("admin/css/base.css") == "/static/admin/css/base.css"
    response = client.get("/static/admin/css/base.css")
    assert response.status_code == 200
    assert b"".join(response.streaming_content)


def test_pages_carry_the_security_headers(client):
    response = client.get(reverse("welcome"))
    assert response.status_code == 200
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"


def test_https_responses_carry_hsts(client):
    response = client.get(reverse("welcome"), secure=True)
    assert response["Strict-Transport-Security"] == f"max-age={settings.SECURE_HSTS_SECONDS}"
    assert settings.SECURE_HSTS_SECONDS >= 365 * 24 * 3600


def test_ssl_redirect_sends_pages_to_https_but_not_the_health_probe(client, settings):
    settings.SECURE_SSL_REDIRECT = True
    response = client.get(reverse("welcome"))
    assert response.status_code == 301
    assert response["Location"].startswith("https://")
    assert client.get(reverse("healthz")).status_code != 301


def test_celery_and_channels_share_the_redis_url():
    assert settings.CELERY_BROKER_URL == settings.REDIS_URL
    assert settings.CHANNEL_LAYERS["default"]["CONFIG"]["hosts"] == [settings.REDIS_URL]
