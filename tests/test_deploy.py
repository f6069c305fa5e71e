"""Production settings: `check --deploy` is silent with the documented variables set."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _check_deploy(**env):
    # The browser tests set DJANGO_ALLOW_ASYNC_UNSAFE for this process; production must not.
    unset = {"DEBUG", "SECRET_KEY", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    clean = {k: v for k, v in os.environ.items() if k not in unset}
    clean.update(DJANGO_SETTINGS_MODULE="antidote.settings", **env)
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
    )


def test_check_deploy_reports_nothing_with_production_variables():
    result = _check_deploy(
        SECRET_KEY=secrets.token_urlsafe(50), ALLOWED_HOSTS="billing.antidote.example"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_flags_the_development_secret_key():
    result = _check_deploy(ALLOWED_HOSTS="billing.antidote.example")
    assert result.returncode == 1
    assert "security.W009" in result.stderr + result.stdout
