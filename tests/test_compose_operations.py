"""docker-compose.yml's operations side: a worker kept for photos, task events on, Flower optional and guarded."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from genrec_site.celery import QUEUE_KINDS

REPO_ROOT = Path(__file__).resolve().parents[1]
CELERY_WORKERS = ("worker", "worker-photos")


@pytest.fixture(scope="module")
def services() -> dict:
    return yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())["services"]


def option(command: list[str], name: str) -> str | None:
    return command[command.index(name) + 1] if name in command else None


def test_compose_keeps_a_worker_process_for_photos_and_one_for_every_queue(services):
    photos = services["worker-photos"]["command"]
    assert photos[:4] == ["celery", "-A", "genrec_site", "worker"]
    assert option(photos, "-Q") == "photos" and "--concurrency=1" in photos
    # The other worker names no queue: it serves every one of them.
    assert option(services["worker"]["command"], "-Q") is None
    assert "photos" in QUEUE_KINDS  # the name -Q gives is the app's own (no GENREC_QUEUE_PREFIX in compose)


def test_compose_workers_send_task_events_for_flower(services):
    for name in CELERY_WORKERS:
        assert "-E" in services[name]["command"], name


def test_compose_flower_is_optional_guarded_and_on_loopback_only(services):
    flower = services["flower"]
    assert flower["profiles"] == ["monitoring"]
    assert "FLOWER_BASIC_AUTH" in flower["environment"]
    assert 'test -n "$$FLOWER_BASIC_AUTH"' in flower["command"][-1]  # refuses to start without credentials
    assert all(port.startswith("127.0.0.1:") for port in flower["ports"])
