"""The contract is a file: docs/openapi.yaml matches the code, validates as OpenAPI 3, and /api/v1/docs/ shows it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from django.urls import reverse
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiYamlRenderer
from openapi_spec_validator import validate

from predictions import selectors
from predictions.api_v1 import serializers
from predictions.api_v1.urls import urlpatterns
from tests.predictions.web_factories import make_job

OPENAPI_FILE = Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml"
REGENERATE = "regenerate it: python manage.py spectacular --file docs/openapi.yaml"


def generated_document() -> bytes:
    return OpenApiYamlRenderer().render(SchemaGenerator().get_schema(request=None, public=True))


def test_committed_document_matches_the_code():
    assert OPENAPI_FILE.read_bytes() == generated_document(), f"docs/openapi.yaml is out of date: {REGENERATE}"


def test_committed_document_is_valid_openapi_3():
    document = yaml.safe_load(OPENAPI_FILE.read_text())
    validate(document)
    assert document["openapi"].startswith("3.")


def test_every_api_route_is_in_the_document():
    paths = yaml.safe_load(OPENAPI_FILE.read_text())["paths"]
    documented = {re.sub(r"\{[^}]+\}", "{}", path) for path in paths}
    routes = {
        "/" + re.sub(r"<[^>]+>", "{}", str(pattern.pattern))
        for pattern in urlpatterns
        if pattern.name.startswith("api-v1-") and pattern.name not in {"api-v1-schema", "api-v1-docs", "api-v1-redoc"}
    }
    assert routes == documented


def test_detection_fields_are_the_csv_columns():
    assert tuple(serializers.DetectionSerializer().fields) == selectors.RESULT_COLUMNS


@pytest.mark.django_db
def test_snapshot_keys_are_the_documented_fields(alice):
    assert set(selectors.job_snapshot(make_job(alice))) == set(serializers.JobSnapshotSerializer().fields)


@pytest.mark.django_db
def test_docs_page_uses_files_from_this_site_only(client, alice):
    assert client.get(reverse("api-v1-docs")).status_code == 401  # signed in, like every page but a few
    client.force_login(alice)
    page = client.get(reverse("api-v1-docs"))
    assert page.status_code == 200
    sources = re.findall(rb'(?:src|href)="([^"]+)"', page.content)
    assert sources and all(source.startswith(b"/") for source in sources), sources
    for source in sources:
        if source.startswith(b"/static/"):
            assert client.get(source.decode()).status_code == 200, source
    schema = client.get(reverse("api-v1-schema"))
    assert schema.status_code == 200 and b"/api/v1/jobs/" in schema.content
