"""Automatic top-up against the official SDK and the local fake Razorpay: a lead charge that
takes the balance below the rule's level queues one top-up, charged with the recurring-payment
API and credited once, through ``settle_paid_order``, by the webhook or our fetch."""

import json
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from antidote.errors import AntidoteError
from billing import services as billing
from billing.models import CreditTransaction, Kind
from billing.selectors import account_balance
from payments import autotopup
from payments.models import (
    AutoTopUp,
    AutoTopUpRule,
    CreditPackage,
    PaymentOrder,
    SavedPaymentMethod,
)
from tests.factories import ClinicFactory, LeadFactory, fund
from tests.payments.conftest import checkout_signature, webhook_signature

pytestmark = pytest.mark.django_db
Status = AutoTopUp.Status


def starter():
    return CreditPackage.objects.get(price_paise=1_000_00)  # ₹1,000 → 1,000 credits


def save_method(clinic, razorpay, *, method="card", token_status="confirmed", max_rupees=5_000):
    saved = autotopup.start_mandate(
        clinic=clinic,
        user=None,
        method=method,
        email="owner@example.com",
        contact="+919876543210",
        max_amount_paise=max_rupees * 100,
    )
    payment = razorpay.authorise(
        saved.authorisation_order_id, method=method, token_status=token_status
    )
    return autotopup.confirm_mandate(
        clinic=clinic,
        razorpay_order_id=saved.authorisation_order_id,
        razorpay_payment_id=payment["id"],
        razorpay_signature=checkout_signature(saved.authorisation_order_id, payment["id"]),
    )


def save_rule(clinic, **overrides):
    values = {
        "threshold_credits": 500,
        "package_id": starter().pk,
        "amount_rupees": None,
        "monthly_max_rupees": 10_000,
        "monthly_max_count": 5,
        "top_up_early": False,
    }
    return autotopup.save_rule(clinic=clinic, user=None, **{**values, **overrides})


@pytest.fixture
def ready(clinic, razorpay):
    """A clinic with 600 credits, a recent lead, a saved card and a rule at 500 credits."""
    fund(clinic, 600)
    # A lead this month (let go free: it neither waits nor costs), so the clinic is not idle.
    LeadFactory(clinic=clinic, billing_state="duplicate")
    save_method(clinic, razorpay)
    save_rule(clinic)
    return clinic


def charge(clinic, capture, credits=100):
    """A lead arrives and is charged; the commit's callbacks (the trigger and the task) run."""
    lead = LeadFactory(clinic=clinic, price_credits=credits)
    with capture(execute=True):
        billing.charge_lead(lead=lead)
    return lead


def purchases(clinic):
    entries = CreditTransaction.objects.filter(account__clinic=clinic, kind=Kind.PURCHASE)
    return list(entries.order_by("pk").values_list("credits", flat=True))


def webhook(client, event, entity_name, entity, event_id):
    body = json.dumps({"event": event, "payload": {entity_name: {"entity": entity}}}).encode()
    return client.post(
        "/webhooks/razorpay",
        body,
        content_type="application/json",
        HTTP_X_RAZORPAY_SIGNATURE=webhook_signature(body),
        HTTP_X_RAZORPAY_EVENT_ID=event_id,
    )


# The saved payment method --------------------------------------------------------------------


def test_a_card_is_saved_as_customer_and_token_with_its_last_four_digits_only(clinic, razorpay):
    saved = save_method(clinic, razorpay)
    assert saved.status == SavedPaymentMethod.Status.CONFIRMED
    assert saved.razorpay_customer_id in razorpay.customers
    assert saved.razorpay_token_id in razorpay.tokens
    assert (saved.card_last4, saved.vpa, saved.display) == ("4242", "", "card ending 4242")
    order = razorpay.orders[saved.authorisation_order_id]
    assert order["customer_id"] == saved.razorpay_customer_id and order["method"] == "card"
    assert order["token"]["max_amount"] == 5_000_00
    assert order["token"]["frequency"] == "as_presented"


def test_a_upi_mandate_waits_for_the_token_webhook_then_shows_its_vpa(clinic, razorpay, client):
    saved = save_method(clinic, razorpay, method="upi", token_status="initiated")
    assert saved.status == SavedPaymentMethod.Status.PENDING and not saved.usable
    assert saved.vpa == "glowclinic@okaxis"
    token = razorpay.tokens[saved.razorpay_token_id]
    token["recurring_details"]["status"] = "confirmed"
    assert webhook(client, "token.confirmed", "token", token, "evt_tok").status_code == 200
    saved.refresh_from_db()
    assert saved.status == SavedPaymentMethod.Status.CONFIRMED and saved.usable


def test_a_forged_authorisation_saves_no_token(clinic, razorpay):
    saved = autotopup.start_mandate(
        clinic=clinic,
        user=None,
        method="card",
        email="o@example.com",
        contact="+919876543210",
        max_amount_paise=100_00,
    )
    payment = razorpay.authorise(saved.authorisation_order_id)
    with pytest.raises(AntidoteError, match="did not match"):
        autotopup.confirm_mandate(
            clinic=clinic,
            razorpay_order_id=saved.authorisation_order_id,
            razorpay_payment_id=payment["id"],
            razorpay_signature="0" * 64,
        )
    saved.refresh_from_db()
    assert saved.razorpay_token_id == "" and not saved.usable


def test_another_clinics_authorisation_is_refused(clinic, razorpay):
    saved = save_method(clinic, razorpay)
    other = ClinicFactory()
    with pytest.raises(AntidoteError, match="No such payment method"):
        autotopup.confirm_mandate(
            clinic=other,
            razorpay_order_id=saved.authorisation_order_id,
            razorpay_payment_id="pay_x",
            razorpay_signature="x",
        )


# The rule's refusals ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"threshold_credits": 0}, "threshold must be at least 1"),
        ({"threshold_credits": -5}, "threshold must be at least 1"),
        ({"package_id": None}, "package or enter an amount"),
        ({"amount_rupees": 2_000}, "package or enter an amount"),
        ({"monthly_max_rupees": 0}, "monthly maximum in rupees"),
        ({"monthly_max_count": 0}, "between 1 and 31"),
        ({"monthly_max_count": 32}, "between 1 and 31"),
        ({"package_id": None, "amount_rupees": 10}, "smallest top-up"),
    ],
)
def test_a_bad_rule_is_refused_with_a_clear_message(clinic, razorpay, overrides, message):
    save_method(clinic, razorpay)
    with pytest.raises(AntidoteError, match=message):
        save_rule(clinic, **overrides)
    assert not AutoTopUpRule.objects.exists()


def test_a_package_no_longer_active_is_refused(clinic, razorpay):
    save_method(clinic, razorpay)
    CreditPackage.objects.filter(pk=starter().pk).update(is_active=False)
    with pytest.raises(AntidoteError, match="no longer available"):
        save_rule(clinic)


def test_a_rule_needs_a_confirmed_payment_method(clinic, razorpay):
    with pytest.raises(AntidoteError, match="Save a card or UPI"):
        save_rule(clinic)


# The flow ------------------------------------------------------------------------------------


def test_a_charge_crossing_the_threshold_tops_up_once_through_the_fetch(
    ready, razorpay, django_capture_on_commit_callbacks
):
    charge(ready, django_capture_on_commit_callbacks, credits=100)  # 600 → 500: not below
    assert not AutoTopUp.objects.exists()
    charge(ready, django_capture_on_commit_callbacks, credits=100)  # 500 → 400: below 500
    job = AutoTopUp.objects.get()
    assert job.status == Status.SUCCEEDED, job.outcome
    assert (job.balance_at_trigger, job.threshold_at_trigger) == (400, 500)
    assert job.order.status == PaymentOrder.Status.PAID
    assert job.order.razorpay_payment_id == job.razorpay_payment_id
    assert purchases(ready) == [600, 1_000]  # the funding, then the package
    assert account_balance(clinic=ready) == 1_400
    recurring = [p for p in razorpay.payments.values() if p.get("recurring")]
    assert len(recurring) == 1 and recurring[0]["amount"] == job.charged_paise == 1_180_00
    assert razorpay.orders[job.order.razorpay_order_id]["payment_capture"] is True


def test_a_waiting_upi_debit_is_credited_by_the_signed_webhook_and_a_repeat_adds_nothing(
    ready, razorpay, client, django_capture_on_commit_callbacks
):
    razorpay.recurring_outcome = "created"  # the pre-debit notice: the debit comes tomorrow
    charge(ready, django_capture_on_commit_callbacks, credits=200)
    job = AutoTopUp.objects.get()
    assert job.status == Status.CHARGING and account_balance(clinic=ready) == 400
    payment = razorpay.payments[job.razorpay_payment_id]
    payment["status"] = "captured"
    for _ in range(2):
        assert webhook(client, "payment.captured", "payment", payment, "evt_a").status_code == 200
    assert webhook(client, "order.paid", "payment", payment, "evt_b").status_code == 200
    autotopup.sweep()  # our own fetch of the same payment, after the webhook
    job.refresh_from_db()
    assert job.status == Status.SUCCEEDED
    assert purchases(ready) == [600, 1_000]


def test_a_decline_backs_off_for_a_day_and_emails_the_clinic(
    ready, razorpay, django_capture_on_commit_callbacks
):
    razorpay.recurring_outcome = "failed"
    charge(ready, django_capture_on_commit_callbacks, credits=200)
    job = AutoTopUp.objects.get()
    assert job.status == Status.DECLINED and "declined by the bank" in job.outcome
    assert job.order.status == PaymentOrder.Status.FAILED
    rule = AutoTopUpRule.objects.get()
    assert rule.declines_in_a_row == 1 and rule.is_enabled
    assert rule.backoff_until > timezone.now() + timedelta(hours=23)
    (sent,) = [m for m in mail.outbox if "Automatic" in m.subject]
    assert sent.subject == "Automatic top-up declined" and "24 hours" in sent.body
    razorpay.recurring_outcome = "captured"
    charge(ready, django_capture_on_commit_callbacks, credits=100)
    assert AutoTopUp.objects.count() == 1  # backing off: nothing queued
    AutoTopUpRule.objects.update(backoff_until=timezone.now() - timedelta(seconds=1))
    charge(ready, django_capture_on_commit_callbacks, credits=10)
    assert AutoTopUp.objects.first().status == Status.SUCCEEDED
    assert AutoTopUpRule.objects.get().declines_in_a_row == 0


def test_three_declines_in_a_row_switch_the_rule_off_and_say_why(
    ready, razorpay, django_capture_on_commit_callbacks
):
    razorpay.recurring_outcome = "failed"
    for _ in range(3):  # 600 → 450, 300, 150
        AutoTopUpRule.objects.update(backoff_until=None)
        charge(ready, django_capture_on_commit_callbacks, credits=150)
    rule = AutoTopUpRule.objects.get()
    assert AutoTopUp.objects.filter(status=Status.DECLINED).count() == 3
    assert not rule.is_enabled and "3 declines in a row" in rule.disabled_reason
    assert mail.outbox[-1].subject == "Automatic top-up switched off"
    AutoTopUpRule.objects.update(backoff_until=None)
    charge(ready, django_capture_on_commit_callbacks, credits=50)
    assert AutoTopUp.objects.count() == 3


def test_a_clinic_with_no_leads_in_30_days_is_never_topped_up(
    ready, razorpay, django_capture_on_commit_callbacks
):
    lead = LeadFactory(clinic=ready, price_credits=200)
    type(lead).objects.update(created_at=timezone.now() - timedelta(days=31))
    lead.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=True):
        billing.charge_lead(lead=lead)
    assert account_balance(clinic=ready) == 400
    assert not AutoTopUp.objects.exists() and not razorpay.payments.keys() - {
        p for p, v in razorpay.payments.items() if not v.get("recurring")
    }


def test_the_monthly_maximum_in_rupees_is_never_passed(
    ready, razorpay, django_capture_on_commit_callbacks
):
    AutoTopUpRule.objects.update(monthly_max_paise=2_000_00)  # room for one ₹1,180 charge
    charge(ready, django_capture_on_commit_callbacks, credits=200)
    charge(ready, django_capture_on_commit_callbacks, credits=1_000)  # below again
    charge(ready, django_capture_on_commit_callbacks, credits=100)
    jobs = list(AutoTopUp.objects.order_by("pk"))
    assert [j.status for j in jobs] == [Status.SUCCEEDED]  # a second would pass ₹2,000
    assert purchases(ready) == [600, 1_000]
    assert autotopup.month_usage(clinic_id=ready.pk) == (1_180_00, 1)


def test_the_monthly_maximum_in_number_is_never_passed(
    ready, razorpay, django_capture_on_commit_callbacks
):
    AutoTopUpRule.objects.update(monthly_max_count=2)
    for credits in (200, 1_000, 1_000, 200):
        charge(ready, django_capture_on_commit_callbacks, credits=credits)
    assert AutoTopUp.objects.filter(status=Status.SUCCEEDED).count() == 2
    assert len(purchases(ready)) == 3


def test_the_guard_rechecked_by_the_task_refuses_what_the_trigger_let_through(
    ready, razorpay, django_capture_on_commit_callbacks
):
    """A job queued, then the month filled up before its task ran: refused, no order."""
    job = AutoTopUp.objects.create(
        clinic=ready, rule=AutoTopUpRule.objects.get(), balance_at_trigger=1, threshold_at_trigger=2
    )
    AutoTopUpRule.objects.update(monthly_max_paise=1_000_00)
    job = autotopup.charge(job_id=job.pk)
    assert job.status == Status.REFUSED and "monthly maximum" in job.outcome
    assert job.order is None and not PaymentOrder.objects.exists()


def test_top_up_early_adds_the_credits_spent_in_the_last_two_days(
    ready, razorpay, django_capture_on_commit_callbacks
):
    AutoTopUpRule.objects.update(top_up_early=True)
    charge(ready, django_capture_on_commit_callbacks, credits=50)  # 550, level 500 + 50
    assert not AutoTopUp.objects.exists()
    charge(ready, django_capture_on_commit_callbacks, credits=50)  # 500, level 500 + 100
    assert AutoTopUp.objects.get().threshold_at_trigger == 600


def test_one_top_up_in_flight_per_clinic_is_a_database_constraint(ready):
    rule = AutoTopUpRule.objects.get()
    AutoTopUp.objects.create(clinic=ready, rule=rule, balance_at_trigger=1, threshold_at_trigger=2)
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        AutoTopUp.objects.create(
            clinic=ready,
            rule=rule,
            status=Status.CHARGING,
            balance_at_trigger=1,
            threshold_at_trigger=2,
        )
    assert autotopup.consider(clinic_id=ready.pk, balance=1) is None


def test_a_timeout_leaves_the_charge_waiting_and_the_webhook_credits_it(
    ready, razorpay, client, django_capture_on_commit_callbacks
):
    razorpay.recurring_outcome = "timeout"
    charge(ready, django_capture_on_commit_callbacks, credits=200)
    job = AutoTopUp.objects.get()
    assert job.status == Status.CHARGING and "did not answer" in job.outcome
    (payment,) = [p for p in razorpay.payments.values() if p.get("recurring")]
    assert webhook(client, "payment.captured", "payment", payment, "evt_t").status_code == 200
    job.refresh_from_db()
    assert job.status == Status.SUCCEEDED and purchases(ready) == [600, 1_000]


def test_a_declined_webhook_counts_as_a_decline(
    ready, razorpay, client, django_capture_on_commit_callbacks
):
    razorpay.recurring_outcome = "created"
    charge(ready, django_capture_on_commit_callbacks, credits=200)
    job = AutoTopUp.objects.get()
    payment = razorpay.payments[job.razorpay_payment_id]
    payment.update(status="failed", error_description="Mandate revoked by the customer")
    with django_capture_on_commit_callbacks(execute=True):
        webhook(client, "payment.failed", "payment", payment, "evt_f")
    job.refresh_from_db()
    assert job.status == Status.DECLINED and "revoked" in job.outcome
    assert AutoTopUpRule.objects.get().declines_in_a_row == 1


def test_a_clinic_switches_it_off_and_nothing_is_charged(
    ready, razorpay, django_capture_on_commit_callbacks
):
    autotopup.switch_off(clinic=ready, user=None)
    charge(ready, django_capture_on_commit_callbacks, credits=200)
    assert not AutoTopUp.objects.exists()
    assert AutoTopUpRule.objects.get().disabled_reason == "Switched off by the clinic."


def test_a_charge_above_the_mandate_limit_is_refused(
    ready, razorpay, django_capture_on_commit_callbacks
):
    SavedPaymentMethod.objects.update(max_amount_paise=1_000_00)  # the package is ₹1,180
    charge(ready, django_capture_on_commit_callbacks, credits=200)
    assert not AutoTopUp.objects.exists() and not PaymentOrder.objects.exists()
    rule = AutoTopUpRule.objects.get()
    assert "mandate's limit" in autotopup._quote_or_refusal(rule, now=timezone.now())[1]


def test_the_sweep_runs_a_job_whose_task_was_lost(ready, razorpay):
    job = AutoTopUp.objects.create(
        clinic=ready, rule=AutoTopUpRule.objects.get(), balance_at_trigger=1, threshold_at_trigger=2
    )
    AutoTopUp.objects.filter(pk=job.pk).update(created_at=timezone.now() - timedelta(minutes=5))
    assert autotopup.sweep() == 1
    job.refresh_from_db()
    assert job.status == Status.SUCCEEDED


def test_a_debit_of_a_clinic_without_a_rule_costs_no_query_after_commit(
    ready, django_capture_on_commit_callbacks, django_assert_num_queries
):
    other = ClinicFactory()
    fund(other, 1_000)
    autotopup.watched_clinics()  # this process's list, read at most every WATCH_SECONDS
    lead = LeadFactory(clinic=other, price_credits=100)
    with django_capture_on_commit_callbacks() as callbacks:
        billing.charge_lead(lead=lead)
    with django_assert_num_queries(0):
        for callback in callbacks:
            callback()


def test_a_crossing_a_stale_process_let_pass_is_found_by_the_sweep(
    ready, razorpay, django_capture_on_commit_callbacks, monkeypatch
):
    # Another process read its list of watched clinics before this rule was switched on.
    monkeypatch.setattr(autotopup, "_watched", (autotopup.time.monotonic(), frozenset()))
    charge(ready, django_capture_on_commit_callbacks, credits=200)  # 600 → 400: below 500
    assert not AutoTopUp.objects.exists()
    with django_capture_on_commit_callbacks(execute=True):
        assert autotopup.sweep() == 1
    job = AutoTopUp.objects.get()
    assert job.status == Status.SUCCEEDED and job.balance_at_trigger == 400
    # Above the level again, the next sweep leaves the clinic alone.
    with django_capture_on_commit_callbacks(execute=True):
        assert autotopup.sweep() == 0
    assert AutoTopUp.objects.count() == 1
