"""A script's HTTP client for the API (a key instead of a session), and key creation on the account page.

Shared by the platform test (tests/api/test_platform.py) and the latency benchmark (bench/latency.py --api).
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.parse
import urllib.request
import uuid

from tests.site_client import FORM_CONTENT_TYPE, HTTP_TIMEOUT_SECONDS, SiteClient

KEY = re.compile(r"grk_[0-9a-f]{8}_[A-Za-z0-9]+")
SECRET = re.compile(r"whsec_[0-9a-f]+")


class ApiClient(SiteClient):
    """The site client speaking the API with a key instead of a session."""

    def __init__(self, base_url: str, key: str) -> None:
        super().__init__(base_url)
        self.key = key

    def call(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
        """One request with the key; the status, body and headers, HTTP errors included."""
        request = urllib.request.Request(
            self.url(path), data=body, method=method, headers={"Authorization": f"Bearer {self.key}", **(headers or {})}
        )
        try:
            with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_SECONDS + 90) as response:
                return response.status, response.read(), response.headers
        except urllib.error.HTTPError as error:
            return error.code, error.read(), error.headers

    def upload(self, name: str, content: bytes, fields: dict[str, str]) -> tuple[int, dict]:
        """POST one file and form fields to /api/v1/jobs/ (multipart); the status and the JSON answer."""
        boundary = uuid.uuid4().hex
        field = '--{}\r\nContent-Disposition: form-data; name="{}"\r\n\r\n{}\r\n'
        parts = [field.format(boundary, key, value) for key, value in fields.items()]
        head = f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n\r\n'
        body = "".join(parts).encode() + head.encode() + content + f"\r\n--{boundary}--\r\n".encode()
        status, answer, _ = self.call(
            "POST", "/api/v1/jobs/", body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}
        )
        return status, json.loads(answer)

    def json(self, path: str, method: str = "GET") -> tuple[int, dict]:
        """A request whose answer is JSON (or empty); the status and the document."""
        status, answer, _ = self.call(method, path)
        return status, json.loads(answer) if answer else {}


def create_key(browser: SiteClient, name: str, scope: str) -> tuple[str, str]:
    """Create a key on the account page, as a person does; the key and its webhook secret, read from the page."""
    browser.request("/accounts/api-keys/")
    form = {"name": name, "scope": scope, "csrfmiddlewaretoken": browser.cookie("csrftoken")}
    status, page = browser.request("/accounts/api-keys/", urllib.parse.urlencode(form).encode(), FORM_CONTENT_TYPE)
    if status != 201:
        raise RuntimeError(f"the API keys page answered {status}")
    text = page.decode()
    return KEY.search(text).group(0), SECRET.search(text).group(0)
