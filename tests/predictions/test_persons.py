"""Persons, not fragments: the job page, result.json and result.csv list the same persons after the worker's finish."""

from __future__ import annotations

import csv
import io
import json

import pytest
from django.urls import reverse

from predictions import services
from predictions.models import Job
from tests.jobs_helpers import face, frames, make_job
from workers import runner
from workers.pipeline.types import FrameResult

pytestmark = pytest.mark.django_db

FPS = 25.0


@pytest.fixture(autouse=True)
def _in_memory_channel_layer(settings):
    """The finish sends its event to a process-local layer here; the Redis one is tested in tests/integration."""
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}


def finished_job(owner, recorded: list[FrameResult]) -> Job:
    """A job whose frames were recorded and that the worker's finishing step (tracking + summary) has finished."""
    job = services.job_claim(job_id=make_job(owner, frames_total=len(recorded)).pk)
    services.job_record_frames(job=job, frames=recorded)
    assert runner.finish_job(job) is True
    job.refresh_from_db()
    return job


def one_person_and_a_false_face() -> list[FrameResult]:
    """One face in 30 consecutive frames (1.2 s); far from it, a false face in frame 12 and again in 20-22."""
    recorded = frames(range(30), fps=FPS)
    for index in (12, 20, 21, 22):
        recorded[index].faces.append(face(x=300, p_female=0.1))
    return recorded


def page_snapshot(client, job: Job) -> dict:
    """The snapshot the job page embeds and renders from."""
    page = client.get(reverse("job-detail", args=[job.public_id])).content.decode()
    return json.loads(page.split('<script id="job-snapshot" type="application/json">')[1].split("</script>")[0])


def test_page_json_and_csv_list_the_same_persons(client, alice):
    recorded = one_person_and_a_false_face()
    recorded += [
        FrameResult(index=30 + n, time_seconds=(30 + n) / FPS, faces=[face(x=200, p_female=0.2)]) for n in range(20)
    ]
    job = finished_job(alice, recorded)
    client.force_login(alice)

    on_page = [person["track_id"] for person in page_snapshot(client, job)["summary"]["persons"]]
    document = json.loads(client.get(reverse("job-result-json", args=[job.public_id])).content)
    in_json = [person["track_id"] for person in document["summary"]["persons"]]
    rows = list(
        csv.DictReader(io.StringIO(client.get(reverse("job-result-csv", args=[job.public_id])).content.decode()))
    )
    in_csv = sorted({int(row["track_id"]) for row in rows if row["track_kind"] == "person"})

    assert on_page == in_json == in_csv
    assert len(on_page) == 2
    assert {row["track_kind"] for row in rows} == {"person", "fragment", "unconfirmed"}
    fragment_rows = {row["track_id"] for row in document["detections"] if row["track_kind"] == "fragment"}
    assert fragment_rows == {fragment["track_id"] for fragment in document["summary"]["fragments"]} != set()
    unconfirmed = [row for row in rows if row["track_kind"] == "unconfirmed"]
    assert [(row["frame_index"], row["track_id"]) for row in unconfirmed] == [("12", "")]
    assert document["summary"]["unconfirmed_faces"] == 1


def test_a_one_frame_false_face_is_not_a_person_on_the_page(client, alice):
    job = finished_job(alice, one_person_and_a_false_face())
    client.force_login(alice)

    snapshot = page_snapshot(client, job)

    summary = snapshot["summary"]
    assert [person["frames_seen"] for person in summary["persons"]] == [30]
    # Seen once: no track at all. Seen three frames in a row (0.08 s): a track, but a fragment, not a person.
    assert summary["unconfirmed_faces"] == 1
    assert [(fragment["frames_seen"], fragment["is_person"]) for fragment in summary["fragments"]] == [(3, False)]
    assert summary["main_track_id"] == summary["persons"][0]["track_id"]
    assert summary["label"] == summary["persons"][0]["label"] == "female"
    # Only persons have a smoothed curve on the timeline; the false face stays in the raw values.
    assert list(snapshot["persons_timeline"]) == [str(summary["main_track_id"])]
    curve = snapshot["persons_timeline"][str(summary["main_track_id"])]
    assert [point[0] for point in curve] == list(range(30))
    assert snapshot["timeline"][12][3] == 2


def test_the_csv_keeps_the_raw_p_female_beside_the_smoothed_curve(client, alice):
    recorded = frames(range(30), fps=FPS)
    for frame in recorded:
        frame.faces[0] = face(p_female=0.9 if frame.index % 2 else 0.6)
    job = finished_job(alice, recorded)
    client.force_login(alice)

    rows = list(
        csv.DictReader(io.StringIO(client.get(reverse("job-result-csv", args=[job.public_id])).content.decode()))
    )

    assert [float(row["p_female"]) for row in rows] == [face.p_female for frame in recorded for face in frame.faces]
    smoothed = [float(row["p_female_smoothed"]) for row in rows]
    assert max(smoothed) - min(smoothed) < 0.3 * (0.9 - 0.6)
