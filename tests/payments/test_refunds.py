"""Money that goes back at Razorpay (dashboard refunds, chargebacks) reaches the ledger once,
as a reversal in proportion to the amount, even when the credits were already spent."""

import json

import pytest

from billing import services as billing
from billing.models import CreditTransaction, Kind
from billing.selectors import account_balance, account_of
from leads.models import Lead
from leads.services import submit_enquiry
from payments.models import PaymentEvent, PaymentOrder, PaymentRefund
from tests.commands import run_command
from tests.factories import LeadFactory
from tests.payments.test_flow import growth, new_order, verify, webhook

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_gst(settings):
    """These figures are the reversal arithmetic alone: money paid = taxable value. Refunds
    with GST and their credit notes are tested in tests/payments/test_documents.py."""
    settings.GST_RATE_BASIS_POINTS = 0


@pytest.fixture
def paid(member_client, razorpay, clinic):
    """A ₹5,000 growth package paid: 5,000 purchased + 500 bonus credits."""
    order_id = new_order(member_client, razorpay, package=growth().pk)
    payment = razorpay.pay(order_id)
    verify(member_client, order_id, payment["id"])
    assert account_balance(clinic=clinic) == 5_500
    return payment


def refund_event(client, refund, event="refund.processed", event_id=None):
    body = {"event": event, "payload": {"refund": {"entity": refund}}}
    return webhook(
        client,
        event,
        {},
        event_id=event_id or f"evt_{refund['id']}",
        body=json.dumps(body).encode(),
    )


def dispute_event(client, phase, dispute, event_id=None):
    event = f"payment.dispute.{phase}"
    body = {"event": event, "payload": {"dispute": {"entity": dispute}}}
    return webhook(
        client, event, {}, event_id=event_id or f"evt_{phase}", body=json.dumps(body).encode()
    )


def reversals(clinic):
    return list(
        CreditTransaction.objects.filter(account__clinic=clinic, kind=Kind.REVERSAL)
        .order_by("id")
        .values_list("credits", flat=True)
    )


def test_a_full_refund_at_razorpay_takes_back_every_credit_once(
    member_client, razorpay, clinic, paid
):
    refund = razorpay.refund(paid["id"], 5_000_00)
    response = refund_event(member_client, refund)
    assert response.json()["result"].endswith("reversed")
    again = refund_event(member_client, refund, event="payment.refunded", event_id="evt_other")
    assert again.status_code == 200
    assert reversals(clinic) == [-5_500]
    assert account_balance(clinic=clinic) == 0
    order = PaymentOrder.objects.get()
    assert order.refunded_paise == 5_000_00
    row = PaymentRefund.objects.get()
    assert (row.kind, row.status, row.razorpay_id) == ("refund", "reversed", refund["id"])
    assert row.reversal_entry.idempotency_key == f"reversal:refund:{refund['id']}"


def test_partial_refunds_take_back_in_proportion_rounded_up_never_more_than_granted(
    member_client, razorpay, clinic, paid
):
    for rupees in (1, 999, 4_000):
        refund_event(member_client, razorpay.refund(paid["id"], rupees * 100))
    # 5,500 credits for ₹5,000: ₹1 → 1.1 → 2; ₹999 → 1,098.9 → 1,099; ₹4,000 → 4,400, capped
    # at the 5,500 - 1,101 = 4,399 the order has left.
    assert reversals(clinic) == [-2, -1_099, -4_399]
    assert account_balance(clinic=clinic) == 0
    assert PaymentOrder.objects.get().refunded_paise == 5_000_00


def test_a_refund_of_spent_credits_is_debt_and_new_leads_wait(
    member_client, razorpay, clinic, paid
):
    for _ in range(5):
        billing.charge_lead(lead=LeadFactory(clinic=clinic))  # 5 × 100 credits spent
    refund_event(member_client, razorpay.refund(paid["id"], 5_000_00))

    account = account_of(clinic=clinic)
    assert (account.balance, account.in_debt, account.debt) == (-500, True, 500)
    assert PaymentEvent.objects.filter(kind="debt", detail__contains="500 credits in debt")
    lead = submit_enquiry(clinic=clinic, name="Ravi", phone="9876500001")
    assert lead.billing_state == Lead.Billing.HELD
    assert account_balance(clinic=clinic) == -500

    billing.grant_credits(clinic=clinic, credits=600, idempotency_key="test:pay-off")
    account.refresh_from_db()
    assert account.in_debt is False


def test_a_reversal_may_pass_the_floor_but_nothing_else_may(clinic, staff):
    billing.grant_credits(clinic=clinic, credits=100, idempotency_key="test:grant")
    billing.reverse_credits(clinic=clinic, credits=300, idempotency_key="test:reverse")
    assert account_balance(clinic=clinic) == -200
    with pytest.raises(billing.InsufficientCredits):
        billing.adjust_credits(
            clinic=clinic, credits=-1, actor=staff, reason="test", idempotency_key="test:adj"
        )
    with pytest.raises(billing.InsufficientCredits):
        billing.charge_lead(lead=LeadFactory(clinic=clinic))


def test_the_database_refuses_a_balance_below_the_floor_that_is_not_flagged_as_debt(clinic):
    from django.db import IntegrityError, connection, transaction

    table = account_of(clinic=clinic)._meta.db_table
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"UPDATE {table} SET balance = -1 WHERE clinic_id = %s", [clinic.pk])


def test_a_refund_naming_a_staff_refund_we_never_made_is_one_made_at_razorpay(
    member_client, razorpay, clinic, paid
):
    # Notes can be typed on Razorpay's dashboard: money left, so the credits come back here.
    refund = razorpay.refund(paid["id"], 5_000_00, notes={"antidote_refund": "7"})
    response = refund_event(member_client, refund)
    assert response.json()["result"].endswith("reversed")
    assert reversals(clinic) == [-5_500]
    assert PaymentRefund.objects.get().kind == "refund"


def test_a_refund_for_a_clinic_deactivated_meanwhile_is_still_reversed(
    member_client, razorpay, clinic, paid
):
    clinic.is_active = False
    clinic.save()
    refund_event(member_client, razorpay.refund(paid["id"], 5_000_00))
    assert reversals(clinic) == [-5_500]


def test_a_refund_for_an_unknown_payment_is_acknowledged_and_ignored(member_client, razorpay):
    refund = {"id": "rfnd_x", "payment_id": "pay_nobody", "amount": 100, "status": "processed"}
    response = refund_event(member_client, refund)
    assert response.status_code == 200
    assert "ignored" in response.json()["result"]


def test_a_chargeback_is_flagged_while_open_and_reversed_only_when_lost(
    member_client, razorpay, clinic, paid
):
    dispute = {"id": "disp_1", "payment_id": paid["id"], "amount": 5_000_00}
    dispute_event(member_client, "created", dispute)
    assert PaymentRefund.objects.get().status == "open"
    assert reversals(clinic) == []
    assert PaymentEvent.objects.filter(kind="chargeback_created").exists()
    dispute_event(member_client, "lost", dispute)
    dispute_event(member_client, "lost", dispute, event_id="evt_lost_again")
    assert reversals(clinic) == [-5_500]
    row = PaymentRefund.objects.get()
    assert (row.kind, row.status) == ("chargeback", "reversed")


def test_a_chargeback_won_takes_nothing_back(member_client, razorpay, clinic, paid):
    dispute = {"id": "disp_2", "payment_id": paid["id"], "amount": 5_000_00}
    dispute_event(member_client, "created", dispute)
    dispute_event(member_client, "won", dispute)
    assert PaymentRefund.objects.get().status == "won"
    assert account_balance(clinic=clinic) == 5_500


def _reconcile(*args):
    return run_command("reconcile_payments", *args)


def test_reconcile_names_a_refund_whose_webhook_was_lost_and_reverses_it_once(
    razorpay, clinic, paid
):
    refund = razorpay.refund(paid["id"], 2_500_00)
    code, output = _reconcile("--dry-run")
    assert code == 1
    assert f"refund {refund['id']} of ₹2,500 at Razorpay has no reversal" in output
    assert reversals(clinic) == []

    code, output = _reconcile()
    assert code == 0, output
    assert "reversed now" in output
    assert reversals(clinic) == [-2_750]
    assert "0 refunds reversed" in _reconcile()[1]
    assert reversals(clinic) == [-2_750]
