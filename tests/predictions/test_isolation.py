"""Isolation: every URL of the project and the job socket, tried as an anonymous visitor and as another user."""

from __future__ import annotations

import re

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.contrib.contenttypes.models import ContentType
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from predictions import media
from predictions.models import Job

from .web_factories import make_job

# Pages anyone may open; everything else must send an anonymous visitor to a login page (or answer 401/404/405).
PUBLIC = {
    "welcome",
    "concept",
    "model-figure",
    "healthz",
    "favicon",
    "login",
    "signup",
    "logout",
    "admin:login",
    "admin:logout",
}
SECRET_NAME = "alice-private-holiday-7f3c.png"
CONVERTER = re.compile(r"<(?:(?P<converter>[^>:]+):)?(?P<parameter>[^>]+)>")
REGEX_GROUP = re.compile(r"\(\?P<(?P<parameter>\w+)>(?P<body>[^)]*)\)")


def all_url_patterns(resolver: URLResolver | None = None, prefix: str = "", namespace: str | None = None):
    """(qualified name or None, route) of every pattern the project answers, nested resolvers included."""
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            yield from all_url_patterns(entry, route, entry.namespace or namespace)
        elif isinstance(entry, URLPattern):
            name = f"{namespace}:{entry.name}" if namespace and entry.name else entry.name
            yield name, route


def concrete_path(route: str, values: dict[str, str]) -> str:
    """Fill a route's parameters (path converters or regex groups) with values that point at alice's data."""

    def from_converter(match: re.Match) -> str:
        return values.get(match["parameter"], values[match["converter"] or "str"])

    def from_regex(match: re.Match) -> str:
        if match["parameter"] in values:
            return values[match["parameter"]]
        return match["body"].split("|")[0] if "|" in match["body"] else "anything"

    path = CONVERTER.sub(from_converter, route)
    path = REGEX_GROUP.sub(from_regex, path).replace("^", "").replace("$", "")
    return "/" + path


@pytest.fixture
def alice_job(alice):
    return make_job(alice, name=SECRET_NAME, status=Job.Status.RUNNING)


@pytest.fixture
def urls_of_alice(alice, alice_job):
    """Every URL of the project, with alice's job, user and files as the parameters."""
    values = {
        "public_id": str(alice_job.public_id),
        "uuid": str(alice_job.public_id),
        "frame_index": "0",
        "int": "0",
        "name": "roc.png",
        "object_id": str(alice_job.pk),
        "id": str(alice.pk),
        "content_type_id": str(ContentType.objects.get_for_model(Job).pk),
        "url": "predictions/job/",
        "app_label": "predictions",
        "str": "x",
        "path": "x",
    }
    urls = [(name, concrete_path(route, values)) for name, route in all_url_patterns()]
    assert any(str(alice_job.public_id) in path for _, path in urls)
    return urls


def leaks(response, job: Job) -> bool:
    body = b"".join(response.streaming_content) if response.streaming else response.content
    return SECRET_NAME.encode() in body or str(job.public_id).encode() in body


def is_login_redirect(response) -> bool:
    location = response.get("Location", "")
    return response.status_code == 302 and (
        location.startswith(reverse("login")) or location.startswith(reverse("admin:login"))
    )


@pytest.mark.django_db
def test_every_url_refuses_anonymous_visitors(client, alice_job, urls_of_alice):
    checked = 0
    for name, path in urls_of_alice:
        for method in (client.get, client.post):
            response = method(path)
            assert not leaks(response, alice_job), (name, path, method.__name__)
            if name in PUBLIC:
                continue
            assert is_login_redirect(response) or response.status_code in (401, 404, 405), (
                name,
                path,
                method.__name__,
                response.status_code,
            )
            checked += 1
    alice_job.refresh_from_db()
    assert alice_job.status == Job.Status.RUNNING
    assert checked > 20


@pytest.mark.django_db
def test_every_url_hides_alices_job_from_bob(client, bob, alice_job, urls_of_alice):
    client.force_login(bob)
    for name, path in urls_of_alice:
        statuses = {}
        for method in (client.get, client.post):
            response = method(path)
            statuses[method.__name__] = response.status_code
            assert not leaks(response, alice_job), (name, path, method.__name__)
        if str(alice_job.public_id) in path:
            assert set(statuses.values()) <= {404, 405}, (name, path, statuses)
            assert 404 in statuses.values(), (name, path, statuses)  # the lookup never confirms the id
        elif name and name.startswith("admin:") and name != "admin:login":
            assert all(status in (302, 404, 405) for status in statuses.values()), (name, path, statuses)
    alice_job.refresh_from_db()
    assert alice_job.status == Job.Status.RUNNING
    assert media.exists(alice_job.result_frame_key(0))


@pytest.mark.django_db
def test_alice_herself_reaches_her_job(client, alice, alice_job):
    """The positive control: the same URLs answer the owner, so the 404s above are about ownership."""
    client.force_login(alice)
    assert client.get(reverse("job-detail", args=[alice_job.public_id])).status_code == 200
    assert client.get(reverse("job-snapshot", args=[alice_job.public_id])).json()["job"]["original_name"] == SECRET_NAME
    assert client.get(reverse("job-frame", args=[alice_job.public_id, 0])).status_code == 200


@pytest.mark.django_db
def test_media_files_have_no_public_alias(client, alice, alice_job, settings):
    relative = alice_job.result_frame_key(0)
    client.force_login(alice)
    for prefix in ("/media/", "/static/", "/"):
        assert client.get(prefix + relative).status_code == 404, prefix


def csrf_client(user) -> Client:
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    return client


@pytest.mark.django_db
def test_posts_without_csrf_token_are_refused(alice, alice_job):
    client = csrf_client(alice)
    assert client.post(reverse("job-upload"), {"every_n_frames": "1"}).status_code == 403
    assert client.post(reverse("job-cancel", args=[alice_job.public_id])).status_code == 403
    assert client.post(reverse("job-delete", args=[alice_job.public_id])).status_code == 403
    alice_job.refresh_from_db()
    assert alice_job.status == Job.Status.RUNNING


@pytest.mark.django_db
def test_posts_with_the_csrf_token_go_through(alice, alice_job):
    """The positive control: the 403s above come from the missing token, not from the views."""
    client = csrf_client(alice)
    client.get(reverse("try"))
    token = client.cookies["csrftoken"].value
    response = client.post(reverse("job-cancel", args=[alice_job.public_id]), HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 302
    alice_job.refresh_from_db()
    assert alice_job.status == Job.Status.CANCELLED
    response = client.post(reverse("job-delete", args=[alice_job.public_id]), HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 302 and not Job.objects.filter(pk=alice_job.pk).exists()


@pytest.fixture
def redis_channel_layer(settings):
    """The real Redis channel layer, on a database and prefix of the web tests' own."""
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": ["redis://127.0.0.1:6379/11"], "prefix": "genrec-web-tests"},
        }
    }


async def socket_outcome(path: str, *, cookie: str | None, origin: bytes = b"http://localhost"):
    from genrec_site.asgi import application

    headers = [(b"origin", origin)] + ([(b"cookie", cookie.encode())] if cookie else [])
    communicator = WebsocketCommunicator(application, path, headers=headers)
    connected, _ = await communicator.connect()
    first = await communicator.receive_json_from(timeout=5) if connected else None
    await communicator.disconnect()
    return connected, first


def session_cookie(user, settings) -> str:
    client = Client()
    client.force_login(user)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"


@pytest.mark.django_db(transaction=True)
def test_job_socket_refuses_anonymous_and_other_users(alice, bob, settings, redis_channel_layer):
    job = make_job(alice, name=SECRET_NAME, status=Job.Status.RUNNING)
    path = f"/ws/jobs/{job.public_id}/"
    assert async_to_sync(socket_outcome)(path, cookie=None) == (False, None)
    assert async_to_sync(socket_outcome)(path, cookie=session_cookie(bob, settings)) == (False, None)
    alice_cookie = session_cookie(alice, settings)
    assert async_to_sync(socket_outcome)(path, cookie=alice_cookie, origin=b"http://evil.example") == (False, None)
    connected, first = async_to_sync(socket_outcome)(path, cookie=alice_cookie)
    assert connected and first["type"] == "snapshot" and first["job"]["original_name"] == SECRET_NAME
