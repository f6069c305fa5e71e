"""Payment attempts, retries after a failure, refusals that keep their audit, promo uses that
come back, and webhooks whose headers or bodies are hostile."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from billing.selectors import account_balance
from payments.models import (
    PaymentAttempt,
    PaymentEvent,
    PaymentOrder,
    PromoCode,
    PromoRedemption,
    WebhookEvent,
)
from tests.commands import run_command
from tests.factories import ClinicMemberFactory
from tests.payments.conftest import webhook_signature
from tests.payments.test_flow import create, growth, new_order, verify, webhook

pytestmark = pytest.mark.django_db


def reconcile(*args):
    return run_command("reconcile_payments", "--older-than", "0", *args)


def failed_attempt(order_id, payment_id="pay_failed1"):
    return {
        "id": payment_id,
        "order_id": order_id,
        "amount": 5_000_00,
        "currency": "INR",
        "status": "failed",
        "error_description": "Card declined",
    }


# Retries after a failed attempt -------------------------------------------------------------


def test_a_captured_retry_whose_webhook_was_lost_is_credited_by_reconcile(
    member_client, razorpay, clinic
):
    order_id = new_order(member_client, razorpay)
    webhook(member_client, "payment.failed", failed_attempt(order_id), event_id="evt_f")
    razorpay.pay(order_id)  # the retry succeeds; its webhook never arrives
    code, output = reconcile()
    assert code == 0, output
    assert "1 settled" in output
    assert account_balance(clinic=clinic) == 5_500
    statuses = dict(PaymentAttempt.objects.values_list("razorpay_payment_id", "status"))
    assert sorted(statuses.values()) == ["captured", "failed"]


def test_reconcile_asks_about_an_expired_order_and_credits_money_taken_after_expiry(
    member_client, razorpay, clinic, settings
):
    order_id = new_order(member_client, razorpay)
    PaymentOrder.objects.update(created_at=timezone.now() - timedelta(hours=3))
    assert "1 expired" in reconcile()[1]
    razorpay.pay(order_id)
    code, output = reconcile()
    assert (code, "1 settled" in output) == (0, True)
    assert PaymentOrder.objects.get().status == "paid"
    assert account_balance(clinic=clinic) == 5_500


def test_reconcile_leaves_orders_older_than_the_lookback_alone(
    member_client, razorpay, clinic, settings
):
    settings.PAYMENT_RECONCILE_LOOKBACK_DAYS = 1
    order_id = new_order(member_client, razorpay)
    PaymentOrder.objects.update(
        created_at=timezone.now() - timedelta(days=2), status=PaymentOrder.Status.EXPIRED
    )
    razorpay.pay(order_id)
    assert "0 settled" in reconcile()[1]


def test_a_failed_attempt_keeps_the_promo_reserved(member_client, razorpay):
    PromoCode.objects.create(code="ONCE", discount_value=10, max_uses_per_clinic=1)
    order_id = new_order(member_client, razorpay, package=growth().pk, promo_code="once")
    webhook(member_client, "payment.failed", failed_attempt(order_id, "pay_f"), event_id="e1")
    assert PromoRedemption.objects.get().status == "reserved"


# Promo uses released, then paid ---------------------------------------------------------------


def _expire_all():
    PaymentOrder.objects.update(created_at=timezone.now() - timedelta(hours=3))
    reconcile()


def test_a_released_promo_comes_back_when_its_limits_still_allow(member_client, razorpay, clinic):
    PromoCode.objects.create(code="ONCE", discount_value=10, max_uses_per_clinic=1)
    order_id = new_order(member_client, razorpay, package=growth().pk, promo_code="once")
    _expire_all()
    assert PromoRedemption.objects.get().status == "released"
    verify(member_client, order_id, razorpay.pay(order_id)["id"])
    assert PromoRedemption.objects.get().status == "consumed"
    assert account_balance(clinic=clinic) == 5_500
    assert PaymentOrder.objects.get().promo_overrun_paise == 0


def test_paying_a_released_order_cannot_beat_a_once_per_clinic_promo(
    member_client, razorpay, clinic
):
    PromoCode.objects.create(
        code="ONCE", discount_value=10, bonus_credits=300, max_uses_per_clinic=1
    )
    first = new_order(member_client, razorpay, package=growth().pk, promo_code="once")
    _expire_all()
    second = new_order(member_client, razorpay, package=growth().pk, promo_code="once")
    verify(member_client, second, razorpay.pay(second)["id"])
    assert account_balance(clinic=clinic) == 5_800  # 5,000 + 500 bonus + 300 promo bonus

    response = verify(member_client, first, razorpay.pay(first)["id"])

    assert response.status_code == 200
    overrun = PaymentOrder.objects.get(razorpay_order_id=first)
    # ₹4,500 paid buys 4,500 credits, with no package or promo bonus.
    assert account_balance(clinic=clinic) == 5_800 + 4_500
    assert (overrun.total_credits, overrun.promo_overrun_paise) == (4_500, 500_00)
    assert PaymentEvent.objects.filter(order=overrun, kind="promo_overrun").exists()
    assert PromoRedemption.objects.filter(status="consumed").count() == 1
    code, output = reconcile()
    assert code == 1  # money was given away: a problem until staff review it
    assert f"order #{overrun.pk}" in output
    assert "promo ONCE overrun, ₹500 discount" in output
    assert "1 promo overruns to review" in output


def _overrun_order(member_client, razorpay):
    PromoCode.objects.create(code="ONCE", discount_value=10, max_uses_per_clinic=1)
    first = new_order(member_client, razorpay, package=growth().pk, promo_code="once")
    _expire_all()
    second = new_order(member_client, razorpay, package=growth().pk, promo_code="once")
    verify(member_client, second, razorpay.pay(second)["id"])
    verify(member_client, first, razorpay.pay(first)["id"])
    return PaymentOrder.objects.get(razorpay_order_id=first)


def test_billing_staff_acknowledge_an_overrun_and_reconcile_is_green_again(
    member_client, razorpay, client
):
    from django.contrib.auth.models import Group

    from tests.factories import StaffFactory
    from tests.otp import login_with_otp

    order = _overrun_order(member_client, razorpay)
    assert reconcile()[0] == 1
    auditor = StaffFactory(username="auditor")
    auditor.groups.add(Group.objects.get(name="Read-only auditors"))
    login_with_otp(client, auditor)
    page = client.get("/admin/payments/paymentorder/?overrun=open")
    assert page.status_code == 200
    assert "acknowledge_overrun" not in page.text
    refused = client.post(
        "/admin/payments/paymentorder/",
        {"action": "acknowledge_overrun", "_selected_action": [order.pk]},
    )
    assert refused.status_code in (200, 302, 403)
    order.refresh_from_db()
    assert order.overrun_acknowledged_at is None

    clerk = StaffFactory(username="clerk")
    clerk.groups.add(Group.objects.get(name="Billing staff"))
    login_with_otp(client, clerk)
    assert "acknowledge_overrun" in client.get("/admin/payments/paymentorder/").text
    done = client.post(
        "/admin/payments/paymentorder/",
        {"action": "acknowledge_overrun", "_selected_action": [order.pk]},
        follow=True,
    )
    assert f"Order #{order.pk}: overrun acknowledged." in done.text
    order.refresh_from_db()
    assert order.overrun_acknowledged_by == clerk
    code, output = reconcile()
    assert code == 0, output
    assert "0 promo overruns to review" in output


# Refusals that keep their audit ---------------------------------------------------------------


def test_a_second_payment_for_a_paid_order_is_refused_and_its_audit_event_survives(
    member_client, razorpay, clinic
):
    order_id = new_order(member_client, razorpay)
    verify(member_client, order_id, razorpay.pay(order_id)["id"])
    second = razorpay.pay(order_id)
    response = verify(member_client, order_id, second["id"])
    assert response.status_code == 400
    assert "already paid" in response.json()["message"]
    assert PaymentEvent.objects.filter(kind="second_payment", detail__contains=second["id"])
    assert account_balance(clinic=clinic) == 5_500


def test_a_webhook_for_a_second_payment_is_recorded_with_its_refusal(
    member_client, razorpay, clinic
):
    order_id = new_order(member_client, razorpay)
    verify(member_client, order_id, razorpay.pay(order_id)["id"])
    second = razorpay.pay(order_id)
    response = webhook(member_client, "payment.captured", second, event_id="evt_2nd")
    assert response.status_code == 200
    assert response.json()["result"].startswith("refused: ")
    record = WebhookEvent.objects.get(event_id="evt_2nd")
    assert record.processed_at is not None
    assert "already paid" in record.result
    assert PaymentEvent.objects.filter(kind="second_payment").count() == 1
    again = webhook(member_client, "payment.captured", second, event_id="evt_2nd")
    assert again.json()["result"] == "duplicate event, ignored"
    assert PaymentEvent.objects.filter(kind="second_payment").count() == 1
    assert account_balance(clinic=clinic) == 5_500


def test_an_event_whose_processing_never_finished_is_processed_on_redelivery(
    member_client, razorpay, clinic
):
    order_id = new_order(member_client, razorpay)
    payment = razorpay.pay(order_id)
    WebhookEvent.objects.create(event_id="evt_crashed", event="payment.captured", payload={})
    response = webhook(member_client, "payment.captured", payment, event_id="evt_crashed")
    assert response.json()["result"].endswith("paid")
    assert account_balance(clinic=clinic) == 5_500


# The dry run checks what the real run checks ---------------------------------------------


def test_the_dry_run_does_not_call_an_amount_mismatch_settleable(member_client, razorpay, clinic):
    order_id = new_order(member_client, razorpay)
    razorpay.pay(order_id, amount=100)
    dry_code, dry_output = reconcile("--dry-run")
    code, output = reconcile()
    assert (dry_code, code) == (1, 1)
    assert "0 would settle" in dry_output
    assert "does not match" in dry_output
    assert "does not match" in output
    assert account_balance(clinic=clinic) == 0


# Hostile webhooks -----------------------------------------------------------------------------


def _post(client, body: bytes, **headers):
    return client.post("/webhooks/razorpay", body, content_type="application/json", **headers)


@pytest.mark.parametrize(
    ("signature", "event_id", "message"),
    [
        ("é" * 64, "evt_1", "not a signature"),
        ("zz" * 32, "evt_1", "not a signature"),
        (None, "e" * 81, "not an event id"),
        (None, "evt 1", "not an event id"),
        (None, "evt\x00", "Null characters"),
        ("", "evt_1", "headers are required"),
    ],
)
def test_malformed_webhook_headers_are_refused(client, razorpay, signature, event_id, message):
    body = b'{"event": "payment.captured", "payload": {}}'
    response = _post(
        client,
        body,
        HTTP_X_RAZORPAY_SIGNATURE=webhook_signature(body) if signature is None else signature,
        HTTP_X_RAZORPAY_EVENT_ID=event_id,
    )
    assert response.status_code == 400
    assert message in response.json()["message"]
    assert not WebhookEvent.objects.exists()


@pytest.mark.parametrize(
    "document",
    [
        [1, 2, 3],
        "payment.captured",
        {"event": {"name": "payment.captured"}},
        {"event": "x" * 61},
        {"event": "payment.captured", "payload": [1]},
    ],
)
def test_signed_bodies_that_are_not_events_are_refused(client, razorpay, document):
    body = json.dumps(document).encode()
    response = _post(
        client,
        body,
        HTTP_X_RAZORPAY_SIGNATURE=webhook_signature(body),
        HTTP_X_RAZORPAY_EVENT_ID="evt_1",
    )
    assert response.status_code == 400
    assert not WebhookEvent.objects.exists()


@pytest.mark.parametrize(
    "payload",
    [
        {"payment": [1]},
        {"payment": {"entity": "pay_1"}},
        {"payment": {"entity": {"id": ["x"], "order_id": "order_1"}}},
        {"payment": {"entity": {"id": "pay_1", "order_id": {"id": 1}}}},
        {"payment": {"entity": {"id": "pay_1", "amount": "lots"}}},
        {"order": {"entity": {"id": 5}}},
    ],
)
def test_signed_events_with_unreadable_entities_are_acknowledged_and_credit_nothing(
    client, razorpay, payload
):
    body = json.dumps({"event": "payment.captured", "payload": payload}).encode()
    response = _post(
        client,
        body,
        HTTP_X_RAZORPAY_SIGNATURE=webhook_signature(body),
        HTTP_X_RAZORPAY_EVENT_ID="evt_odd",
    )
    assert response.status_code == 200
    assert "ignored" in response.json()["result"]


# Inactive clinics -------------------------------------------------------------------------------


def test_an_inactive_clinic_cannot_start_a_payment(member_client, razorpay, clinic):
    clinic.is_active = False
    clinic.save()
    response = create(member_client, package=growth().pk)
    assert response.status_code == 400
    assert "not active, so it cannot buy credits" in response.json()["message"]
    check = member_client.post("/clinic/check-promo-code", {"package": growth().pk}).json()
    assert check["success"] is False
    assert not PaymentOrder.objects.exists()
    assert not razorpay.orders


@pytest.mark.parametrize("reporter", ["webhook", "verify"])
def test_money_received_for_a_clinic_deactivated_meanwhile_is_credited_and_flagged(
    member_client, razorpay, clinic, reporter
):
    order_id = new_order(member_client, razorpay)
    clinic.is_active = False
    clinic.save()
    payment = razorpay.pay(order_id)
    if reporter == "webhook":
        response = webhook(member_client, "payment.captured", payment, event_id="evt_late")
        assert response.json()["result"].endswith("paid")
    else:
        response = verify(member_client, order_id, payment["id"])
    assert response.status_code == 200
    assert account_balance(clinic=clinic) == 5_500
    assert PaymentOrder.objects.get().status == "paid"
    assert PaymentEvent.objects.filter(kind="clinic_inactive").count() == 1


# Money requests carry the clinic their page was made for -------------------------------------


@pytest.fixture
def two_clinic_client(client, clinic):
    """A member of two clinics whose session has switched to the second in another tab."""
    from tests.factories import ClinicFactory

    user = ClinicMemberFactory(clinic=clinic).user
    other = ClinicFactory(name="Zz Other Clinic")
    ClinicMemberFactory(clinic=other, user=user)
    client.force_login(user)
    session = client.session
    session["clinic_id"] = other.pk
    session.save()
    return client, other


def test_an_order_made_for_one_clinic_after_switching_to_another_is_refused(
    two_clinic_client, razorpay, clinic
):
    client, other = two_clinic_client
    response = client.post("/create-razorpay-order", {"package": growth().pk, "clinic": clinic.pk})
    assert response.status_code == 409
    assert "you have since switched to Zz Other Clinic" in response.json()["message"]
    assert not PaymentOrder.objects.exists()
    assert not razorpay.orders
    ok = client.post("/create-razorpay-order", {"package": growth().pk, "clinic": other.pk})
    assert ok.status_code == 200
    assert PaymentOrder.objects.get().clinic == other


@pytest.mark.parametrize("clinic_field", [None, "", "x", "²", "9" * 30, "1.5", "1\x00"])
def test_a_money_request_that_does_not_name_its_clinic_is_refused(
    member_client, razorpay, clinic_field
):
    data = {"package": growth().pk}
    if clinic_field is not None:
        data["clinic"] = clinic_field
    response = member_client.post("/create-razorpay-order", data)
    assert response.status_code == 400
    assert "does not say which clinic" in response.json()["message"]
    verify_data = {"razorpay_order_id": "order_1", "razorpay_payment_id": "pay_1"}
    verify_data["razorpay_signature"] = "ab" * 32
    if clinic_field is not None:
        verify_data["clinic"] = clinic_field
    refused = member_client.post("/verify-payment", verify_data)
    assert refused.status_code == 400
    assert "does not say which clinic" in refused.json()["message"]
    assert not PaymentOrder.objects.exists()


def test_a_verification_for_the_clinic_switched_away_from_is_refused_and_nothing_credited(
    two_clinic_client, razorpay, clinic
):
    client, other = two_clinic_client
    order_id = client.post(
        "/create-razorpay-order", {"package": growth().pk, "clinic": other.pk}
    ).json()["order_id"]
    payment = razorpay.pay(order_id)
    from tests.payments.conftest import checkout_signature

    data = {
        "razorpay_order_id": order_id,
        "razorpay_payment_id": payment["id"],
        "razorpay_signature": checkout_signature(order_id, payment["id"]),
    }
    response = client.post("/verify-payment", {**data, "clinic": clinic.pk})
    assert response.status_code == 409
    assert account_balance(clinic=other) == account_balance(clinic=clinic) == 0
    assert client.post("/verify-payment", {**data, "clinic": other.pk}).status_code == 200
    assert account_balance(clinic=other) == 5_500
