"""The job websocket with an API key: Authorization header or subprotocol, never the URL; others still refused."""

from __future__ import annotations

import asyncio

import pytest
from channels.testing import WebsocketCommunicator

from genrec_site.asgi import application
from predictions.consumers import CLOSE_NOT_FOUND, CLOSE_NOT_SIGNED_IN
from tests.predictions.web_factories import make_job

from .conftest import key_client

pytestmark = pytest.mark.django_db(transaction=True)
ORIGIN = (b"origin", b"http://localhost")


@pytest.fixture(autouse=True)
def _in_memory_channel_layer(settings):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}


def connect(path: str, headers=(), subprotocols=None):
    async def scenario():
        communicator = WebsocketCommunicator(application, path, headers=[ORIGIN, *headers], subprotocols=subprotocols)
        connected, detail = await communicator.connect()
        first = await communicator.receive_json_from() if connected else None
        await communicator.disconnect()
        return connected, detail, first

    return asyncio.run(scenario())


def test_key_as_subprotocol_is_accepted_with_the_plain_subprotocol(alice):
    job = make_job(alice)
    key = key_client(alice, scope="read").key
    offered = ["genrec.v1", f"genrec.key.{key}"]
    connected, subprotocol, first = connect(f"/ws/jobs/{job.public_id}/", subprotocols=offered)
    assert connected and subprotocol == "genrec.v1"  # the key itself is never echoed back
    assert first["type"] == "snapshot" and first["job"]["id"] == str(job.public_id)


def test_key_in_the_authorization_header_is_accepted(alice):
    job = make_job(alice)
    key = key_client(alice).key
    connected, _, first = connect(f"/ws/jobs/{job.public_id}/", headers=[(b"authorization", f"Bearer {key}".encode())])
    assert connected and first["job"]["status"] == "SUCCEEDED"


def test_key_in_the_url_is_ignored(alice):
    job = make_job(alice)
    key = key_client(alice).key
    assert connect(f"/ws/jobs/{job.public_id}/?key={key}")[:2] == (False, CLOSE_NOT_SIGNED_IN)


def test_wrong_or_foreign_keys_are_refused(alice, bob):
    job = make_job(alice)
    path = f"/ws/jobs/{job.public_id}/"
    assert connect(path, subprotocols=["genrec.v1", "genrec.key.grk_00000000_nope"])[:2] == (False, CLOSE_NOT_SIGNED_IN)
    bobs = key_client(bob).key
    assert connect(path, subprotocols=["genrec.v1", f"genrec.key.{bobs}"])[:2] == (False, CLOSE_NOT_FOUND)
