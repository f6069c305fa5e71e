import importlib
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
def seeded_tiers(transactional_db):
    """Transactional tests flush every table afterwards, the migration-seeded tiers too."""
    from django.apps import apps

    importlib.import_module("billing.migrations.0002_seed_pricing_tiers").seed(apps, None)


@pytest.fixture
def clinic(db):
    return factories.ClinicFactory()


@pytest.fixture
def staff(db):
    return factories.StaffFactory(username="staffer")


@pytest.fixture
def otp_login(db):
    """``otp_login(client, user)``: force_login with a verified second factor (tests/otp.py).

    Use it instead of ``client.force_login(user)`` for staff who must reach the admin.
    """
    from tests.otp import login_with_otp

    return login_with_otp


def pytest_configure(config):
    if os.environ.get("REQUIRE_POSTGRES") and connection.vendor != "postgresql":
        raise pytest.UsageError("REQUIRE_POSTGRES is set but DATABASE_URL is not PostgreSQL.")


def pytest_terminal_summary(terminalreporter):
    """How much the fuzz sent, so CI's log shows it (tests/test_fuzz.py counts its requests).

    Read from the module only if the run collected it: importing it here would build its
    URL list for every run.
    """
    import sys

    contract = sys.modules.get("tests.api.test_contract")
    if contract is not None and contract.STATS["cases"]:
        stats = contract.STATS
        by_class = ", ".join(f"{stats[c]:,} {c}" for c in ("2xx", "4xx", "5xx") if stats[c])
        terminalreporter.write_line(
            f"schemathesis: {stats['cases']:,} cases against the live API schema ({by_class})"
        )
    fuzz = sys.modules.get("tests.test_fuzz")
    if fuzz is not None and fuzz.STATS["requests"]:
        terminalreporter.write_line(
            f"fuzz: {fuzz.STATS['requests']:,} requests to {len(fuzz.FUZZED_PATTERNS)} URL patterns"
        )
