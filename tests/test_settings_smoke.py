"""The settings load with DEBUG off, the URLconf resolves the three pages, static files and security headers work."""

from django.conf import settings
from django.templatetags.static import static
from django.urls import reverse


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
