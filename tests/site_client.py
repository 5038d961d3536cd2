"""A browser-like HTTP client for a running site: cookies, CSRF, forms, uploads and the job socket.

Shared by the tests that start a real server (tests/test_quickstart.py) and the platform benchmarks
(bench/live_platform.py), so both drive the site the way its pages do.
"""

from __future__ import annotations

import http.cookiejar
import json
import secrets
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable

from websockets.sync.client import connect

FINAL_STATUSES = {"SUCCEEDED", "FAILED", "CANCELLED"}
HTTP_TIMEOUT_SECONDS = 30
PASSWORD = "site-client-pass-phrase-" + secrets.token_hex(4)
FORM_CONTENT_TYPE = {"Content-Type": "application/x-www-form-urlencoded"}


class SiteClient:
    """A browser-like HTTP client with its own cookies, CSRF token and session.

    ``base_url`` is the site's root with or without a trailing slash; paths may start with one or not.
    """

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.cookies = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.cookies))

    def url(self, path: str) -> str:
        return f"{self.base_url}/{path.lstrip('/')}"

    def cookie(self, name: str) -> str:
        """The value of one of the site's cookies."""
        return next(cookie.value for cookie in self.cookies if cookie.name == name)

    def request(self, path: str, body: bytes | None = None, headers: dict | None = None) -> tuple[int, bytes]:
        """One request; the status and body, HTTP errors included."""
        request = urllib.request.Request(self.url(path), data=body, headers=headers or {})
        try:
            with self.opener.open(request, timeout=HTTP_TIMEOUT_SECONDS) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    def get_json(self, path: str) -> dict:
        """GET a JSON document that must be there."""
        status, content = self.request(path)
        if status != 200:
            raise RuntimeError(f"GET {path} answered {status}")
        return json.loads(content)

    def submit_form(self, path: str, fields: dict[str, str]) -> str:
        """GET the page for its CSRF cookie, POST the form as the page would; the final URL after redirects."""
        self.request(path)
        body = urllib.parse.urlencode({**fields, "csrfmiddlewaretoken": self.cookie("csrftoken")}).encode()
        request = urllib.request.Request(self.url(path), data=body, headers=FORM_CONTENT_TYPE)
        with self.opener.open(request, timeout=HTTP_TIMEOUT_SECONDS) as response:
            return response.url

    def sign_up(self, username: str, password: str = PASSWORD) -> str:
        """Create the account through the sign-up form (which also signs in); the page it lands on."""
        landed = self.submit_form(
            "/accounts/signup/", {"username": username, "password1": password, "password2": password}
        )
        if not any(cookie.name == "sessionid" for cookie in self.cookies):
            raise RuntimeError(f"sign-up of {username} did not sign in (ended at {landed})")
        return landed

    def upload(self, name: str, content: bytes, content_type: str) -> tuple[int, dict]:
        """POST one file to the upload API as the site's page does (multipart, CSRF header)."""
        boundary = uuid.uuid4().hex
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
            f"Content-Type: {content_type}\r\n\r\n"
        ).encode()
        body = head + content + f"\r\n--{boundary}--\r\n".encode()
        headers = {
            "Content-Type": f"multipart/form-data; boundary={boundary}",
            "X-CSRFToken": self.cookie("csrftoken"),
            "Referer": self.url("/try/"),
        }
        status, answer = self.request("/api/jobs/", body, headers)
        return status, json.loads(answer or b"{}")

    def follow(self, job_id: str, deadline: float, on_message: Callable[[dict], None] | None = None) -> dict:
        """Open the job's socket and read until the final snapshot (the snapshot itself when the job already ended).

        ``on_message`` sees every message as it arrives, the final one included.
        """
        socket_url = self.url(f"/ws/jobs/{job_id}/").replace("http://", "ws://", 1)
        headers = {"Cookie": f"sessionid={self.cookie('sessionid')}", "Origin": self.base_url}
        with connect(socket_url, additional_headers=headers, open_timeout=HTTP_TIMEOUT_SECONDS) as job_socket:
            while True:
                message = json.loads(job_socket.recv(timeout=max(0.1, deadline - time.monotonic())))
                if on_message is not None:
                    on_message(message)
                if message["type"] == "finished" or (
                    message["type"] == "snapshot" and message["job"]["status"] in FINAL_STATUSES
                ):
                    return message["job"]
