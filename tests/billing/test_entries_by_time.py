"""One clinic's entries in a time range, found by id (no (account, created_at) index): the
same rows as a plain filter on the time, with entries of other clinics interleaved, times a
little out of order (a posting that waited for the lock), and empty accounts."""

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from billing import selectors
from billing import services as billing
from billing.models import CreditTransaction
from tests.conftest import requires_postgres
from tests.factories import ClinicFactory

START = timezone.now().replace(microsecond=0) - timedelta(days=40)
# Hours after START at which entries are posted, in posting order: mostly forward, with two
# postings whose time is an hour and a minute behind the one before (a wait for the lock).
HOURS = [0, 5, 30, 29, 31, 100, 240, 240, 241, 500, 499.98, 700, 900]


@pytest.fixture
def posted(db, monkeypatch):
    clinic, other = ClinicFactory(), ClinicFactory()
    at = {"now": START}
    monkeypatch.setattr(timezone, "now", lambda: at["now"])
    for i, hours in enumerate(HOURS):
        at["now"] = START + timedelta(hours=hours)
        for owner in (clinic, other):  # interleaved ids
            billing.grant_credits(
                clinic=owner, credits=1, kind="bonus", idempotency_key=f"t:{owner.pk}:{i}"
            )
    return clinic


def plain(clinic, since, until):
    entries = CreditTransaction.objects.filter(account__clinic=clinic)
    if since:
        entries = entries.filter(created_at__gte=since)
    if until:
        entries = entries.filter(created_at__lt=until)
    return sorted(entries.values_list("pk", flat=True))


def test_a_time_range_finds_the_same_entries_as_a_filter_on_time(posted):
    bounds = [None] + [
        START + timedelta(hours=h) for h in (-1, 0, 0.5, 29.5, 30, 240, 499.99, 2000)
    ]
    for since in bounds:
        for until in bounds:
            found = selectors.entries_between(clinic=posted, since=since, until=until)
            assert sorted(found.values_list("pk", flat=True)) == plain(posted, since, until), (
                since,
                until,
            )


def test_the_history_date_filter_and_the_export_use_it(posted):
    day = timezone.localtime(START + timedelta(hours=240)).date()
    shown = selectors.transactions_for(clinic=posted, date_from=day, date_to=day)
    exported = selectors.ledger_rows(clinic=posted, date_from=day, date_to=day)
    expected = [
        e.pk
        for e in CreditTransaction.objects.filter(account__clinic=posted)
        if timezone.localtime(e.created_at).date() == day
    ]
    assert expected and sorted(e.pk for e in shown) == sorted(expected)
    assert [e.pk for e in exported] == sorted(expected)


@requires_postgres
@pytest.mark.postgres
def test_bisection_returns_the_first_entry_at_or_after_an_instant(posted):
    account_id = posted.credit_account.pk
    entries = list(CreditTransaction.objects.filter(account_id=account_id).order_by("id"))

    def first_at(at):
        with connection.cursor() as cursor:
            cursor.execute("SELECT billing_first_entry_at(%s, %s)", [account_id, at])
            return cursor.fetchone()[0]

    for entry in entries:
        # Exact where the times are in order around the entry (elsewhere the slack covers it).
        before = [e.created_at for e in entries if e.pk < entry.pk]
        after = [e.created_at for e in entries if e.pk > entry.pk]
        if all(t < entry.created_at for t in before) and all(t >= entry.created_at for t in after):
            assert first_at(entry.created_at) == entry.pk
    assert first_at(START - timedelta(days=1)) == entries[0].pk
    assert first_at(START + timedelta(days=365)) == entries[-1].pk + 1  # none: past the last
    empty = ClinicFactory().credit_account.pk
    with connection.cursor() as cursor:
        cursor.execute("SELECT billing_first_entry_at(%s, %s)", [empty, START])
        assert cursor.fetchone()[0] == 0


@requires_postgres
@pytest.mark.postgres
def test_the_range_reaches_the_query_as_numbers_at_both_ends(posted):
    # As a function call the planner cannot see the range: it scanned another index and
    # called the function for every row (3.4 s for a month of a million-row clinic). With one
    # end alone it guesses the range's share of the whole table and may scan it all.
    since = START + timedelta(hours=30)
    sql = str(selectors.entries_between(clinic=posted, since=since).query)
    assert "billing_first_entry_at" not in sql
    assert '"id" >= ' in sql and '"id" < ' in sql
