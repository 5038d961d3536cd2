"""API keys on the job websocket: in the Authorization header or as a subprotocol, never in the URL."""

from __future__ import annotations

from channels.db import database_sync_to_async

from .keys import KeyAttemptsExceeded, key_from_text

# A script offers both: ``genrec.v1`` (which the server selects) and ``genrec.key.<key>`` (never echoed back).
SUBPROTOCOL = "genrec.v1"
KEY_SUBPROTOCOL_PREFIX = "genrec.key."


def presented_key(scope: dict) -> str | None:
    """The key a websocket handshake carries (Authorization: Bearer, or the key subprotocol), or None."""
    for name, value in scope.get("headers") or []:
        if name.lower() == b"authorization":
            kind, _, key = value.decode("latin-1").partition(" ")
            if kind.lower() == "bearer" and key.strip():
                return key.strip()
    for offered in scope.get("subprotocols") or []:
        if offered.startswith(KEY_SUBPROTOCOL_PREFIX):
            return offered[len(KEY_SUBPROTOCOL_PREFIX) :]
    return None


@database_sync_to_async
def _key_owner(address: str, key: str):
    try:
        row = key_from_text(address, key)
    except KeyAttemptsExceeded:
        return None
    return None if row is None else row.owner


async def socket_user(scope: dict) -> tuple[object | None, str | None]:
    """(user, subprotocol to accept with): the signed-in session's user, else a presented key's owner, else None."""
    subprotocol = SUBPROTOCOL if SUBPROTOCOL in (scope.get("subprotocols") or []) else None
    user = scope.get("user")
    if user is not None and user.is_authenticated:
        return user, subprotocol
    key = presented_key(scope)
    if key is None:
        return None, None
    address = (scope.get("client") or ["unknown"])[0] or "unknown"
    return await _key_owner(str(address)[:45], key), subprotocol
