"""Staff refund unused paid credits to the original payment: the credits are reserved first,
Razorpay (a local fake, through the real SDK) refunds the money with GST, its webhooks complete
or undo the refund, and reconciliation finds what got stuck."""

import json
from fractions import Fraction

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.utils import timezone

from antidote.errors import AntidoteError
from billing import services as billing
from billing.finance import finance_months, identity_problems
from billing.models import CreditLot, CreditTransaction, LotAllocation
from billing.selectors import account_balance
from payments import refunds
from payments.models import PaymentEvent, PaymentOrder, PaymentRefund, TaxDocument
from tests.commands import run_command
from tests.concurrency import wait_until
from tests.factories import StaffFactory
from tests.payments.conftest import webhook_signature
from tests.payments.test_flow import growth, new_order, verify

pytestmark = pytest.mark.django_db


@pytest.fixture
def paid(member_client, razorpay, clinic):
    """₹5,000 + ₹900 GST paid: 5,000 paid credits and 500 bonus, with a tax invoice."""
    order_id = new_order(member_client, razorpay, package=growth().pk)
    payment = razorpay.pay(order_id)
    assert verify(member_client, order_id, payment["id"]).status_code == 200
    assert account_balance(clinic=clinic) == 5_500
    return PaymentOrder.objects.get(razorpay_order_id=order_id)


@pytest.fixture
def billing_staff(db):
    user = StaffFactory(username="billing-staff")
    user.groups.add(Group.objects.get(name="Billing staff"))
    return user


def refund_webhook(client, refund, event, event_id=None):
    body = json.dumps({"event": event, "payload": {"refund": {"entity": refund}}}).encode()
    return client.post(
        "/webhooks/razorpay",
        body,
        content_type="application/json",
        HTTP_X_RAZORPAY_SIGNATURE=webhook_signature(body),
        HTTP_X_RAZORPAY_EVENT_ID=event_id or f"evt_{event}_{refund['id']}",
    )


def keys(clinic):
    return list(
        CreditTransaction.objects.filter(account__clinic=clinic)
        .order_by("id")
        .values_list("idempotency_key", "credits")
    )


def test_a_refund_reserves_the_credits_then_completes_on_the_webhook_with_a_credit_note(
    client, razorpay, clinic, paid, billing_staff
):
    row = refunds.start_refund(order=paid, credits=1_000, reason="Leaving", actor=billing_staff)
    # ₹1,000 of the ₹5,000 taxable value, plus its 18% GST, to the original payment.
    assert (row.status, row.amount_paise, row.credits) == ("processing", 1_180_00, 1_000)
    at_razorpay = razorpay.refunds[row.razorpay_id]
    assert at_razorpay["payment_id"] == paid.razorpay_payment_id
    assert at_razorpay["notes"] == {"antidote_refund": str(row.pk)}
    assert keys(clinic)[-1] == (f"refund:payout:{row.pk}", -1_000)
    assert account_balance(clinic=clinic) == 4_500

    processed = dict(at_razorpay, status="processed")
    assert refund_webhook(client, processed, "refund.processed").status_code == 200
    refund_webhook(client, processed, "refund.processed", event_id="evt_again")  # duplicate
    row.refresh_from_db()
    assert row.status == "processed"
    assert account_balance(clinic=clinic) == 4_500  # nothing more posted
    assert len(keys(clinic)) == 3
    note = TaxDocument.objects.get(kind="credit_note")
    assert (note.refund, note.original.kind) == (row, "invoice")
    assert (note.taxable_paise, note.igst_paise, note.total_paise) == (1_000_00, 180_00, 1_180_00)
    assert PaymentOrder.objects.get().refunded_paise == 1_180_00


def test_a_failed_refund_restores_the_credits_and_tells_staff(
    client, razorpay, clinic, paid, billing_staff
):
    row = refunds.start_refund(order=paid, credits=5_000, reason="Leaving", actor=billing_staff)
    assert account_balance(clinic=clinic) == 500
    failed = dict(razorpay.refunds[row.razorpay_id], status="failed")
    result = refund_webhook(client, failed, "refund.failed").json()["result"]
    assert result.endswith("failed")
    refund_webhook(client, failed, "refund.failed", event_id="evt_again")
    assert account_balance(clinic=clinic) == 5_500
    assert keys(clinic)[-1] == (f"refund:restore:{row.pk}", 5_000)
    assert len(keys(clinic)) == 4
    assert "FAILED at Razorpay" in PaymentEvent.objects.get(kind="refund_failed").detail
    assert not TaxDocument.objects.filter(kind="credit_note").exists()
    # The credits are refundable again: back in a paid lot restored from the order's, which
    # the finance report counts as restored, keeping its identity.
    assert refunds.refundable_credits(order=paid).credits == 5_000
    restored = CreditLot.objects.get(source__idempotency_key=f"refund:restore:{row.pk}")
    assert restored.kind == "paid" and restored.restored_from.source.idempotency_key == (
        f"purchase:order:{paid.pk}"
    )
    assert identity_problems() == []
    assert finance_months(month=timezone.localdate().replace(day=1))[restored.account_id].paise[
        "restored"
    ] == 5_000 * Fraction(restored.value_paise, restored.value_credits)


@pytest.mark.parametrize(
    ("credits", "message"),
    [(5_001, "has 5,000 refundable paid credits"), (0, "at least one credit")],
)
def test_more_than_is_refundable_is_refused_with_a_clear_message(
    razorpay, clinic, paid, billing_staff, credits, message
):
    with pytest.raises(AntidoteError, match=message):
        refunds.start_refund(order=paid, credits=credits, reason="x", actor=billing_staff)
    assert not PaymentRefund.objects.exists() and not razorpay.refunds
    assert account_balance(clinic=clinic) == 5_500


def test_refundable_credits_are_capped_by_the_balance_and_by_earlier_refunds(
    razorpay, clinic, paid, billing_staff
):
    refunds.start_refund(order=paid, credits=3_000, reason="part", actor=billing_staff)
    assert refunds.refundable_credits(order=paid).credits == 2_000
    with pytest.raises(AntidoteError, match="has 2,000 refundable"):
        refunds.start_refund(order=paid, credits=2_001, reason="x", actor=billing_staff)


def test_only_staff_with_refund_payments_may_refund(razorpay, paid):
    with pytest.raises(AntidoteError, match="refund_payments"):
        refunds.start_refund(order=paid, credits=1, reason="x", actor=StaffFactory())


@pytest.mark.parametrize("mode", ["5xx", "html", "slow"])
def test_a_gateway_failure_keeps_the_credits_reserved_and_the_refund_retryable(
    razorpay, clinic, paid, billing_staff, mode
):
    razorpay.mode = mode
    row = refunds.start_refund(order=paid, credits=1_000, reason="Leaving", actor=billing_staff)
    assert (row.status, row.razorpay_id) == ("requested", None) and row.last_error
    assert account_balance(clinic=clinic) == 4_500
    code, output = run_command("reconcile_payments", "--older-than", "0", "--dry-run")
    assert code == 1 and f"refund #{row.pk} on order #{paid.pk} is stuck" in output
    razorpay.mode = "ok"
    code, output = run_command("reconcile_payments", "--older-than", "0")
    row.refresh_from_db()
    assert row.status == "processing" and len(razorpay.refunds) == 1
    assert code == 1 and "is stuck (asked at razorpay" in output.lower()


def test_a_timed_out_refund_that_razorpay_made_is_found_not_made_twice(
    client, razorpay, clinic, paid, billing_staff
):
    razorpay.mode = "slow-then-ok"
    row = refunds.start_refund(order=paid, credits=1_000, reason="Leaving", actor=billing_staff)
    assert row.status == "requested"
    # Razorpay makes it after we stopped waiting; we never hear of it.
    wait_until(lambda: len(razorpay.refunds) == 1, what="the fake to make the refund")
    again = refunds.ask_razorpay(refund=row)
    assert again.status == "processing" and again.razorpay_id in razorpay.refunds
    assert len(razorpay.refunds) == 1
    # Its webhook never comes: reconciliation asks Razorpay and completes it.
    razorpay.refunds[again.razorpay_id]["status"] = "processed"
    code, output = run_command("reconcile_payments", "--older-than", "0")
    assert code == 0, output
    assert PaymentRefund.objects.get().status == "processed"
    assert TaxDocument.objects.filter(kind="credit_note").count() == 1


def test_staff_refund_from_the_admin_once_even_if_the_form_is_sent_twice(
    razorpay, clinic, paid, billing_staff, otp_login
):
    admin = Client()
    otp_login(admin, billing_staff)
    url = "/admin/payments/paymentorder/"
    base = {"action": "refund_unused_credits", "_selected_action": [paid.pk]}
    form = admin.post(url, base).content.decode()
    assert "Up to 5,000 refundable paid credits, worth ₹5,000 + ₹900 GST." in form
    token = form.split('name="token" value="')[1].split('"')[0]
    data = {
        **base,
        "stage": "preview",
        "reason": "Clinic leaves",
        "token": token,
        f"credits_{paid.pk}": "2000",
    }
    preview = admin.post(url, data).content.decode()
    assert "₹2,000 + ₹360 GST" in preview and "-2000" in preview
    assert not PaymentRefund.objects.exists()
    for _ in range(2):
        admin.post(url, {**data, "confirm": "yes"})
    row = PaymentRefund.objects.get()
    assert (row.credits, row.amount_paise, row.requested_by) == (2_000, 2_360_00, billing_staff)
    assert account_balance(clinic=clinic) == 3_500 and len(razorpay.refunds) == 1


def test_staff_without_the_right_are_not_offered_the_action(paid, otp_login):
    admin = Client()
    user = StaffFactory(username="auditor")
    user.groups.add(Group.objects.get(name="Read-only auditors"))
    otp_login(admin, user)
    page = admin.get("/admin/payments/paymentorder/").content.decode()
    assert "refund_unused_credits" not in page


def test_refundable_is_what_the_orders_paid_lot_has_left_and_the_payout_draws_it_first(
    razorpay, clinic, paid, billing_staff
):
    order_lot = CreditLot.objects.get(source__idempotency_key=f"purchase:order:{paid.pk}")
    billing.grant_credits(
        clinic=clinic, credits=2_000, kind="bonus", idempotency_key="late", validity_days=3_650
    )
    # 7,500 held; 1,000 spent: the order's 500 bonus credits, then 500 of its paid lot (the
    # late bonus lot outlives it). The balance would still cover 5,000; the paid lot does not.
    billing.adjust_credits(clinic=clinic, credits=-1_000, actor=billing_staff, reason="spent")
    order_lot.refresh_from_db()
    assert order_lot.remaining == 4_500
    assert refunds.refundable_credits(order=paid).credits == 4_500
    with pytest.raises(AntidoteError, match="has 4,500 refundable paid credits"):
        refunds.start_refund(order=paid, credits=4_501, reason="x", actor=billing_staff)

    # A bonus lot expiring tomorrow would come first for a charge; the payout takes the
    # order's own paid credits.
    soon = billing.grant_credits(
        clinic=clinic, credits=100, kind="bonus", idempotency_key="soon", validity_days=1
    )
    row = refunds.start_refund(order=paid, credits=1_000, reason="part", actor=billing_staff)
    assert list(
        LotAllocation.objects.filter(entry=row.payout_entry).values_list("lot_id", "credits")
    ) == [(order_lot.pk, 1_000)]
    assert CreditLot.objects.get(source=soon).remaining == 100
    assert refunds.refundable_credits(order=paid).credits == 3_500
