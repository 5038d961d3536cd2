"""/metrics during a real run: each kind of job waits in its own queue, and depths and job counts match the database."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from predictions import services
from predictions.models import Job
from tests.jobs_helpers import validated_upload, wait_for_job, write_face_clip, write_face_image

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True), pytest.mark.timeout(180)]

CLIP_FRAMES = 600


@pytest.fixture
def staff_client(client, django_user_model):
    client.force_login(django_user_model.objects.create_user("carol", password="carol-password-123", is_staff=True))
    return client


def scrape(client) -> dict[tuple[str, tuple], float]:
    response = client.get("/metrics")
    assert response.status_code == 200
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
    }


def depth(found: dict, queue: str) -> float:
    return found[("genrec_queue_depth", (("queue", queue),))]


def assert_job_counts_match_the_database(found: dict) -> None:
    for status in Job.Status.values:
        for kind in (Job.Kind.IMAGE, Job.Kind.VIDEO):
            assert (
                found[("genrec_jobs", (("kind", kind), ("status", status)))]
                == Job.objects.filter(status=status, kind=kind).count()
            ), (status, kind)


def test_metrics_follow_queues_and_jobs_through_a_run(alice, tmp_path, celery_test_app, worker, staff_client):
    queues = celery_test_app.conf.genrec_queues
    photo_files = [write_face_image(tmp_path / f"{n}.jpg") for n in range(2)]
    photos = [services.job_create(owner=alice, upload=validated_upload(path), every_n_frames=1) for path in photo_files]
    clip = write_face_clip(tmp_path / "clip.mp4", frames=CLIP_FRAMES)
    video = services.job_create(owner=alice, upload=validated_upload(clip), every_n_frames=1)
    frames_before = scrape(staff_client)[("genrec_frames_analysed_total", ())]

    waiting = scrape(staff_client)
    assert (depth(waiting, queues["photos"]), depth(waiting, queues["videos"])) == (2, 1)
    assert depth(waiting, queues["studies"]) == depth(waiting, queues["housekeeping"]) == 0
    assert_job_counts_match_the_database(waiting)
    assert waiting[("genrec_jobs", (("kind", "image"), ("status", "PENDING")))] == 2
    assert waiting[("genrec_oldest_pending_job_age_seconds", ())] >= 0

    with worker(concurrency=2):
        wait_for_job(video, until=lambda job: job.status == Job.Status.RUNNING and job.frames_done > 0)
        running = scrape(staff_client)
        assert running[("genrec_jobs", (("kind", "video"), ("status", "RUNNING")))] == 1
        assert depth(running, queues["videos"]) == 0
        for job in [video, *photos]:
            wait_for_job(job, until=lambda job: job.status in Job.FINAL_STATUSES)

    done = scrape(staff_client)
    assert_job_counts_match_the_database(done)
    assert done[("genrec_jobs", (("kind", "video"), ("status", "SUCCEEDED")))] == 1
    assert all(depth(done, queue) == 0 for queue in queues.values())
    assert done[("genrec_oldest_pending_job_age_seconds", ())] == 0
    assert done[("genrec_frames_analysed_total", ())] - frames_before == CLIP_FRAMES + 2
    assert done[("genrec_photo_latency_seconds_count", ())] == 2
    assert done[("genrec_job_duration_seconds_count", ())] == 3
