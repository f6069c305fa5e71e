"""The top-up routes against the official SDK and a local fake Razorpay: every path through
the gateway credits a paid order exactly once and an unpaid one never."""

import json
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from billing.models import CreditTransaction, Kind
from billing.selectors import account_balance
from payments.gateway import sign
from payments.models import (
    CreditPackage,
    PaymentAttempt,
    PaymentEvent,
    PaymentOrder,
    PromoCode,
    WebhookEvent,
)
from tests.commands import run_command
from tests.factories import ClinicFactory, ClinicMemberFactory
from tests.payments.conftest import checkout_signature, session_clinic, webhook_signature

pytestmark = pytest.mark.django_db


def growth():
    return CreditPackage.objects.get(price_paise=5_000_00)


def create(client, **data):
    return client.post("/create-razorpay-order", {"clinic": session_clinic(client), **data})


def verify(client, order_id, payment_id, signature=None):
    return client.post(
        "/verify-payment",
        {
            "clinic": session_clinic(client),
            "razorpay_order_id": order_id,
            "razorpay_payment_id": payment_id,
            "razorpay_signature": signature or checkout_signature(order_id, payment_id),
        },
    )


def new_order(client, razorpay, **data):
    response = create(client, **(data or {"package": growth().pk}))
    assert response.status_code == 200, response.content
    return response.json()["order_id"]


def credits_of(clinic):
    return dict(
        CreditTransaction.objects.filter(account__clinic=clinic).values_list("kind", "credits")
    )


def webhook(client, event, payment, event_id="evt_1", signature=None, body=None):
    body = (
        body or json.dumps({"event": event, "payload": {"payment": {"entity": payment}}}).encode()
    )
    return client.post(
        "/webhooks/razorpay",
        body,
        content_type="application/json",
        HTTP_X_RAZORPAY_SIGNATURE=signature or webhook_signature(body),
        HTTP_X_RAZORPAY_EVENT_ID=event_id,
    )


# Creating orders ----------------------------------------------------------------------------


def test_create_order_makes_ours_first_then_razorpays_with_our_id_as_receipt(
    member_client, razorpay, clinic
):
    response = create(member_client, package=growth().pk)
    body = response.json()
    order = PaymentOrder.objects.get()
    assert body == {
        "success": True,
        "order_id": order.razorpay_order_id,
        "key": "rzp_test_fake",
        "amount": 5_000,
        "gst": 900,
        "total": 5_900,
        "credits": 5_500,
        "razorpay_amount": 5_900_00,
        "currency": "INR",
    }
    at_razorpay = razorpay.orders[order.razorpay_order_id]
    # Razorpay is charged the price plus 18% GST.
    assert (at_razorpay["receipt"], at_razorpay["amount"]) == (str(order.pk), 5_900_00)
    assert (order.clinic, order.status) == (clinic, PaymentOrder.Status.PENDING)


def test_create_order_accepts_json_and_a_custom_amount(member_client, razorpay):
    response = member_client.post(
        "/create-razorpay-order",
        {"amount": 2500, "clinic": session_clinic(member_client)},
        content_type="application/json",
    )
    assert response.json()["razorpay_amount"] == 2_950_00  # ₹2,500 + ₹450 GST


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"package": "999"}, "not available"),
        ({"amount": "500"}, "smallest top-up"),
        ({"package": "1", "promo_code": "NOPE"}, "not a valid promo code"),
    ],
)
def test_bad_orders_are_refused_and_nothing_reaches_razorpay(
    member_client, razorpay, data, message
):
    response = create(member_client, **data)
    assert response.status_code == 400
    assert response.json()["success"] is False
    assert message in response.json()["message"]
    assert razorpay.orders == {}
    assert not PaymentOrder.objects.exists()


@pytest.mark.parametrize("mode", ["5xx", "400", "slow", "html"])
def test_razorpay_failing_at_order_creation_charges_nothing_and_says_so(
    member_client, razorpay, mode
):
    PromoCode.objects.create(code="ONCE", discount_value=10, max_uses=1)
    razorpay.mode = mode
    response = create(member_client, package=growth().pk, promo_code="once")
    assert response.status_code == 503
    assert response.json() == {
        "success": False,
        "message": "The payment service is unavailable right now; nothing was charged.",
    }
    order = PaymentOrder.objects.get()
    assert order.status == PaymentOrder.Status.FAILED
    assert order.redemption.status == "released"  # the single-use code is usable again
    assert not CreditTransaction.objects.exists()


def test_create_order_needs_a_clinic_member(client, razorpay):
    response = client.post("/create-razorpay-order", {"package": growth().pk, "clinic": 1})
    assert response.status_code == 403
    assert razorpay.orders == {}


# Verifying payments -------------------------------------------------------------------------


def test_verified_payment_is_credited_with_its_bonus_as_separate_entries(
    member_client, razorpay, clinic
):
    order_id = new_order(member_client, razorpay)
    payment = razorpay.pay(order_id)
    response = verify(member_client, order_id, payment["id"])
    assert response.status_code == 200
    assert response.json()["success"] is True
    assert response.json()["new_balance"] == 5_500
    assert credits_of(clinic) == {Kind.PURCHASE: 5_000, Kind.BONUS: 500}
    order = PaymentOrder.objects.get()
    assert (order.status, order.razorpay_payment_id) == ("paid", payment["id"])
    assert order.purchase_entry.idempotency_key == f"purchase:order:{order.pk}"


def test_an_authorised_payment_is_captured_then_credited(member_client, razorpay, clinic):
    order_id = new_order(member_client, razorpay)
    payment = razorpay.pay(order_id, status="authorized")
    assert verify(member_client, order_id, payment["id"]).status_code == 200
    assert razorpay.payments[payment["id"]]["status"] == "captured"
    assert ("POST", f"/v1/payments/{payment['id']}/capture") in razorpay.requests
    assert account_balance(clinic=clinic) == 5_500


def test_replayed_verify_credits_nothing_more_and_answers_the_same(member_client, razorpay, clinic):
    order_id = new_order(member_client, razorpay)
    payment = razorpay.pay(order_id)
    first = verify(member_client, order_id, payment["id"])
    second = verify(member_client, order_id, payment["id"])
    assert first.json() == second.json()
    assert account_balance(clinic=clinic) == 5_500
    assert CreditTransaction.objects.count() == 2


def test_forged_signature_is_refused_and_only_audited(member_client, razorpay, clinic):
    order_id = new_order(member_client, razorpay)
    payment = razorpay.pay(order_id)
    response = verify(member_client, order_id, payment["id"], signature="0" * 64)
    assert response.status_code == 400
    assert "did not match" in response.json()["message"]
    assert not CreditTransaction.objects.exists()
    assert PaymentOrder.objects.get().status == "pending"
    assert PaymentEvent.objects.filter(kind="bad_signature").count() == 1


def test_signature_for_another_order_does_not_pay_this_one(member_client, razorpay, clinic):
    cheap = new_order(member_client, razorpay, amount="1000")
    dear = new_order(
        member_client, razorpay, package=CreditPackage.objects.get(price_paise=50_000_00).pk
    )
    payment = razorpay.pay(cheap)
    # The browser claims the cheap payment paid the dear order, with the cheap order's signature.
    response = verify(member_client, dear, payment["id"], checkout_signature(cheap, payment["id"]))
    assert response.status_code == 400
    assert not CreditTransaction.objects.exists()


def test_payment_of_another_order_with_a_valid_signature_is_refused(member_client, razorpay):
    first = new_order(member_client, razorpay, amount="1000")
    second = new_order(member_client, razorpay, amount="1000")
    payment = razorpay.pay(first)
    response = verify(member_client, second, payment["id"])  # signed for (second, payment)
    assert response.status_code == 400
    assert "different order" in response.json()["message"]
    assert not CreditTransaction.objects.exists()


def test_amount_mismatch_is_refused(member_client, razorpay):
    order_id = new_order(member_client, razorpay)
    payment = razorpay.pay(order_id, amount=100)
    response = verify(member_client, order_id, payment["id"])
    assert response.status_code == 400
    assert "does not match" in response.json()["message"]
    assert not CreditTransaction.objects.exists()


def test_uncaptured_payment_is_not_credited(member_client, razorpay):
    order_id = new_order(member_client, razorpay)
    payment = razorpay.pay(order_id, status="failed")
    assert verify(member_client, order_id, payment["id"]).status_code == 400
    assert not CreditTransaction.objects.exists()


def test_order_of_another_clinic_is_404(member_client, razorpay, client):
    order_id = new_order(member_client, razorpay)
    payment = razorpay.pay(order_id)
    client.force_login(ClinicMemberFactory(clinic=ClinicFactory()).user)
    response = verify(client, order_id, payment["id"])
    assert response.status_code == 404
    assert not CreditTransaction.objects.exists()
    assert client.get(f"/payment-success?order={order_id}").status_code == 404


def test_razorpay_timing_out_at_verify_leaves_the_order_pending(member_client, razorpay):
    order_id = new_order(member_client, razorpay)
    payment = razorpay.pay(order_id)
    razorpay.mode = "slow"
    response = verify(member_client, order_id, payment["id"])
    assert response.status_code == 503
    assert "nothing was charged" in response.json()["message"]
    assert PaymentOrder.objects.get().status == "pending"
    assert not CreditTransaction.objects.exists()
    razorpay.mode = "ok"  # later, the same verification goes through
    assert verify(member_client, order_id, payment["id"]).status_code == 200


def test_missing_fields_are_refused(member_client, razorpay):
    response = member_client.post(
        "/verify-payment", {"razorpay_order_id": "order_x", "clinic": session_clinic(member_client)}
    )
    assert response.status_code == 400
    assert "required" in response.json()["message"]


# Webhooks ---------------------------------------------------------------------------------


def test_webhook_credits_a_clinic_that_closed_the_tab(member_client, razorpay, clinic):
    order_id = new_order(member_client, razorpay)
    payment = razorpay.pay(order_id)
    response = webhook(member_client, "payment.captured", payment)
    assert response.status_code == 200
    assert response.json()["result"].endswith("paid")
    assert account_balance(clinic=clinic) == 5_500


def test_duplicate_webhook_is_dropped_by_event_id(member_client, razorpay, clinic):
    order_id = new_order(member_client, razorpay)
    payment = razorpay.pay(order_id)
    webhook(member_client, "payment.captured", payment, event_id="evt_9")
    again = webhook(member_client, "payment.captured", payment, event_id="evt_9")
    assert again.status_code == 200
    assert again.json()["result"] == "duplicate event, ignored"
    assert WebhookEvent.objects.count() == 1
    assert account_balance(clinic=clinic) == 5_500


@pytest.mark.parametrize("webhook_first", [True, False])
def test_webhook_and_verify_in_either_order_credit_once(
    member_client, razorpay, clinic, webhook_first
):
    order_id = new_order(member_client, razorpay)
    payment = razorpay.pay(order_id)
    steps = [
        lambda: webhook(member_client, "order.paid", payment, event_id="evt_2"),
        lambda: verify(member_client, order_id, payment["id"]),
    ]
    for step in steps if webhook_first else reversed(steps):
        assert step().status_code == 200
    assert account_balance(clinic=clinic) == 5_500
    assert CreditTransaction.objects.filter(kind=Kind.PURCHASE).count() == 1


def test_a_failed_attempt_leaves_the_order_payable_and_a_retry_credits(
    member_client, razorpay, clinic
):
    order_id = new_order(member_client, razorpay)
    failed = {
        "id": "pay_failed1",
        "order_id": order_id,
        "amount": 5_000_00,
        "status": "failed",
        "error_description": "Card declined",
    }
    assert webhook(member_client, "payment.failed", failed, event_id="evt_a").status_code == 200
    assert PaymentOrder.objects.get().status == "pending"
    assert PaymentAttempt.objects.get().status == "failed"
    captured = razorpay.pay(order_id)
    assert webhook(member_client, "payment.captured", captured, event_id="evt_b").status_code == 200
    assert PaymentOrder.objects.get().status == "paid"
    assert account_balance(clinic=clinic) == 5_500


def test_failed_after_paid_changes_nothing(member_client, razorpay, clinic):
    order_id = new_order(member_client, razorpay)
    payment = razorpay.pay(order_id)
    verify(member_client, order_id, payment["id"])
    late = {"id": "pay_x", "order_id": order_id, "amount": 5_000_00, "status": "failed"}
    webhook(member_client, "payment.failed", late, event_id="evt_c")
    assert PaymentOrder.objects.get().status == "paid"
    assert account_balance(clinic=clinic) == 5_500


def test_signed_webhook_with_a_wrong_amount_is_recorded_but_not_credited(member_client, razorpay):
    order_id = new_order(member_client, razorpay)
    payment = dict(razorpay.pay(order_id), amount=1)
    response = webhook(member_client, "payment.captured", payment, event_id="evt_d")
    assert response.status_code == 200
    assert "does not match" in response.json()["result"]
    assert not CreditTransaction.objects.exists()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"signature": "f" * 64}, "signature"),
        ({"body": b"not json at all"}, "not a Razorpay event"),
        ({"event_id": ""}, "headers are required"),
    ],
)
def test_bad_webhooks_are_refused_and_store_nothing(client, razorpay, kwargs, message):
    response = webhook(client, "payment.captured", {"order_id": "order_x"}, **kwargs)
    assert response.status_code == 400
    assert message in response.json()["message"]
    assert not WebhookEvent.objects.exists()


def test_webhooks_are_refused_when_no_webhook_secret_is_configured(client, razorpay, settings):
    settings.RAZORPAY_WEBHOOK_SECRET = ""
    body = b'{"event": "payment.captured", "payload": {}}'
    response = webhook(client, "x", {}, body=body, signature=sign("", body.decode()))
    assert response.status_code == 400
    assert "RAZORPAY_WEBHOOK_SECRET" in response.json()["message"]


def test_webhook_without_signature_header_is_refused(client, razorpay):
    response = client.post(
        "/webhooks/razorpay", b"{}", content_type="application/json", HTTP_X_RAZORPAY_EVENT_ID="e"
    )
    assert response.status_code == 400


def test_unknown_events_are_acknowledged_and_ignored(client, razorpay):
    response = webhook(client, "invoice.paid", {"order_id": "order_x"}, event_id="evt_r")
    assert response.status_code == 200
    assert response.json()["result"] == "invoice.paid ignored"


# Pages and reconciliation -----------------------------------------------------------------


def test_success_and_failure_pages_show_the_order_state(member_client, razorpay, clinic):
    order_id = new_order(member_client, razorpay)
    failure = member_client.get(f"/payment-failure?order={order_id}")
    assert "Payment not completed" in failure.text
    assert 'href="/clinic/credits/topup"' in failure.text
    payment = razorpay.pay(order_id)
    verify(member_client, order_id, payment["id"])
    success = member_client.get(f"/payment-success?order={order_id}")
    assert "Payment received" in success.text
    assert "5,500 credits were added" in success.text


def test_receipt_shows_the_paid_order(member_client, razorpay):
    PromoCode.objects.create(code="SAVE10", discount_value=10, bonus_credits=100)
    order_id = new_order(member_client, razorpay, package=growth().pk, promo_code="save10")
    payment = razorpay.pay(order_id)
    verify(member_client, order_id, payment["id"])
    order = PaymentOrder.objects.get()
    page = member_client.get(f"/clinic/payments/{order.pk}/receipt").text
    for text in [payment["id"], order_id, "₹5,000", "₹500", "₹4,500", "SAVE10", "600"]:
        assert text in page
    assert f"/clinic/payments/{order.pk}/receipt" in member_client.get("/clinic/payments").text


def test_unpaid_or_foreign_receipts_are_404(member_client, razorpay):
    order_id = new_order(member_client, razorpay)
    order = PaymentOrder.objects.get()
    receipt = f"/clinic/payments/{order.pk}/receipt"
    assert member_client.get(receipt).status_code == 404  # not paid yet
    verify(member_client, order_id, razorpay.pay(order_id)["id"])
    assert member_client.get(receipt).status_code == 200
    stranger = Client()
    stranger.force_login(ClinicMemberFactory(clinic=ClinicFactory()).user)
    assert stranger.get(receipt).status_code == 404
    assert order_id not in stranger.get("/clinic/payments").text


def _reconcile(*args):
    return run_command("reconcile_payments", *args)


def test_reconcile_settles_a_payment_nobody_reported_and_expires_stale_orders(
    member_client, razorpay, clinic, settings
):
    settings.PAYMENT_ORDER_EXPIRY_MINUTES = 60
    paid_id = new_order(member_client, razorpay)
    razorpay.pay(paid_id, status="authorized")
    stale_id = new_order(member_client, razorpay, amount="1000")
    PaymentOrder.objects.update(created_at=timezone.now() - timedelta(hours=2))

    code, output = _reconcile("--dry-run")
    # Until a real run settles it, the books are wrong: the dry run says so and exits 1.
    assert (code, "1 would settle, 0 refunds reversed, 1 expired" in output) == (1, True)
    assert "captured at Razorpay, not credited" in output
    assert account_balance(clinic=clinic) == 0

    code, output = _reconcile()
    assert code == 0
    assert "1 settled, 0 refunds reversed, 1 expired, 0 problems" in output
    assert account_balance(clinic=clinic) == 5_500
    assert PaymentOrder.objects.get(razorpay_order_id=stale_id).status == "expired"
    assert "0 settled, 0 refunds reversed, 0 expired" in _reconcile()[1]  # safe to run twice
    assert account_balance(clinic=clinic) == 5_500


def test_reconcile_exits_1_when_razorpay_cannot_be_asked(member_client, razorpay):
    new_order(member_client, razorpay)
    PaymentOrder.objects.update(created_at=timezone.now() - timedelta(hours=2))
    razorpay.mode = "5xx"
    code, output = _reconcile()
    assert code == 1
    assert "could not ask Razorpay" in output


def test_reconcile_lists_a_purchase_entry_without_a_paid_order(razorpay, clinic):
    from billing import services as billing

    billing.grant_credits(clinic=clinic, credits=100, idempotency_key="purchase:order:4242")
    code, output = _reconcile()
    assert code == 1
    assert "purchase:order:4242" in output


# The live promo check and the test-mode checkout stand-in ---------------------------------


def test_promo_check_answers_discount_bonus_and_totals(member_client):
    PromoCode.objects.create(code="SAVE10", discount_value=10, bonus_credits=100)
    body = member_client.post(
        "/clinic/check-promo-code", {"package": growth().pk, "promo_code": "save10"}
    ).json()
    assert body == {
        "success": True,
        "discount": 500,
        "bonus_credits": 100,
        "message": "SAVE10 applied.",
        "amount": 4_500,
        # The discount comes off the price before tax: 18% of ₹4,500.
        "gst": 810,
        "total": 5_310,
        "has_billing_state": True,
        "credits": 5_600,
    }
    refused = member_client.post(
        "/clinic/check-promo-code", {"amount": "1000", "promo_code": "NOPE"}
    ).json()
    assert (refused["success"], refused["discount"]) == (False, 0)
    assert "not a valid promo code" in refused["message"]
    assert not PaymentOrder.objects.exists()


def test_promo_check_needs_a_clinic_member(client):
    assert client.post("/clinic/check-promo-code", {"amount": "1000"}).status_code == 403


def test_checkout_stand_in_pays_through_the_real_verification(member_client, clinic):
    order_id = create(member_client, package=growth().pk).json()["order_id"]
    page = member_client.get(f"/payments/test-checkout/{order_id}")
    assert page.status_code == 200
    assert "No real money moves" in page.text
    payment_id = page.context["payment_id"]
    response = verify(member_client, order_id, payment_id, page.context["signature"])
    assert response.status_code == 200
    assert account_balance(clinic=clinic) == 5_500


def test_checkout_stand_in_is_404_in_live_mode(member_client, razorpay):
    order_id = new_order(member_client, razorpay)
    assert member_client.get(f"/payments/test-checkout/{order_id}").status_code == 404


def test_checkout_stand_in_is_404_for_another_clinics_order(member_client):
    order_id = create(member_client, package=growth().pk).json()["order_id"]
    assert member_client.get(f"/payments/test-checkout/{order_id}").status_code == 200
    stranger = Client()
    stranger.force_login(ClinicMemberFactory(clinic=ClinicFactory()).user)
    assert stranger.get(f"/payments/test-checkout/{order_id}").status_code == 404


def test_checkout_stand_in_needs_debug_or_an_operators_explicit_permission(
    member_client, clinic, settings
):
    order_id = create(member_client, package=growth().pk).json()["order_id"]
    settings.PAYMENT_TEST_CHECKOUT_WITHOUT_DEBUG = False
    settings.DEBUG = False
    assert member_client.get(f"/payments/test-checkout/{order_id}").status_code == 404
    settings.DEBUG = True
    assert member_client.get(f"/payments/test-checkout/{order_id}").status_code == 200


# What the source used to sign test payments and webhooks with: public, so never accepted.
OLD_PUBLIC_KEY_SECRET = "local-test-mode-secret"
OLD_PUBLIC_WEBHOOK_SECRET = "local-test-mode-webhook-secret"


def test_test_mode_does_not_accept_a_checkout_signed_with_a_secret_from_the_source(
    member_client, clinic
):
    order_id = create(member_client, package=growth().pk).json()["order_id"]
    payment_id = "pay_test_" + order_id.removeprefix("order_test_")
    forged = sign(OLD_PUBLIC_KEY_SECRET, f"{order_id}|{payment_id}")
    response = verify(member_client, order_id, payment_id, forged)
    assert response.status_code == 400
    assert account_balance(clinic=clinic) == 0


def test_test_mode_refuses_webhooks_signed_with_a_secret_from_the_source(
    member_client, clinic, settings
):
    settings.RAZORPAY_WEBHOOK_SECRET = ""
    order_id = create(member_client, package=growth().pk).json()["order_id"]
    payment = {
        "id": "pay_test_" + order_id.removeprefix("order_test_"),
        "order_id": order_id,
        "amount": 5_000_00,
        "currency": "INR",
        "status": "captured",
    }
    body = json.dumps({"event": "payment.captured", "payload": {"payment": {"entity": payment}}})
    response = webhook(
        member_client,
        "payment.captured",
        payment,
        body=body.encode(),
        signature=sign(OLD_PUBLIC_WEBHOOK_SECRET, body),
    )
    assert response.status_code == 400
    assert account_balance(clinic=clinic) == 0
    assert not WebhookEvent.objects.exists()
