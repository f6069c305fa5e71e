"""PostgreSQL only: real concurrent postings, and the trigger that keeps the ledger append-only."""

import pytest
from django.db import DatabaseError, connection, transaction

from antidote.errors import AntidoteError
from billing import services
from billing.models import CreditAccount, CreditTransaction, Kind
from billing.selectors import account_balance, ledger_discrepancies
from leads.models import Lead
from tests.concurrency import run_concurrently, run_overlapped, succeeded
from tests.conftest import requires_postgres
from tests.factories import ClinicFactory, fund

pytestmark = [requires_postgres, pytest.mark.postgres]


def _make_leads(clinic, count, price_credits=100):
    Lead.objects.bulk_create(
        Lead(clinic=clinic, phone=f"+9190{i:08d}", price_credits=price_credits)
        for i in range(count)
    )
    return list(Lead.objects.filter(clinic=clinic).order_by("id"))


@pytest.mark.django_db(transaction=True)
def test_sixteen_workers_charging_two_thousand_leads_of_one_clinic_lose_nothing():
    clinic = ClinicFactory()
    fund(clinic, 250_000)
    leads = _make_leads(clinic, 2_000)

    entries = run_concurrently(lambda lead: services.charge_lead(lead=lead).pk, leads, workers=16)

    assert len(set(entries)) == 2_000
    assert account_balance(clinic=clinic) == 250_000 - 2_000 * 100
    charges = CreditTransaction.objects.filter(kind=Kind.LEAD_CHARGE)
    assert charges.count() == 2_000
    assert charges.values("lead").distinct().count() == 2_000
    assert list(ledger_discrepancies()) == []


@pytest.mark.django_db(transaction=True)
def test_clinic_funded_for_n_leads_gets_exactly_n_of_4n_concurrent_charges():
    n = 25
    clinic = ClinicFactory()
    fund(clinic, n * 100)
    leads = _make_leads(clinic, 4 * n)

    outcomes = run_concurrently(
        succeeded(lambda lead: services.charge_lead(lead=lead)), leads, workers=16
    )

    assert outcomes.count(True) == n
    assert outcomes.count(False) == 3 * n
    assert account_balance(clinic=clinic) == 0
    # The chain never passed the floor at any point, not only at the end.
    assert min(CreditTransaction.objects.values_list("balance_after", flat=True)) == 0
    assert list(ledger_discrepancies()) == []


@pytest.mark.django_db(transaction=True)
def test_replays_of_one_purchase_from_many_workers_credit_once():
    clinic = ClinicFactory()
    keys = ["purchase:order:77"] * 40
    entries = run_concurrently(
        lambda key: services.grant_credits(clinic=clinic, credits=500, idempotency_key=key).pk,
        keys,
        workers=8,
    )
    assert len(set(entries)) == 1
    assert account_balance(clinic=clinic) == 500


@pytest.mark.django_db
@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE billing_credittransaction SET credits = 1000000",
        "DELETE FROM billing_credittransaction",
    ],
)
def test_database_trigger_refuses_update_and_delete_of_ledger_rows(statement):
    clinic = ClinicFactory()
    fund(clinic, 100)
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(statement)
    assert CreditTransaction.objects.get().credits == 100
    assert CreditAccount.objects.get(clinic=clinic).balance == 100


@pytest.mark.django_db(transaction=True)
def test_two_overlapping_partial_refunds_of_one_lead_never_refund_more_than_its_charge():
    """refund_lead_charge locks the account before reading what is left to refund. Without that
    lock both refunds read 'nothing refunded yet' and both post (tried: red)."""
    clinic = ClinicFactory()
    fund(clinic, 1_000)
    lead = _make_leads(clinic, 1)[0]
    services.charge_lead(lead=lead)

    def refund(key):
        return lambda: services.refund_lead_charge(lead=lead, credits=60, idempotency_key=key)

    outcomes = run_overlapped(
        CreditAccount.objects.filter(clinic=clinic), [refund("refund:a"), refund("refund:b")]
    )

    # Both wait on the same account row, so either may go first; one of them must be refused.
    refused = [o for o in outcomes if isinstance(o, AntidoteError)]
    assert len(refused) == 1, outcomes
    assert "at most 40 can be refunded" in refused[0].message
    refunds = CreditTransaction.objects.filter(lead=lead, kind=Kind.DISPUTE_REFUND)
    assert sum(refunds.values_list("credits", flat=True)) == 60
    assert account_balance(clinic=clinic) == 960
    assert list(ledger_discrepancies()) == []
