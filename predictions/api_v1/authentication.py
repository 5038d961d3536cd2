"""`Authorization: Bearer <key>` for the API's views only (the admin and the site's pages never see keys)."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header

from .keys import KeyAttemptsExceeded, key_from_text

REFUSED_MESSAGE = "This API key is not valid (unknown, revoked, or mistyped)."


class TooManyKeyAttempts(exceptions.Throttled):
    """429 for an address that presented too many invalid keys."""

    default_detail = _("Too many invalid API keys from this address; wait a few minutes and try again.")


def client_address(request) -> str:
    """The address failed attempts are counted by: the connection's peer (a proxy must pass the real one on)."""
    return (request.META.get("REMOTE_ADDR") or "unknown")[:45]


class ApiKeyAuthentication(BaseAuthentication):
    """Authenticates a request that carries a Bearer key; requests without one fall through to the session."""

    keyword = b"bearer"

    def authenticate(self, request):
        """(owner, key row) for a valid key, None without a Bearer header; 401 or 429 otherwise."""
        header = get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword:
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed(REFUSED_MESSAGE)
        try:
            row = key_from_text(client_address(request), header[1].decode("ascii", errors="replace"))
        except KeyAttemptsExceeded:
            raise TooManyKeyAttempts() from None
        if row is None:
            raise exceptions.AuthenticationFailed(REFUSED_MESSAGE)
        return row.owner, row

    def authenticate_header(self, request) -> str:
        """Makes an unauthenticated request a 401 (with this challenge) rather than a 403."""
        return 'Bearer realm="api"'


class ApiKeyScheme(OpenApiAuthenticationExtension):
    """Describes the key to the OpenAPI document as an HTTP bearer scheme."""

    target_class = ApiKeyAuthentication
    name = "apiKey"

    def get_security_definition(self, auto_schema):
        """An HTTP bearer scheme whose token is a GEN_REC API key."""
        return {"type": "http", "scheme": "bearer", "bearerFormat": "grk_<prefix>_<secret>"}
