"""The job websocket: owner only, snapshot first, then the worker's events as they are."""

from __future__ import annotations

import asyncio

import pytest
from channels.testing import WebsocketCommunicator
from django.urls import reverse

from genrec_site.asgi import application
from predictions import events, services
from predictions.consumers import CLOSE_NOT_FOUND, CLOSE_NOT_SIGNED_IN
from tests.jobs_helpers import frames, make_job, session_headers

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _in_memory_channel_layer(settings):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}


def socket(job, headers) -> WebsocketCommunicator:
    return WebsocketCommunicator(application, f"/ws/jobs/{job.public_id}/", headers=headers)


def test_consumer_refuses_an_anonymous_visitor(alice):
    job = make_job(alice)

    async def scenario():
        return await socket(job, [(b"origin", b"http://localhost")]).connect()

    assert asyncio.run(scenario()) == (False, CLOSE_NOT_SIGNED_IN)


def test_consumer_refuses_someone_elses_job(alice, bob, client):
    job = make_job(alice)
    headers = session_headers(client, bob)

    async def scenario():
        return await socket(job, headers).connect()

    assert asyncio.run(scenario()) == (False, CLOSE_NOT_FOUND)


def test_consumer_refuses_a_foreign_origin(alice, client):
    job = make_job(alice)
    headers = [
        (name, b"https://evil.example" if name == b"origin" else value)
        for name, value in session_headers(client, alice)
    ]

    async def scenario():
        connected, _ = await socket(job, headers).connect()
        return connected

    assert asyncio.run(scenario()) is False


def test_consumer_sends_the_snapshot_first_then_forwards_events(alice, client):
    job = services.job_claim(job_id=make_job(alice).pk)
    services.job_record_frames(job=job, frames=frames([0, 1]))
    headers = session_headers(client, alice)
    progress = events.progress_message(
        frames_done=3,
        frames_total=40,
        faces_found=3,
        points=[[2, 0.08, 0.8, 1]],
        latest_faces=[],
        latest_frame_index=2,
    )

    async def scenario():
        communicator = socket(job, headers)
        connected, _ = await communicator.connect()
        first = await communicator.receive_json_from()
        await asyncio.get_running_loop().run_in_executor(None, events.send_job_event, job.public_id, progress)
        second = await communicator.receive_json_from()
        await communicator.disconnect()
        return connected, first, second

    connected, first, second = asyncio.run(scenario())

    assert connected is True
    assert first["type"] == "snapshot"
    assert first["job"]["id"] == str(job.public_id) and first["job"]["status"] == "RUNNING"
    assert [point[0] for point in first["job"]["timeline"]] == [0, 1]
    assert first["job"]["urls"]["socket"] == f"/ws/jobs/{job.public_id}/"
    # Workers name the kept frame by index; the page gets its URL, and the rest of the message as it was sent.
    frame_url = reverse("job-frame", kwargs={"public_id": job.public_id, "frame_index": 2})
    assert second == {key: value for key, value in progress.items() if key != "latest_frame_index"} | {
        "latest_frame_url": frame_url
    }
