"""Paying without our page's script: Razorpay's hosted payment page (a Payment Link) for the
same order, settled through the same exactly-once path, its webhook included. Paid twice
(checkout and link), the second payment is refunded automatically and staff are told."""

import json
from urllib.parse import urlencode

import pytest
from django.test import Client

from billing.models import CreditTransaction
from billing.selectors import account_balance
from payments.models import PaymentEvent, PaymentOrder, PaymentRefund, TaxDocument
from tests.factories import ClinicFactory, ClinicMemberFactory
from tests.payments.conftest import (
    KEY_SECRET,
    checkout_signature,
    session_clinic,
    webhook_signature,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def fake(razorpay):
    razorpay.key_secret = KEY_SECRET
    return razorpay


def _order(client):
    response = client.post(
        "/create-razorpay-order", {"clinic": session_clinic(client), "amount": 1000}
    )
    assert response.status_code == 200, response.content
    return PaymentOrder.objects.get(razorpay_order_id=response.json()["order_id"])


def _link(client, order):
    response = client.post(f"/clinic/payments/{order.pk}/pay-link")
    assert response.status_code == 200, response.content
    order.refresh_from_db()
    return order


def _webhook(client, body: dict, event_id: str):
    raw = json.dumps(body).encode()
    return client.post(
        "/webhooks/razorpay",
        raw,
        content_type="application/json",
        HTTP_X_RAZORPAY_SIGNATURE=webhook_signature(raw),
        HTTP_X_RAZORPAY_EVENT_ID=event_id,
    )


def _link_paid_event(order, payment, fake):
    link = fake.payment_links[order.razorpay_payment_link_id]
    return {
        "event": "payment_link.paid",
        "payload": {
            "payment_link": {"entity": link},
            "payment": {"entity": payment},
            "order": {"entity": {"id": payment["order_id"]}},
        },
    }


def test_a_payment_link_is_made_once_for_the_orders_amount(member_client, fake):
    order = _link(member_client, _order(member_client))
    assert order.razorpay_payment_link_id.startswith("plink_")
    link = fake.payment_links[order.razorpay_payment_link_id]
    # The order's charged amount: its price plus GST, as the checkout would take.
    assert (link["amount"], link["reference_id"]) == (1180_00, f"order-{order.pk}")
    assert order.charged_paise == 1180_00
    assert link["callback_url"].endswith("/payments/link-return")
    page = member_client.post(f"/clinic/payments/{order.pk}/pay-link").text
    assert order.payment_link_url in page
    assert len(fake.payment_links) == 1  # asked again: the same link


def test_paying_on_the_link_and_returning_credits_once(member_client, fake, clinic):
    order = _link(member_client, _order(member_client))
    payment = fake.pay_link(order.razorpay_payment_link_id)
    query = urlencode(fake.link_return_query(order.razorpay_payment_link_id, payment))
    response = member_client.get(f"/payments/link-return?{query}")
    assert response.status_code == 302
    assert response["Location"] == f"/payment-success?order={order.razorpay_order_id}"
    assert account_balance(clinic=clinic) == 1_000
    # The return replayed, and the webhook after it: nothing more.
    assert member_client.get(f"/payments/link-return?{query}").status_code == 302
    assert (
        _webhook(member_client, _link_paid_event(order, payment, fake), "evt_l1").json()["status"]
        == "ok"
    )
    assert account_balance(clinic=clinic) == 1_000
    assert CreditTransaction.objects.count() == 1
    order.refresh_from_db()
    assert (order.status, order.razorpay_payment_id) == ("paid", payment["id"])
    # Settled like any payment: its tax invoice is issued once, for the charged total.
    invoice = TaxDocument.objects.get(order=order)
    assert (invoice.kind, invoice.total_paise) == (TaxDocument.Kind.INVOICE, 1180_00)


def test_the_link_webhook_alone_settles_the_order(member_client, fake, clinic):
    order = _link(member_client, _order(member_client))
    payment = fake.pay_link(order.razorpay_payment_link_id)
    body = _webhook(member_client, _link_paid_event(order, payment, fake), "evt_l2").json()
    assert body["result"] == f"order #{order.pk} paid through its payment link"
    assert account_balance(clinic=clinic) == 1_000


def test_a_forged_link_return_credits_nothing(member_client, fake, clinic):
    order = _link(member_client, _order(member_client))
    payment = fake.pay_link(order.razorpay_payment_link_id)
    query = fake.link_return_query(order.razorpay_payment_link_id, payment)
    query["razorpay_signature"] = "ab" * 32
    response = member_client.get(f"/payments/link-return?{urlencode(query)}")
    assert response.status_code == 400
    assert "did not match" in response.text
    assert account_balance(clinic=clinic) == 0


def test_an_incomplete_link_return_is_a_400_not_a_500(member_client, fake):
    response = member_client.get("/payments/link-return?razorpay_payment_id=pay_1")
    assert response.status_code == 400
    assert "incomplete" in response.text


def test_another_clinics_link_return_is_not_found(member_client, fake, clinic):
    order = _link(member_client, _order(member_client))
    payment = fake.pay_link(order.razorpay_payment_link_id)
    query = urlencode(fake.link_return_query(order.razorpay_payment_link_id, payment))
    stranger = Client()
    stranger.force_login(ClinicMemberFactory(clinic=ClinicFactory()).user)
    assert stranger.get(f"/payments/link-return?{query}").status_code == 404
    assert stranger.post(f"/clinic/payments/{order.pk}/pay-link").status_code == 404
    assert account_balance(clinic=clinic) == 0


def test_a_paid_order_gets_no_link(member_client, fake):
    order = _order(member_client)
    payment = fake.pay(order.razorpay_order_id)
    member_client.post(
        "/verify-payment",
        {
            "clinic": session_clinic(member_client),
            "razorpay_order_id": order.razorpay_order_id,
            "razorpay_payment_id": payment["id"],
            "razorpay_signature": checkout_signature(order.razorpay_order_id, payment["id"]),
        },
    )
    response = member_client.post(f"/clinic/payments/{order.pk}/pay-link")
    assert response.status_code == 400
    assert "already paid" in response.text
    assert not fake.payment_links


def test_link_creation_failing_at_razorpay_is_a_clear_message(member_client, fake):
    order = _order(member_client)
    fake.mode = "5xx"
    response = member_client.post(f"/clinic/payments/{order.pk}/pay-link")
    assert response.status_code == 400
    assert "payment service is unavailable" in response.text


def test_checkout_and_link_both_paid_refunds_the_second_payment_and_tells_staff(
    member_client, fake, clinic
):
    order = _link(member_client, _order(member_client))
    checkout_payment = fake.pay(order.razorpay_order_id)
    member_client.post(
        "/verify-payment",
        {
            "clinic": session_clinic(member_client),
            "razorpay_order_id": order.razorpay_order_id,
            "razorpay_payment_id": checkout_payment["id"],
            "razorpay_signature": checkout_signature(
                order.razorpay_order_id, checkout_payment["id"]
            ),
        },
    )
    link_payment = fake.pay_link(order.razorpay_payment_link_id)
    event = _link_paid_event(order, link_payment, fake)
    body = _webhook(member_client, event, "evt_l3").json()
    assert "already paid by another payment" in body["result"]
    assert account_balance(clinic=clinic) == 1_000  # credited once
    refunds = [r for r in fake.refunds.values() if r["payment_id"] == link_payment["id"]]
    assert len(refunds) == 1 and refunds[0]["amount"] == 1180_00  # all of it, GST included
    row = PaymentRefund.objects.get()
    assert (row.razorpay_id, row.status, row.reversal_entry) == (
        refunds[0]["id"],
        PaymentRefund.Status.STAFF,
        None,
    )
    told = PaymentEvent.objects.get(kind="second_payment_refunded")
    assert "Staff" in told.detail and link_payment["id"] in told.detail
    # The return from the page after it, and Razorpay's refund event: no second refund, no
    # credits taken back (the refunded payment was never credited).
    query = urlencode(fake.link_return_query(order.razorpay_payment_link_id, link_payment))
    assert member_client.get(f"/payments/link-return?{query}").status_code == 400
    refund_event = {
        "event": "refund.processed",
        "payload": {"refund": {"entity": refunds[0]}},
    }
    assert _webhook(member_client, refund_event, "evt_l4").status_code == 200
    assert len(fake.refunds) == 1
    assert account_balance(clinic=clinic) == 1_000


def test_checkout_page_offers_the_link_in_live_mode(member_client, fake):
    response = member_client.post(
        "/clinic/credits/topup",
        {"clinic": session_clinic(member_client), "amount": "1000"},
    )
    assert response.status_code == 200
    assert 'id="gateway-error"' in response.text and "Payment gateway not loaded" in response.text
    assert "Pay on Razorpay" in response.text


def test_reconcile_settles_a_link_payment_that_the_return_and_webhook_both_missed(
    member_client, fake, clinic
):
    from datetime import timedelta

    from django.utils import timezone

    from tests.commands import run_command

    order = _link(member_client, _order(member_client))
    fake.pay_link(order.razorpay_payment_link_id)
    PaymentOrder.objects.filter(pk=order.pk).update(created_at=timezone.now() - timedelta(hours=2))
    code, output = run_command("reconcile_payments")
    assert code == 0, output
    assert "1 settled" in output
    assert account_balance(clinic=clinic) == 1_000
    assert "0 settled" in run_command("reconcile_payments")[1]  # safe to run twice
