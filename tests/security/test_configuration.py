"""Production configuration, checked by starting Django in a real subprocess."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth.hashers import make_password

from libstaff import settings as project_settings

ROOT = Path(__file__).resolve().parents[2]


def run_manage(*args, **env):
    # The browser tests' async-unsafe switch must not leak into a production check.
    inherited = {"SECRET_KEY", "DJANGO_ENV", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    environment = {k: v for k, v in os.environ.items() if k not in inherited}
    environment.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def production(**env):
    return {
        "DJANGO_ENV": "production",
        "DATABASE_URL": os.environ["DATABASE_URL"],
        "ALLOWED_HOSTS": "libstaff.example.org",
    } | env


def test_production_refuses_to_start_without_a_secret_key():
    result = run_manage("check", **production())
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_production_passes_the_deployment_checks():
    result = run_manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        **production(SECRET_KEY=secrets.token_urlsafe(50)),
    )
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_development_generates_a_secret_key_when_none_is_given():
    key_file = project_settings.DATA_DIR / "secret_key"
    assert key_file.exists()
    assert len(key_file.read_text().strip()) >= 50


@pytest.mark.django_db
def test_passwords_are_hashed_with_argon2_outside_tests(settings):
    """Tests use a fast hasher; the project's own setting puts Argon2 first."""
    settings.PASSWORD_HASHERS = project_settings.PASSWORD_HASHERS
    assert make_password("Library2024").startswith("argon2$")
