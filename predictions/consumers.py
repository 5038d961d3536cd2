"""The websocket of one job: its owner gets a snapshot from the database, then the worker's events."""

from __future__ import annotations

import logging

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from .api_v1.socket_auth import socket_user
from .events import browser_message, job_group
from .models import Job
from .selectors import job_frame_url, job_snapshot

logger = logging.getLogger(__name__)

# Application close codes (4000-4999): the page stops reconnecting on these.
CLOSE_NOT_SIGNED_IN = 4403
CLOSE_NOT_FOUND = 4404


@database_sync_to_async
def _owned_job_snapshot(user, public_id) -> dict | None:
    job = Job.objects.filter(owner=user, public_id=public_id).first()
    return None if job is None else job_snapshot(job)


class JobProgressConsumer(AsyncJsonWebsocketConsumer):
    """Forwards the events of group ``job.<uuid>`` to the job's owner; anyone else is refused before accept."""

    group_name: str | None = None
    public_id = None

    async def connect(self) -> None:
        """Refuse strangers, join the job's group, then send the snapshot first."""
        user, subprotocol = await socket_user(self.scope)  # the session, or an API key (header or subprotocol)
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_NOT_SIGNED_IN)
            return
        public_id = self.public_id = self.scope["url_route"]["kwargs"]["public_id"]
        # Join before reading the database: an event sent in between arrives after the snapshot, never lost.
        self.group_name = job_group(public_id)
        await self.channel_layer.group_add(self.group_name, self.channel_name)
        snapshot = await _owned_job_snapshot(user, public_id)
        if snapshot is None:
            await self.channel_layer.group_discard(self.group_name, self.channel_name)
            self.group_name = None
            await self.close(code=CLOSE_NOT_FOUND)
            return
        await self.accept(subprotocol)
        await self.send_json({"type": "snapshot", "job": snapshot})

    async def disconnect(self, code: int) -> None:
        """Leave the job's group."""
        if self.group_name:
            await self.channel_layer.group_discard(self.group_name, self.channel_name)

    async def receive_json(self, content, **kwargs) -> None:
        """The socket is one-way: messages from the page are ignored."""

    async def job_event(self, event: dict) -> None:
        """Forward a worker's progress or finished message, with the URL of the frame it names by index."""
        await self.send_json(browser_message(event["message"], self._frame_url))

    def _frame_url(self, frame_index: int) -> str:
        return job_frame_url(self.public_id, frame_index)
