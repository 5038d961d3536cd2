"""Production settings: `check --deploy` passes with the documented production env; no secret, no start."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
# Everything the settings read that the test environment may have set: each run starts from none of them.
SETTINGS_VARIABLES = (
    "DEBUG",
    "SECRET_KEY",
    "SECRET_KEY_FILE",
    "ALLOWED_HOSTS",
    "CSRF_TRUSTED_ORIGINS",
    "SECURE_SSL_REDIRECT",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD",
    "SESSION_COOKIE_SECURE",
    "CSRF_COOKIE_SECURE",
    "USE_X_FORWARDED_PROTO",
    "STATIC_MANIFEST",
)


def production_env() -> dict[str, str]:
    """.env.example as an operator fills it in: its values plus a long random secret."""
    values = {}
    for line in (REPO_ROOT / ".env.example").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip()
    values["SECRET_KEY"] = secrets.token_urlsafe(50)
    values["POSTGRES_PASSWORD"] = secrets.token_hex(16)
    return values


def manage(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    """Run manage.py in a fresh interpreter with the settings variables replaced by env."""
    base = {name: value for name, value in os.environ.items() if name not in SETTINGS_VARIABLES}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=REPO_ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def show_setting(names: str, env: dict[str, str]) -> str:
    """The value of settings.<names> under env, as the shell prints it."""
    script = f"from django.conf import settings; print({', '.join(f'settings.{n}' for n in names.split())})"
    result = manage(["shell", "-c", script], env)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


def test_check_deploy_passes_with_the_documented_production_env():
    result = manage(["check", "--deploy", "--fail-level", "WARNING"], production_env())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_fails_when_debug_is_on():
    result = manage(["check", "--deploy", "--fail-level", "WARNING"], {**production_env(), "DEBUG": "1"})
    assert result.returncode != 0
    assert "security.W018" in result.stderr


def test_check_deploy_fails_with_a_short_secret():
    result = manage(["check", "--deploy", "--fail-level", "WARNING"], {**production_env(), "SECRET_KEY": "short"})
    assert result.returncode != 0
    assert "security.W009" in result.stderr


def test_settings_without_secret_key_refuse_to_start():
    env = production_env()
    del env["SECRET_KEY"]
    result = manage(["check"], env)
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_settings_read_the_secret_key_from_a_file(tmp_path):
    secret_file = tmp_path / "secret_key"
    secret_file.write_text("a-secret-read-from-a-file-" + secrets.token_hex(20) + "\n")
    env = production_env()
    del env["SECRET_KEY"]
    assert show_setting("SECRET_KEY", {**env, "SECRET_KEY_FILE": str(secret_file)}) == secret_file.read_text().strip()


def test_settings_debug_is_off_unless_asked():
    secret = {"SECRET_KEY": secrets.token_urlsafe(50)}
    assert show_setting("DEBUG", secret) == "False"
    assert show_setting("DEBUG", {**secret, "DEBUG": "0"}) == "False"
    assert show_setting("DEBUG", {"DEBUG": "1"}) == "True"


def test_settings_default_to_https_only_when_debug_is_off():
    shown = show_setting(
        "SECURE_SSL_REDIRECT SESSION_COOKIE_SECURE CSRF_COOKIE_SECURE SECURE_HSTS_SECONDS",
        {"SECRET_KEY": secrets.token_urlsafe(50)},
    )
    assert shown == "True True True 31536000"
