"""The worker's progress sender: at most N events a second, no point lost, the last one always sent."""

from __future__ import annotations

from predictions.events import ProgressThrottle, job_group


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
