"""PostgreSQL only: the same patient submitting many times at once is charged once."""

import pytest

from billing.models import CreditTransaction, Kind
from billing.selectors import account_balance, ledger_discrepancies
from leads import services
from leads.models import Lead
from tests.concurrency import run_concurrently
from tests.conftest import requires_postgres
from tests.factories import ClinicFactory, fund

pytestmark = [requires_postgres, pytest.mark.postgres, pytest.mark.usefixtures("seeded_tiers")]


@pytest.mark.django_db(transaction=True)
def test_fifty_concurrent_submissions_of_one_patient_make_one_charge_and_49_duplicates():
    clinic = ClinicFactory()
    fund(clinic, 10_000)

    pks = run_concurrently(
        lambda _: services.submit_enquiry(clinic=clinic, name="Asha", phone="9876543210").pk,
        range(50),
        workers=16,
    )

    assert len(set(pks)) == 50
    states = list(Lead.objects.values_list("billing_state", flat=True))
    assert states.count(Lead.Billing.CHARGED) == 1
    assert states.count(Lead.Billing.DUPLICATE) == 49
    assert CreditTransaction.objects.filter(kind=Kind.LEAD_CHARGE).count() == 1
    assert account_balance(clinic=clinic) == 10_000 - 100
    original = Lead.objects.get(billing_state=Lead.Billing.CHARGED)
    assert set(Lead.objects.exclude(pk=original.pk).values_list("duplicate_of", flat=True)) == {
        original.pk
    }
    assert list(ledger_discrepancies()) == []


@pytest.mark.django_db(transaction=True)
def test_concurrent_grants_release_each_held_lead_exactly_once():
    clinic = ClinicFactory()
    for i in range(10):
        services.submit_enquiry(clinic=clinic, name="P", phone=f"900000000{i}")
    assert Lead.objects.filter(billing_state=Lead.Billing.HELD).count() == 10

    run_concurrently(lambda i: fund(clinic, 200, key=f"purchase:order:{i}"), range(8), workers=8)

    assert Lead.objects.filter(billing_state=Lead.Billing.CHARGED).count() == 10
    assert CreditTransaction.objects.filter(kind=Kind.LEAD_CHARGE).count() == 10
    assert account_balance(clinic=clinic) == 8 * 200 - 10 * 100
    assert list(ledger_discrepancies()) == []
