"""``GET /api/v1/jobs/<id>/?wait=N``: the long poll, as an async view so a waiting client holds no worker thread."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from rest_framework.renderers import JSONRenderer

from predictions.events import job_group
from predictions.models import Job

# The database is the truth and the finished event only a hint: look again at least this often.
RECHECK_SECONDS = 1.0


def wait_seconds(request: HttpRequest) -> float:
    """The ``wait`` query parameter, within 0 and GENREC_API_MAX_WAIT_SECONDS (0 when absent or not a number)."""
    try:
        asked = float(request.GET.get("wait") or 0)
    except ValueError:
        return 0.0
    return max(0.0, min(asked, float(settings.GENREC_API_MAX_WAIT_SECONDS)))


@sync_to_async
def _job_is_active(public_id) -> bool:
    return Job.objects.filter(public_id=public_id, status__in=Job.ACTIVE_STATUSES).exists()


async def _wait_for_end(public_id, seconds: float) -> dict | None:
    """Wait until the job is no longer active, at most ``seconds``: its final snapshot when the finished event
    brought it, else None (ended as the database says, or the time ran out: the caller reads the database)."""
    deadline = time.monotonic() + seconds
    layer = get_channel_layer()
    channel = await layer.new_channel() if layer else None
    if channel:
        await layer.group_add(job_group(public_id), channel)  # joined before looking: the event cannot slip between
    try:
        while await _job_is_active(public_id):
            recheck = min(deadline, time.monotonic() + RECHECK_SECONDS)
            while (remaining := recheck - time.monotonic()) > 0:
                if channel is None:
                    await asyncio.sleep(remaining)
                    continue
                try:
                    event = await asyncio.wait_for(layer.receive(channel), timeout=remaining)
                except TimeoutError:
                    break
                message = event.get("message") or {}
                if message.get("type") == "finished":
                    return message.get("job")
            if time.monotonic() >= deadline:
                return None
        return None
    finally:
        if channel:
            await layer.group_discard(job_group(public_id), channel)


def with_wait(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Wrap the DRF detail view: answer at once, or for ``?wait=N`` on an active job, again once it ended.

    The DRF view does the authentication and the owner check first; only an answer it gave with 200 waits. The
    second answer is the final snapshot the finished event carried, else the DRF view's again.
    """
    sync_view = sync_to_async(view)

    async def waiting_view(request: HttpRequest, public_id, **kwargs) -> HttpResponse:
        """The DRF view's answer, or its second answer once the job ended or the wait ran out."""
        seconds = wait_seconds(request)
        response = await sync_view(request, public_id=public_id, **kwargs)
        if request.method != "GET" or seconds <= 0 or response.status_code != 200:
            return response
        response.render()
        if response.data.get("status") not in Job.ACTIVE_STATUSES:
            return response
        final = await _wait_for_end(public_id, seconds)
        if final is not None and final.get("id") == response.data.get("id"):
            # The worker's final snapshot, as the page's socket gets it: no second trip through the database.
            return HttpResponse(JSONRenderer().render(final), content_type="application/json")
        return await sync_view(request, public_id=public_id, **kwargs)

    # drf-spectacular documents the wrapped view as the DRF view it is.
    for name in ("cls", "initkwargs", "csrf_exempt"):
        if hasattr(view, name):
            setattr(waiting_view, name, getattr(view, name))
    waiting_view.__doc__ = view.__doc__
    return waiting_view
