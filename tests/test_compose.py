"""docker-compose.yml and the Dockerfile point at things that exist in the project (no Docker engine needed)."""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
import time
import urllib.parse
from pathlib import Path

import pytest
import yaml
from celery.app.utils import find_app
from django.conf import settings
from django.core.management import get_commands

REPO_ROOT = Path(__file__).resolve().parents[1]
APP_ROOT_IN_IMAGE = "/app"
LONG_RUNNING = {"web", "worker", "beat", "redis", "db"}


@pytest.fixture(scope="module")
def services() -> dict:
    return yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())["services"]


@pytest.fixture(scope="module")
def dockerfile() -> str:
    return (REPO_ROOT / "Dockerfile").read_text()


def command_of(service: dict) -> list[str]:
    command = service["command"]
    return command if isinstance(command, list) else command.split()


def load_healthcheck_module():
    spec = importlib.util.spec_from_file_location("healthcheck", REPO_ROOT / "scripts" / "healthcheck.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_compose_has_every_service_with_a_healthcheck(services):
    assert LONG_RUNNING <= set(services)
    for name in LONG_RUNNING:
        test = services[name]["healthcheck"]["test"]
        assert test and test[0] in {"CMD", "CMD-SHELL"}, name


def test_compose_web_serves_the_asgi_application_with_daphne(services):
    command = command_of(services["web"])
    assert command[0] == "daphne"
    module_name, attribute = command[-1].split(":")
    assert module_name == settings.ASGI_APPLICATION.rsplit(".", 1)[0]
    assert callable(getattr(importlib.import_module(module_name), attribute))


def test_compose_celery_services_name_the_project_celery_app(services):
    from genrec_site.celery import app

    for name, subcommand in (("worker", "worker"), ("beat", "beat")):
        command = command_of(services[name])
        assert command[:2] == ["celery", "-A"] and command[3] == subcommand, name
        assert find_app(command[2]) is app, name


def test_compose_runs_exactly_one_beat(services):
    beats = [name for name, service in services.items() if "command" in service and "beat" in command_of(service)]
    assert beats == ["beat"]
    assert services["beat"].get("deploy", {}).get("replicas", 1) == 1
    # A worker started with an embedded beat (-B) would be a second scheduler per replica.
    assert not {"-B", "--beat"} & set(command_of(services["worker"]))


def test_compose_worker_can_be_scaled(services):
    worker = services["worker"]
    assert "ports" not in worker and "container_name" not in worker


def test_compose_redis_keeps_the_queue_and_never_evicts(services):
    command = command_of(services["redis"])
    assert command[0] == "redis-server"
    assert command[command.index("--appendonly") + 1] == "yes"
    assert command[command.index("--maxmemory-policy") + 1] == "noeviction"


def test_compose_manage_py_commands_exist(services):
    commands = [command_of(service) for service in services.values() if "command" in service]
    manage_calls = [command for command in commands if "manage.py" in command]
    assert manage_calls, "the schema is migrated by a manage.py service"
    for command in manage_calls:
        assert command[command.index("manage.py") + 1] in get_commands()


def test_compose_healthchecks_name_existing_checks(services):
    checks = load_healthcheck_module().CHECKS
    for name in ("web", "worker", "beat"):
        test = services[name]["healthcheck"]["test"]
        script = next(part for part in test if part.endswith(".py"))
        assert (REPO_ROOT / script).is_file()
        assert test[-1] in checks


def test_compose_puts_media_in_the_bucket_and_mounts_no_media_volume(services, dockerfile):
    # Web writes uploads, workers read them, beat purges them: all through the bucket, so no host shares a folder.
    assert re.search(rf"^WORKDIR {APP_ROOT_IN_IMAGE}$", dockerfile, re.MULTILINE)
    media_in_image = f"{APP_ROOT_IN_IMAGE}/{(settings.BASE_DIR / 'var' / 'media').relative_to(settings.BASE_DIR)}"
    for name in ("web", "worker", "beat", "migrate"):
        service = services[name]
        mounts = [volume.split(":")[1] for volume in service.get("volumes", [])]
        assert not any(mount.startswith(media_in_image) for mount in mounts), name
        assert service["environment"]["GENREC_MEDIA_STORAGE"] == "s3", name
        endpoint = urllib.parse.urlsplit(resolved(service["environment"]["AWS_S3_ENDPOINT_URL"]))
        assert endpoint.hostname in services and "minio" in services[endpoint.hostname]["image"], name
        if name != "migrate":  # the schema needs no bucket; everything that stores media waits for it
            assert service["depends_on"]["createbucket"]["condition"] == "service_completed_successfully", name


def resolved(value: str) -> str:
    """A compose value with each ${NAME:-default} replaced by its default (no .env is read here)."""
    return re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", value)


def test_compose_creates_the_private_bucket_the_platform_uses_before_it_starts(services):
    create = services["createbucket"]
    script = " ".join(create["command"])
    bucket = resolved(create["environment"]["BUCKET"])
    assert bucket == resolved(services["web"]["environment"]["AWS_STORAGE_BUCKET_NAME"])
    assert 'mc mb --ignore-existing "genrec/$$BUCKET"' in script
    assert 'mc anonymous set none "genrec/$$BUCKET"' in script  # private: no anonymous read, ever
    assert "--prefix uploads/ --expire-days 1" in script  # the backstop of the purge
    assert create["depends_on"]["minio"]["condition"] == "service_healthy"
    assert create["restart"] == "no"
    minio = services["minio"]
    assert "ports" not in minio  # reached by the platform's services only, never published
    assert create["environment"]["MINIO_ROOT_USER"] == minio["environment"]["MINIO_ROOT_USER"]
    assert minio["healthcheck"]["test"][:2] == ["CMD", "mc"]


def test_compose_gives_the_platform_a_key_scoped_to_its_bucket(services):
    import json

    create = services["createbucket"]
    environment = services["web"]["environment"]
    key = resolved(environment["AWS_ACCESS_KEY_ID"])
    assert key == resolved(create["environment"]["PLATFORM_KEY"])
    assert key != resolved(create["environment"]["MINIO_ROOT_USER"])  # the root user stays with MinIO
    assert "MINIO_ROOT" not in environment["AWS_SECRET_ACCESS_KEY"]
    bucket = resolved(create["environment"]["BUCKET"])
    policy = json.loads(create["environment"]["POLICY"].replace("BUCKET", bucket))
    resources = {resource for statement in policy["Statement"] for resource in statement["Resource"]}
    assert resources == {f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"}
    actions = {action for statement in policy["Statement"] for action in statement["Action"]}
    assert all(action.startswith("s3:") and "*" not in action for action in actions)
    assert {"s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:ListBucket"} <= actions
    script = " ".join(create["command"])
    assert 'mc admin policy attach genrec genrec-platform --user "$$PLATFORM_KEY"' in script
    for name in ("minio", "createbucket"):
        assert re.search(r":RELEASE\.\d{4}-\d\d-\d\dT", services[name]["image"]), name  # pinned, never latest


def test_settings_build_the_s3_storage_from_the_conventional_names(monkeypatch):
    from storages.backends.s3 import S3Storage

    backend = settings.MEDIA_STORAGE_BACKENDS["s3"]
    assert backend["BACKEND"] == "storages.backends.s3.S3Storage"
    storage = S3Storage()
    assert storage.default_acl is None and storage.querystring_auth is True
    assert 0 < storage.querystring_expire <= 600  # signed URLs live minutes, not the library's default hour


def test_compose_beat_schedule_is_where_its_healthcheck_looks(services):
    command = command_of(services["beat"])
    schedule = next(part.split("=", 1)[1] for part in command if part.startswith("--schedule="))
    default = load_healthcheck_module().PROJECT_ROOT / "var" / "beat" / "celerybeat-schedule"
    assert schedule == f"{APP_ROOT_IN_IMAGE}/{default.relative_to(REPO_ROOT)}"


def test_compose_every_variable_is_documented_in_env_example(services):
    compose_text = (REPO_ROOT / "docker-compose.yml").read_text()
    variables = set(re.findall(r"\$\{(\w+)", compose_text))
    example = (REPO_ROOT / ".env.example").read_text()
    documented = set(re.findall(r"^#?\s*(\w+)=", example, re.MULTILINE))
    assert variables - documented == set()
    assert all(service.get("env_file") in (None, ".env") for service in services.values())


def test_dockerfile_installs_requirements_and_collects_static(dockerfile):
    assert "pip install -r requirements.txt" in dockerfile
    assert "manage.py collectstatic" in dockerfile
    instructions = dockerfile.replace("\\\n", " ").splitlines()
    assert any(line.startswith("ENV ") and "STATIC_MANIFEST=1" in line.split() for line in instructions)
    assert re.search(r"^USER (?!root)\w+", dockerfile, re.MULTILINE), "the image runs as a non-root user"


def test_dockerignore_keeps_secrets_and_local_state_out_of_the_image():
    ignored = set((REPO_ROOT / ".dockerignore").read_text().split())
    assert {".env", ".venv", ".git", "var/", "db.sqlite3*"} <= ignored


def test_beat_healthcheck_follows_the_schedule_file_age(tmp_path, monkeypatch):
    healthcheck = load_healthcheck_module()
    schedule = tmp_path / "celerybeat-schedule"
    monkeypatch.setenv("BEAT_SCHEDULE", str(schedule))
    assert healthcheck.beat_is_healthy() is False
    (tmp_path / "celerybeat-schedule.db").write_bytes(b"")
    assert healthcheck.beat_is_healthy() is True
    stale = time.time() - healthcheck.BEAT_STALE_SECONDS - 60
    os.utime(tmp_path / "celerybeat-schedule.db", (stale, stale))
    assert healthcheck.main(["beat"]) == 1
