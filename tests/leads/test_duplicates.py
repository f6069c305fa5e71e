"""The one duplicate rule, as intake and automatic dispute approval both apply it.

An original is an earlier lead of the same clinic and phone, inside the window, that the
clinic pays for or will pay for: charged and not fully refunded, or waiting in the queue.
Free leads (duplicates, fully refunded ones) are never originals.
"""

from datetime import timedelta

import pytest

from billing import services as billing
from billing.selectors import account_balance
from disputes import services as disputes
from leads import selectors, services
from leads.models import Lead
from leads.selectors import lead_contact
from tests.factories import ClinicFactory, StaffFactory, fund

pytestmark = pytest.mark.django_db

PHONE = "+919876543210"
DESCRIPTION = "The patient had already enquired with us a few days earlier."


def enquire(clinic, phone="98765 43210"):
    return services.submit_enquiry(clinic=clinic, name="Asha Patel", phone=phone)


def backdate(lead, days):
    Lead.objects.filter(pk=lead.pk).update(created_at=lead.created_at - timedelta(days=days))
    lead.refresh_from_db()


def refunded_in_full(clinic):
    """A charged lead, then its whole charge refunded (as an approved dispute does)."""
    lead = enquire(clinic)
    billing.refund_lead_charge(lead=lead, idempotency_key="refund:test:1")
    return lead


def dispute_as_duplicate(lead):
    return disputes.open_dispute(
        lead=lead, user=None, dispute_type="duplicate", description=DESCRIPTION
    )


def test_charged_then_free_duplicate_then_charged_again_after_the_window(clinic, settings):
    settings.LEAD_DUPLICATE_WINDOW_DAYS = 30
    fund(clinic, 1_000)
    first = enquire(clinic)
    backdate(first, 40)
    settings.LEAD_DUPLICATE_WINDOW_DAYS = 45
    repeat = enquire(clinic)
    assert (repeat.billing_state, repeat.duplicate_of_id) == (Lead.Billing.DUPLICATE, first.pk)
    backdate(repeat, 20)
    settings.LEAD_DUPLICATE_WINDOW_DAYS = 30

    # The free repeat is inside the window, its original is not: this one is charged...
    third = enquire(clinic)
    assert third.billing_state == Lead.Billing.CHARGED
    assert account_balance(clinic=clinic) == 800
    # ...and automatic approval agrees: a free lead is no original, so a claim waits for staff.
    assert selectors.duplicate_original(clinic_id=clinic.pk, phone=PHONE, before=third) is None
    assert dispute_as_duplicate(third).status == "pending"
    assert account_balance(clinic=clinic) == 800


def test_after_a_full_refund_the_next_enquiry_is_charged_with_nothing_shown_free(clinic):
    fund(clinic, 100)
    refunded_in_full(clinic)
    again = enquire(clinic)
    assert again.billing_state == Lead.Billing.CHARGED
    assert again.duplicate_of_id is None
    assert account_balance(clinic=clinic) == 0


def test_after_a_full_refund_an_unaffordable_enquiry_waits_masked(clinic):
    fund(clinic, 100)
    refunded_in_full(clinic)
    billing.adjust_credits(
        clinic=clinic, credits=-60, actor=StaffFactory(), reason="test", idempotency_key="adj:1"
    )
    again = enquire(clinic)
    assert again.billing_state == Lead.Billing.HELD
    assert lead_contact(again).masked


def test_a_partially_refunded_lead_still_counts_as_the_original(clinic):
    fund(clinic, 1_000)
    first = enquire(clinic)
    billing.refund_lead_charge(lead=first, credits=40, idempotency_key="refund:test:1")
    again = enquire(clinic)
    assert (again.billing_state, again.duplicate_of_id) == (Lead.Billing.DUPLICATE, first.pk)
    assert not lead_contact(again).masked
    assert account_balance(clinic=clinic) == 940


def test_a_held_lead_is_an_original_its_repeat_is_free_and_masked(clinic):
    first = enquire(clinic)
    again = enquire(clinic)
    assert (again.billing_state, again.duplicate_of_id) == (Lead.Billing.DUPLICATE, first.pk)
    assert lead_contact(again).masked


def test_automatic_approval_ignores_a_fully_refunded_earlier_lead(clinic):
    fund(clinic, 1_000)
    refunded_in_full(clinic)
    again = enquire(clinic)
    assert again.billing_state == Lead.Billing.CHARGED
    assert selectors.duplicate_original(clinic_id=clinic.pk, phone=PHONE, before=again) is None
    assert dispute_as_duplicate(again).status == "pending"


def test_automatic_approval_refunds_a_lead_intake_would_have_called_a_duplicate(clinic, settings):
    fund(clinic, 1_000)
    first = enquire(clinic)
    settings.LEAD_DUPLICATE_WINDOW_DAYS = 0  # detection was off when the second arrived
    second = enquire(clinic)
    settings.LEAD_DUPLICATE_WINDOW_DAYS = 30
    assert selectors.duplicate_original(clinic_id=clinic.pk, phone=PHONE, before=second) == first
    dispute = dispute_as_duplicate(second)
    assert dispute.status == "approved"
    assert f"lead #{first.pk}" in dispute.auto_reason


def test_the_rule_never_looks_at_later_leads_or_other_clinics(clinic):
    other = ClinicFactory()
    fund(clinic, 1_000)
    fund(other, 1_000)
    enquire(other)
    first = enquire(clinic)
    assert selectors.duplicate_original(clinic_id=clinic.pk, phone=PHONE, before=first) is None
    assert selectors.duplicate_original(clinic_id=clinic.pk, phone=PHONE) == first
