import os

import pytest
from django.db import connection

from tests import factories

requires_postgres = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="needs PostgreSQL (row locks, triggers, real concurrency); "
    "run with DATABASE_URL=postgres://… as .ci/run does",
)


@pytest.fixture
def clinic(db):
    return factories.ClinicFactory()


@pytest.fixture
def staff(db):
    return factories.StaffFactory(username="staffer")


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    # PBKDF2's deliberate slowness only slows the suite; production keeps the default.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def pytest_configure(config):
    if os.environ.get("REQUIRE_POSTGRES") and connection.vendor != "postgresql":
        raise pytest.UsageError("REQUIRE_POSTGRES is set but DATABASE_URL is not PostgreSQL.")
