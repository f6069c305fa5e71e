"""Lead intake: charge on delivery, duplicates free, hold and release, masking, notifications."""

from datetime import date, timedelta

import pytest
from django.core import mail

from antidote.errors import AntidoteError
from billing.models import CreditAccount, CreditTransaction, Kind
from billing.selectors import account_balance
from leads import services
from leads.models import Lead
from leads.selectors import lead_contact
from tests.factories import ClinicFactory, PackageFactory, fund

pytestmark = pytest.mark.django_db


def enquire(clinic, package=None, phone="9876543210", **extra):
    return services.submit_enquiry(
        clinic=clinic, package=package, name="Asha Patel", phone=phone, **extra
    )


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        ("9876543210", "+919876543210"),
        ("98765 43210", "+919876543210"),
        ("+91 98765-43210", "+919876543210"),
        ("919876543210", "+919876543210"),
        ("09876543210", "+919876543210"),
        ("(987) 654-3210", "+919876543210"),
    ],
)
def test_indian_mobile_numbers_are_normalised(raw, normalised):
    assert services.normalise_phone(raw) == normalised


@pytest.mark.parametrize(
    "raw", ["", "12345", "5876543210", "98765432101", "+44 7911 123456", "98765abcde"]
)
def test_invalid_mobile_numbers_are_refused(raw):
    with pytest.raises(AntidoteError, match="Indian mobile"):
        services.normalise_phone(raw)


def test_delivered_lead_is_charged_its_tier_price_with_a_snapshot(clinic):
    fund(clinic, 1_000)
    package = PackageFactory(clinic=clinic, price_paise=12_000_00)
    lead = enquire(clinic, package)
    lead.refresh_from_db()
    assert lead.billing_state == Lead.Billing.CHARGED
    assert (lead.package_price_paise, lead.tier_min_price_paise, lead.price_credits) == (
        12_000_00,
        10_000_00,
        250,
    )
    assert lead.charged_at is not None
    assert account_balance(clinic=clinic) == 750
    charge = CreditTransaction.objects.get(kind=Kind.LEAD_CHARGE)
    assert (charge.lead_id, charge.credits) == (lead.pk, -250)


def test_snapshot_survives_later_package_price_changes(clinic):
    fund(clinic, 1_000)
    package = PackageFactory(clinic=clinic, price_paise=3_000_00)
    lead = enquire(clinic, package)
    package.price_paise = 60_000_00
    package.save()
    lead.refresh_from_db()
    assert lead.price_credits == 100


def test_lead_without_package_costs_the_lowest_tier(clinic):
    fund(clinic, 1_000)
    lead = enquire(clinic)
    assert (lead.package_price_paise, lead.price_credits) == (None, 100)
    assert account_balance(clinic=clinic) == 900


def test_same_patient_within_the_window_is_a_free_duplicate(clinic):
    fund(clinic, 1_000)
    first = enquire(clinic, phone="9876543210")
    second = enquire(clinic, phone="+91 98765 43210")
    assert second.billing_state == Lead.Billing.DUPLICATE
    assert second.duplicate_of_id == first.pk
    assert account_balance(clinic=clinic) == 900
    assert CreditTransaction.objects.filter(kind=Kind.LEAD_CHARGE).count() == 1


def test_same_patient_after_the_window_is_charged_again(clinic, settings):
    settings.LEAD_DUPLICATE_WINDOW_DAYS = 30
    fund(clinic, 1_000)
    first = enquire(clinic)
    Lead.objects.filter(pk=first.pk).update(created_at=first.created_at - timedelta(days=31))
    second = enquire(clinic)
    assert second.billing_state == Lead.Billing.CHARGED
    assert account_balance(clinic=clinic) == 800


def test_same_patient_to_another_clinic_is_not_a_duplicate(clinic):
    other = ClinicFactory()
    fund(clinic, 1_000)
    fund(other, 1_000)
    enquire(clinic)
    assert enquire(other).billing_state == Lead.Billing.CHARGED


def test_unaffordable_lead_is_held_not_lost_and_nothing_is_charged(clinic):
    fund(clinic, 50)
    lead = enquire(clinic)
    assert lead.billing_state == Lead.Billing.HELD
    assert Lead.objects.filter(pk=lead.pk).exists()
    assert account_balance(clinic=clinic) == 50
    assert not CreditTransaction.objects.filter(kind=Kind.LEAD_CHARGE).exists()


def test_overdraft_limit_lets_a_lead_through_below_zero(clinic):
    CreditAccount.objects.filter(clinic=clinic).update(overdraft_limit=100)
    assert enquire(clinic).billing_state == Lead.Billing.CHARGED
    assert account_balance(clinic=clinic) == -100
    assert enquire(clinic, phone="9876500000").billing_state == Lead.Billing.HELD


def test_held_leads_are_released_oldest_first_when_credits_arrive(
    clinic, django_capture_on_commit_callbacks
):
    cheap = PackageFactory(clinic=clinic, price_paise=1_000_00)  # 100 credits
    dear = PackageFactory(clinic=clinic, price_paise=60_000_00)  # 400 credits
    oldest = enquire(clinic, dear, phone="9000000001")
    middle = enquire(clinic, cheap, phone="9000000002")
    newest = enquire(clinic, cheap, phone="9000000003")
    assert {lead.billing_state for lead in (oldest, middle, newest)} == {Lead.Billing.HELD}

    with django_capture_on_commit_callbacks(execute=True):
        fund(clinic, 450)  # pays the oldest (400), then the middle one is unaffordable: stop

    states = dict(Lead.objects.values_list("pk", "billing_state"))
    assert states[oldest.pk] == Lead.Billing.CHARGED
    assert states[middle.pk] == Lead.Billing.HELD
    assert states[newest.pk] == Lead.Billing.HELD  # not skipped ahead of the older one
    assert account_balance(clinic=clinic) == 50

    with django_capture_on_commit_callbacks(execute=True):
        fund(clinic, 200)
    assert set(Lead.objects.values_list("billing_state", flat=True)) == {Lead.Billing.CHARGED}
    assert account_balance(clinic=clinic) == 50
    assert CreditTransaction.objects.filter(kind=Kind.LEAD_CHARGE).count() == 3


def test_release_of_a_clinic_with_nothing_held_changes_nothing(clinic):
    fund(clinic, 500)
    assert services.release_held_leads(clinic_id=clinic.pk) == []
    assert account_balance(clinic=clinic) == 500


def test_held_lead_contact_is_masked_until_released(clinic, django_capture_on_commit_callbacks):
    lead = enquire(clinic, message="Call me after 6pm", email="asha@example.com")
    contact = lead_contact(lead)
    assert contact.masked
    assert "9876543210" not in contact.phone
    assert contact.phone.endswith("10")
    assert "Asha" not in contact.name
    assert "6pm" not in contact.message
    assert "asha@" not in contact.email
    with django_capture_on_commit_callbacks(execute=True):
        fund(clinic, 100)
    lead.refresh_from_db()
    visible = lead_contact(lead)
    assert (visible.masked, visible.phone, visible.name) == (False, "+919876543210", "Asha Patel")


def test_notifications_are_sent_only_after_commit(clinic, django_capture_on_commit_callbacks):
    fund(clinic, 100)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        enquire(clinic)
        enquire(clinic, phone="9000000009")  # held: no credits left
    assert mail.outbox == []
    for callback in callbacks:
        callback()
    subjects = [m.subject for m in mail.outbox]
    assert any(s.startswith("New enquiry") for s in subjects)
    assert any("waiting" in s for s in subjects)
    assert all(m.to == [clinic.contact_email] for m in mail.outbox)


def test_duplicates_send_no_notification(clinic, django_capture_on_commit_callbacks):
    fund(clinic, 1_000)
    with django_capture_on_commit_callbacks(execute=True):
        enquire(clinic)
        enquire(clinic)
    assert len(mail.outbox) == 1


def test_inactive_clinic_and_package_are_refused(clinic):
    package = PackageFactory(clinic=clinic, is_active=False)
    with pytest.raises(AntidoteError, match="no longer offered"):
        enquire(clinic, package)
    clinic.is_active = False
    clinic.save()
    with pytest.raises(AntidoteError, match="not taking enquiries"):
        enquire(clinic)
    assert not Lead.objects.exists()


def test_package_of_another_clinic_is_refused(clinic):
    with pytest.raises(AntidoteError, match="another clinic"):
        enquire(clinic, PackageFactory())
    assert not Lead.objects.exists()


def test_status_moves_through_the_workflow(clinic):
    fund(clinic, 1_000)
    lead = enquire(clinic)
    details = {"booked": {"booked_for": date(2026, 5, 4)}, "lost": {"lost_reason": "price"}}
    for status in ["contacted", "booked", "treated", "lost"]:
        services.update_lead_status(lead=lead, status=status, **details.get(status, {}))
        lead.refresh_from_db()
        assert lead.status == status


def test_status_refuses_unknown_values_and_held_leads(clinic):
    lead = enquire(clinic)  # held: no credits
    with pytest.raises(AntidoteError, match="Top up"):
        services.update_lead_status(lead=lead, status="contacted")
    with pytest.raises(AntidoteError, match="not a lead status"):
        services.update_lead_status(lead=lead, status="paid")
    lead.refresh_from_db()
    assert lead.status == Lead.Status.NEW
