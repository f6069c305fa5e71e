"""`reconcile`, the one command operators run nightly, names each money problem on the payments
side and exits 1: a captured payment nobody credited, a refund at Razorpay with no reversal in
the ledger, a promo overrun staff have not reviewed. The dry run only reports; the real run
settles what it can and keeps failing on what only staff can decide."""

from datetime import timedelta

import pytest
from django.utils import timezone

from billing.selectors import account_balance
from payments.models import PaymentOrder
from tests.commands import run_command
from tests.payments.test_attempts import _overrun_order
from tests.payments.test_flow import growth, new_order, verify

pytestmark = pytest.mark.django_db


def reconcile(*args):
    return run_command("reconcile", *args)


def _older(minutes=20):
    PaymentOrder.objects.update(created_at=timezone.now() - timedelta(minutes=minutes))


def test_reconcile_names_a_captured_payment_that_was_never_credited(
    member_client, razorpay, clinic
):
    order_id = new_order(member_client, razorpay, package=growth().pk)
    razorpay.pay(order_id)  # captured; neither the browser nor the webhook reported it
    _older()
    order = PaymentOrder.objects.get()

    code, output = reconcile("--dry-run")
    assert code == 1
    assert f"order #{order.pk}: captured at Razorpay, not credited" in output
    assert "Reconciliation FAILED: reconcile_payments" in output
    assert account_balance(clinic=clinic) == 0

    code, output = reconcile()  # the real run credits it, once
    assert code == 0, output
    assert f"settled order #{order.pk}" in output
    assert account_balance(clinic=clinic) == 5_500
    assert reconcile()[0] == 0
    assert account_balance(clinic=clinic) == 5_500


def test_reconcile_names_a_refund_at_razorpay_without_a_reversal(
    member_client, razorpay, clinic, settings
):
    settings.GST_RATE_BASIS_POINTS = 0  # the figures below are money paid = taxable value
    order_id = new_order(member_client, razorpay, package=growth().pk)
    payment = razorpay.pay(order_id)
    verify(member_client, order_id, payment["id"])
    _older()
    refund = razorpay.refund(payment["id"], 5_000_00)  # its webhook is lost

    code, output = reconcile("--dry-run")
    assert code == 1
    assert f"refund {refund['id']} of ₹5,000 at Razorpay has no reversal" in output
    assert account_balance(clinic=clinic) == 5_500

    code, output = reconcile()
    assert code == 0, output
    assert account_balance(clinic=clinic) == 0


def test_reconcile_keeps_failing_on_a_promo_overrun_until_staff_review_it(member_client, razorpay):
    order = _overrun_order(member_client, razorpay)
    for args in (("--dry-run",), ()):
        code, output = reconcile(*args)
        assert code == 1
        assert f"order #{order.pk}" in output and "promo ONCE overrun, ₹500 discount" in output
