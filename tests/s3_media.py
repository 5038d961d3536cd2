"""Media on a real S3-protocol server: moto's ThreadedMotoServer on loopback, one bucket per test."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator

import boto3
import pytest

ACCESS_KEY = "genrec-test"
SECRET_KEY = "genrec-test-secret"
REGION = "us-east-1"


def free_port() -> int:
    """A loopback TCP port nothing listens on (this module imports nothing of Django: bench scripts load conftest)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """The URL of an S3-protocol server this test session runs on 127.0.0.1 (a thread of the test process)."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def s3_client(endpoint: str):
    """A boto3 client of the test server, to look into the bucket behind the platform's back."""
    return boto3.client(
        "s3", endpoint_url=endpoint, aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY, region_name=REGION
    )


def s3_environment(endpoint: str, bucket: str) -> dict[str, str]:
    """The environment that points a process of the platform (web, worker, beat) at that bucket."""
    return {
        "GENREC_MEDIA_STORAGE": "s3",
        "AWS_STORAGE_BUCKET_NAME": bucket,
        "AWS_S3_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "AWS_S3_REGION_NAME": REGION,
    }


def bucket_keys(endpoint: str, bucket: str) -> list[str]:
    """Every key in the bucket."""
    pages = s3_client(endpoint).get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return sorted(item["Key"] for page in pages for item in page.get("Contents", []))


@pytest.fixture
def s3_media(settings, s3_endpoint) -> str:
    """This test's media in a new private bucket of the test server (settings as GENREC_MEDIA_STORAGE=s3 sets them)."""
    bucket = f"genrec-test-{uuid.uuid4().hex[:12]}"
    s3_client(s3_endpoint).create_bucket(Bucket=bucket)
    settings.GENREC_MEDIA_STORAGE = "s3"
    settings.AWS_STORAGE_BUCKET_NAME = bucket
    settings.AWS_S3_ENDPOINT_URL = s3_endpoint
    settings.AWS_ACCESS_KEY_ID = ACCESS_KEY
    settings.AWS_SECRET_ACCESS_KEY = SECRET_KEY
    settings.AWS_S3_REGION_NAME = REGION
    settings.AWS_S3_ADDRESSING_STYLE = "path"
    # Changing STORAGES makes Django build the default storage again, now from the settings above.
    settings.STORAGES = {**settings.STORAGES, "default": settings.MEDIA_STORAGE_BACKENDS["s3"]}
    return bucket


@pytest.fixture(params=["fs", "s3"])
def media_backend(request) -> str:
    """Run the test once with media on the file system and once in a bucket of the test S3 server."""
    if request.param == "s3":
        request.getfixturevalue("s3_media")
    return request.param
