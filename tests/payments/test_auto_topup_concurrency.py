"""PostgreSQL only: charges crossing the automatic top-up level at once queue one top-up (the
partial unique index decides), and racing triggers never pass the monthly maximum."""

import pytest

from billing import services as billing
from billing.models import CreditTransaction, Kind
from payments import autotopup
from payments.models import AutoTopUp, AutoTopUpRule, PaymentOrder
from tests.concurrency import run_concurrently
from tests.conftest import requires_postgres
from tests.factories import ClinicFactory, LeadFactory, fund
from tests.payments.test_auto_topup import save_method

pytestmark = [requires_postgres, pytest.mark.postgres]


def ready_clinic(razorpay, *, balance: int):
    clinic = ClinicFactory()
    fund(clinic, balance)
    LeadFactory(clinic=clinic, billing_state="duplicate")  # not idle
    save_method(clinic, razorpay)
    autotopup.save_rule(
        clinic=clinic,
        user=None,
        threshold_credits=500,
        package_id=None,
        amount_rupees=1_000,
        monthly_max_rupees=100_000,
        monthly_max_count=31,
        top_up_early=False,
    )
    return clinic


@pytest.mark.django_db(transaction=True)
def test_eight_charges_crossing_the_level_at_once_queue_one_top_up(razorpay, seeded_tiers):
    razorpay.recurring_outcome = "created"  # the debit waits: the top-up stays in flight
    clinic = ready_clinic(razorpay, balance=600)
    leads = [LeadFactory(clinic=clinic, price_credits=60) for _ in range(8)]

    run_concurrently(lambda lead: billing.charge_lead(lead=lead), leads, workers=8)

    job = AutoTopUp.objects.get()  # exactly one, whichever charge crossed first
    assert job.status == AutoTopUp.Status.CHARGING
    assert PaymentOrder.objects.count() == 1
    assert len([p for p in razorpay.payments.values() if p.get("recurring")]) == 1


@pytest.mark.django_db(transaction=True)
def test_racing_triggers_never_pass_the_monthly_number_of_top_ups(razorpay, seeded_tiers):
    clinic = ready_clinic(razorpay, balance=100)
    AutoTopUpRule.objects.update(monthly_max_count=2)

    run_concurrently(
        lambda _: [autotopup.consider(clinic_id=clinic.pk, balance=1) for _ in range(3)],
        range(8),
        workers=8,
    )

    succeeded = AutoTopUp.objects.filter(status=AutoTopUp.Status.SUCCEEDED).count()
    assert 1 <= succeeded <= 2
    purchases = CreditTransaction.objects.filter(
        account__clinic=clinic, kind=Kind.PURCHASE, idempotency_key__startswith="purchase:order:"
    )
    assert purchases.count() == succeeded
    assert not AutoTopUp.objects.filter(status__in=AutoTopUp.IN_FLIGHT).exists()
