"""PostgreSQL only: a promo code's limit holds under concurrent orders; an order is settled
once even when two reports of it overlap."""

import pytest

from antidote.errors import AntidoteError
from billing.models import CreditAccount
from billing.selectors import account_balance, ledger_discrepancies
from payments import services
from payments.models import CreditPackage, PaymentOrder, PromoCode, PromoRedemption
from tests.concurrency import run_concurrently, run_overlapped, succeeded
from tests.conftest import requires_postgres
from tests.factories import ClinicFactory

pytestmark = [requires_postgres, pytest.mark.postgres]


@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_orders_with_a_five_use_code_redeem_exactly_five(razorpay):
    # Transactional tests flush the seeded packages, so this test makes its own.
    starter = CreditPackage.objects.create(name="Starter", price_paise=1_000_00, credits=1_000)
    PromoCode.objects.create(code="FIVE", discount_value=10, max_uses=5)
    clinics = [ClinicFactory() for _ in range(20)]

    def order(clinic):
        quote = services.quote_topup(clinic=clinic, package_id=starter.pk, promo_code="five")
        services.create_order(clinic=clinic, user=None, quote=quote)

    outcomes = run_concurrently(succeeded(order), clinics, workers=10)

    assert outcomes.count(True) == 5
    assert PromoRedemption.objects.exclude(status="released").count() == 5
    assert len(razorpay.orders) == 5


# The order row lock. Each test holds the clinic's credit account from a second connection, so
# the first settlement is certain to be inside its transaction (order read, credits not yet
# posted) while the second operation starts; without the order lock both act on the same
# unpaid order. Removing select_for_update from settle_paid_order or _close_unpaid turns these
# red; that was tried.


def _pending_order(clinic):
    return PaymentOrder.objects.create(
        clinic=clinic,
        base_amount_paise=1_000_00,
        amount_paise=1_000_00,
        credits=1_000,
        bonus_credits=250,
        status=PaymentOrder.Status.PENDING,
        razorpay_order_id="order_race",
    )


def _settle(order, payment_id):
    return lambda: services.settle_paid_order(
        order=PaymentOrder.objects.get(pk=order.pk), payment_id=payment_id, source="test"
    )


@pytest.mark.django_db(transaction=True)
def test_two_payments_settling_one_order_at_once_credit_it_once_for_one_of_them():
    clinic = ClinicFactory()
    order = _pending_order(clinic)

    outcomes = run_overlapped(
        CreditAccount.objects.filter(clinic=clinic),
        [_settle(order, "pay_first"), _settle(order, "pay_second")],
    )

    paid = [o for o in outcomes if isinstance(o, PaymentOrder)]
    refused = [o for o in outcomes if isinstance(o, AntidoteError)]
    assert (len(paid), len(refused)) == (1, 1), outcomes
    assert "already paid by another payment" in refused[0].message
    order.refresh_from_db()
    # The order names the payment that was credited (the first: it held the order row).
    assert order.razorpay_payment_id == "pay_first"
    assert account_balance(clinic=clinic) == 1_250
    assert list(ledger_discrepancies()) == []


@pytest.mark.django_db(transaction=True)
def test_a_failure_report_racing_the_capture_never_marks_a_credited_order_failed():
    clinic = ClinicFactory()
    order = _pending_order(clinic)

    def fail():
        services._close_unpaid(
            PaymentOrder.objects.get(pk=order.pk), PaymentOrder.Status.FAILED, "payment failed"
        )

    outcomes = run_overlapped(
        CreditAccount.objects.filter(clinic=clinic), [_settle(order, "pay_ok"), fail]
    )

    assert not any(isinstance(o, AntidoteError) for o in outcomes), outcomes
    order.refresh_from_db()
    assert account_balance(clinic=clinic) == 1_250
    assert (order.status, order.razorpay_payment_id) == (PaymentOrder.Status.PAID, "pay_ok")
