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
