"""API test fixtures: keys for alice and bob, a client that sends a key, webhooks allowed to loopback."""

from __future__ import annotations

import pytest
from django.test import Client

from predictions.api_v1.keys import api_key_create


class KeyClient(Client):
    """A test client that sends ``Authorization: Bearer <key>`` with every request, and no session."""

    def __init__(self, key: str, **kwargs) -> None:
        super().__init__(HTTP_AUTHORIZATION=f"Bearer {key}", **kwargs)
        self.key = key


def key_client(user, scope: str = "write") -> KeyClient:
    """A client holding a new key of ``user`` with ``scope``."""
    return KeyClient(api_key_create(owner=user, name=f"{user.username}-{scope}", scope=scope).key)


@pytest.fixture(autouse=True)
def _webhooks_to_loopback(settings):
    """Tests run their webhook receivers on loopback, which the operator setting allows."""
    settings.GENREC_WEBHOOK_ALLOW_PRIVATE = True


@pytest.fixture
def alice_api(alice) -> KeyClient:
    return key_client(alice)


@pytest.fixture
def bob_api(bob) -> KeyClient:
    return key_client(bob)


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_user("carol", password="carol-password-123", is_staff=True)
