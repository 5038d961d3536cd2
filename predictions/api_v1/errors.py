"""The API's one error shape, the site's own: ``{"error": "readable message"}`` (plus ``fields`` when a form fails)."""

from __future__ import annotations

from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler


def error_response(message: str, status: int, **extra) -> Response:
    """A JSON error answer."""
    return Response({"error": message, **extra}, status=status)


def _first_message(detail) -> str:
    if isinstance(detail, dict):
        name, value = next(iter(detail.items()))
        return f"{name}: {_first_message(value)}"
    if isinstance(detail, list):
        return _first_message(detail[0]) if detail else "Invalid input."
    return str(detail)


def api_exception_handler(exc, context):
    """DRF's handling (status, headers), with the body rewritten to {"error": …}."""
    response = exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        response.data = {"error": _first_message(exc.detail), "fields": exc.detail}
    else:
        response.data = {"error": _first_message(response.data.get("detail", response.data))}
    return response
