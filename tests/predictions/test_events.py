"""Live job events (predictions/events.py): message builders, the one progress throttle, sending, browser form."""

from __future__ import annotations

import asyncio

from channels.layers import get_channel_layer

from predictions.events import (
    ProgressThrottle,
    browser_message,
    finished_message,
    frame_faces,
    frame_point,
    job_group,
    progress_message,
    send_job_event,
)
from tests.jobs_helpers import frames


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_progress_throttle_merges_points_between_sends_and_always_sends_the_last():
    clock, sent = Clock(), []
    throttle = ProgressThrottle(
        "job-id", per_second=2.0, send=lambda public_id, message: sent.append(message), clock=clock
    )
    counters = {"frames_total": 10, "faces_found": 0}

    for index in range(10):
        throttle.add(points=[[index, index / 25, None, 0]], latest_faces=[])
        throttle.send(frames_done=index + 1, force=index == 9, **counters)
        clock.now += 0.25  # four frames a second against at most two events a second

    assert [message["frames_done"] for message in sent] == [1, 3, 5, 7, 9, 10]
    assert [point[0] for message in sent for point in message["points"]] == list(range(10))
    assert all(message["type"] == "progress" for message in sent)


def test_progress_throttle_sends_nothing_without_new_points_unless_forced():
    clock, sent = Clock(), []
    throttle = ProgressThrottle(
        "job-id", per_second=1.0, send=lambda public_id, message: sent.append(message), clock=clock
    )

    assert throttle.send(frames_done=0, frames_total=5, faces_found=0) is False
    assert throttle.send(frames_done=0, frames_total=5, faces_found=0, force=True) is True
    assert sent[0]["points"] == []


def test_job_group_names_one_job():
    assert job_group("6f1c") == "job.6f1c"


def test_progress_throttle_sends_progress_without_points_once_something_was_added():
    """A study's frames add no timeline points; its progress still goes out, within the same rate, with extras."""
    clock, sent = Clock(), []
    throttle = ProgressThrottle(
        "job-id", per_second=1.0, send=lambda public_id, message: sent.append(message), clock=clock
    )
    counters = {"frames_done": 1, "frames_total": 4, "faces_found": 0}

    throttle.add()
    assert throttle.send(**counters, extra={"video": {"number": 1}}) is True
    throttle.add()
    assert throttle.send(**counters) is False  # too soon
    clock.now += 1.0
    assert throttle.send(**counters, extra={"video": {"number": 2}}) is True
    assert throttle.send(**counters) is False  # nothing new since

    assert [message["video"] for message in sent] == [{"number": 1}, {"number": 2}]
    assert all(message["points"] == [] for message in sent)


def test_progress_throttle_keeps_the_latest_kept_frame_until_a_newer_one():
    sent = []
    throttle = ProgressThrottle("job-id", per_second=0, send=lambda public_id, message: sent.append(message))
    counters = {"frames_done": 1, "frames_total": 4, "faces_found": 0}

    throttle.add(points=[[0, 0.0, None, 0]], latest_frame_index=0)
    throttle.send(**counters)
    throttle.add(points=[[1, 0.04, None, 0]])
    throttle.send(**counters)

    assert [message["latest_frame_index"] for message in sent] == [0, 0]


def test_frame_point_and_faces_round_as_the_snapshot_does():
    [frame] = frames([7], faces_per_frame=2, fps=3.0)
    frame.faces[0].p_female = 0.123456789

    point = frame_point(frame)
    faces = frame_faces(frame)

    assert point[:2] == [7, 2.333] and point[3] == 2
    assert point[2] == round((0.123456789 + frame.faces[1].p_female) / 2, 4)
    assert faces[0]["p_female"] == 0.1235 and faces[0]["box"] == [10, 10, 40, 40]
    assert frame_point(frames([8], faces_per_frame=0)[0])[2:] == [None, 0]


def test_browser_message_turns_the_frame_index_into_its_url_and_leaves_other_messages_alone():
    progress = progress_message(
        frames_done=1, frames_total=2, faces_found=0, points=[], latest_faces=[], latest_frame_index=4
    )
    finished = finished_message({"id": "x"})

    shown = browser_message(progress, lambda index: f"/frames/{index}.jpg")

    assert shown["latest_frame_url"] == "/frames/4.jpg" and "latest_frame_index" not in shown
    assert progress["latest_frame_index"] == 4  # the worker's message itself is not changed
    assert browser_message(progress | {"latest_frame_index": None}, str)["latest_frame_url"] is None
    assert browser_message(finished, str) is finished


def test_send_job_event_reaches_the_jobs_group_on_a_real_channel_layer(settings):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    message = finished_message({"id": "6f1c"})

    async def scenario():
        layer = get_channel_layer()
        channel = await layer.new_channel()
        await layer.group_add(job_group("6f1c"), channel)
        await asyncio.get_running_loop().run_in_executor(None, send_job_event, "6f1c", message)
        return await layer.receive(channel)

    assert asyncio.run(scenario()) == {"type": "job.event", "message": message}


def test_send_job_event_never_breaks_the_job_when_the_layer_is_down(settings):
    nowhere = "redis://127.0.0.1:1/0"  # nothing listens there
    settings.CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": [nowhere]}}
    }

    send_job_event("6f1c", finished_message({"id": "6f1c"}))  # logs a warning, raises nothing
