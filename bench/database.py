"""What the benchmarks share: their PostgreSQL database, created when missing."""

import os
from urllib.parse import urlparse


def use_database(url: str) -> str:
    """Point Django, before it is set up, at ``url`` with what a page benchmark needs: test
    payments, jobs run in place, no mail, no HTTPS redirect, the test client's host."""
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "antidote.settings")
    os.environ.setdefault("PAYMENT_MODE", "test")
    os.environ.setdefault("CELERY_TASK_ALWAYS_EAGER", "true")
    os.environ.setdefault("SECURE_SSL_REDIRECT", "false")
    os.environ["EMAIL_URL"] = "dummymail://"
    os.environ.setdefault("ALLOWED_HOSTS", "testserver,127.0.0.1,localhost")
    return url


def ensure_database(url: str) -> None:
    import psycopg

    parsed = urlparse(url)
    name = parsed.path.lstrip("/")
    admin = parsed._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def prepare_django(url: str) -> None:
    """Create and migrate the database, set Django up, DEBUG off (no query log) and static
    files served by name (no collectstatic manifest)."""
    ensure_database(url)
    import django

    django.setup()
    from django.core.management import call_command
    from django.test.utils import override_settings

    call_command("migrate", verbosity=0)
    override_settings(
        STORAGES={
            "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
            "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
        }
    ).enable()
