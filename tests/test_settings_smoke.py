"""The settings load with DEBUG off and the URLconf resolves the three pages."""

from django.conf import settings


def test_settings_debug_is_off_by_default():
    assert settings.DEBUG is False
