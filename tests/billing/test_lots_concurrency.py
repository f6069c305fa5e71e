"""PostgreSQL only: lots under concurrent charges and concurrent expiry runs."""

import pytest
from django.utils import timezone

from billing import services
from billing.models import CreditLot, CreditTransaction, Kind, LotAllocation
from billing.selectors import account_balance, ledger_discrepancies
from leads.models import Lead
from tests.concurrency import run_concurrently, succeeded
from tests.conftest import requires_postgres
from tests.factories import ClinicFactory

pytestmark = [requires_postgres, pytest.mark.postgres]


def _leads(clinic, count):
    Lead.objects.bulk_create(
        Lead(clinic=clinic, phone=f"+9191{i:08d}", price_credits=100) for i in range(count)
    )
    return list(Lead.objects.filter(clinic=clinic).order_by("id"))


@pytest.mark.django_db(transaction=True)
def test_concurrent_charges_against_expiring_lots_never_draw_an_expired_lot():
    clinic = ClinicFactory()
    # Five bonus lots of 1,000 that will have expired by the time the charges run, and one
    # live paid lot of 2,000: only 20 of the 60 charges can be paid for.
    for i in range(5):
        services.grant_credits(
            clinic=clinic, credits=1_000, kind=Kind.BONUS, idempotency_key=f"b:{i}"
        )
    services.grant_credits(clinic=clinic, credits=2_000, idempotency_key="p")
    CreditLot.objects.filter(kind="bonus").update(expires_at=timezone.now())
    leads = _leads(clinic, 60)

    outcomes = run_concurrently(
        succeeded(lambda lead: services.charge_lead(lead=lead)), leads, workers=8
    )

    assert outcomes.count(True) == 20
    paid = CreditLot.objects.get(kind="paid")
    drawn_lots = set(
        LotAllocation.objects.filter(entry__kind=Kind.LEAD_CHARGE).values_list("lot_id", flat=True)
    )
    assert drawn_lots == {paid.pk}
    assert CreditTransaction.objects.filter(kind=Kind.EXPIRY).count() == 5  # each once
    assert account_balance(clinic=clinic) == 0
    assert list(ledger_discrepancies()) == []


@pytest.mark.django_db(transaction=True)
def test_concurrent_expiry_runs_post_each_expiry_once():
    clinics = [ClinicFactory() for _ in range(6)]
    for clinic in clinics:
        for i in range(4):
            services.grant_credits(
                clinic=clinic, credits=100 + i, kind=Kind.BONUS, idempotency_key=f"{clinic.pk}:{i}"
            )
    CreditLot.objects.update(expires_at=timezone.now())

    runs = run_concurrently(
        lambda _: services.expire_credits(batch_size=5).lots, range(6), workers=6
    )

    assert sum(runs) == 24
    expiries = CreditTransaction.objects.filter(kind=Kind.EXPIRY)
    assert expiries.count() == 24
    assert expiries.values("idempotency_key").distinct().count() == 24
    assert all(account_balance(clinic=clinic) == 0 for clinic in clinics)
    assert list(ledger_discrepancies()) == []
