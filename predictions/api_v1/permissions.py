"""Who may do what on the API: signed in (key or session); a read-only key only reads; studies are for staff."""

from __future__ import annotations

from rest_framework.permissions import SAFE_METHODS, BasePermission

from predictions.models_api import ApiKey


class KeyScopePermission(BasePermission):
    """Signed in, and when by key, a write needs a read + write key."""

    message = "This API key is read-only: create a read + write key to change anything."

    def has_permission(self, request, view) -> bool:
        """Authenticated; writes through a key need its write scope."""
        if not (request.user and request.user.is_authenticated):
            return False
        if isinstance(request.auth, ApiKey) and request.method not in SAFE_METHODS:
            return request.auth.can_write
        return True


class IsStaff(BasePermission):
    """Staff members only (the deepfake study)."""

    message = "Only staff members can run the deepfake study."

    def has_permission(self, request, view) -> bool:
        """Whether the signed-in person is staff."""
        return bool(request.user and request.user.is_staff)
