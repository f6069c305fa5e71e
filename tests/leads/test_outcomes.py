"""Lead outcomes: the lifecycle with its details, each step recorded (who, when), steps back,
speed to lead, and the quick actions in the inbox and on the lead page."""

from datetime import date, timedelta
from importlib import import_module

import pytest
from django.apps import apps as live_apps
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.utils import timezone

from antidote.errors import AntidoteError
from leads import analytics, services
from leads.models import Lead, LeadEvent
from tests.factories import ClinicFactory, ClinicMemberFactory, LeadFactory, UserFactory, fund

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_rate_limit():
    cache.clear()


@pytest.fixture
def me(clinic):
    return ClinicMemberFactory(
        clinic=clinic, user=UserFactory(username="priya", first_name="Priya", last_name="S")
    )


@pytest.fixture
def logged_in(client, me):
    client.force_login(me.user)
    return client


def charged(clinic, phone="9000000001", name="Asha Patel"):
    fund(clinic, 100)
    lead = services.submit_enquiry(clinic=clinic, name=name, phone=phone)
    assert lead.billing_state == "charged"
    return lead


def test_each_step_is_recorded_with_who_and_when_and_its_details(clinic, me):
    lead = charged(clinic)
    services.update_lead_status(lead=lead, status="contacted", actor=me.user)
    services.update_lead_status(
        lead=lead, status="booked", actor=me.user, booked_for=date(2026, 5, 4)
    )
    services.update_lead_status(lead=lead, status="treated", actor=me.user, revenue_paise=4_500_000)
    lead.refresh_from_db()
    assert (lead.status, lead.revenue_paise, lead.booked_for) == ("treated", 4_500_000, None)
    steps = list(LeadEvent.objects.filter(lead=lead).order_by("at", "id"))
    assert [(e.from_status, e.to_status) for e in steps] == [
        ("new", "contacted"),
        ("contacted", "booked"),
        ("booked", "treated"),
    ]
    assert {e.actor_name for e in steps} == {"Priya S"}
    assert steps[1].booked_for == date(2026, 5, 4)
    assert steps[2].revenue_paise == 4_500_000


def test_moving_back_is_allowed_recorded_and_clears_the_later_details(clinic, me):
    lead = charged(clinic)
    services.update_lead_status(lead=lead, status="treated", actor=me.user, revenue_paise=100)
    services.update_lead_status(lead=lead, status="contacted", actor=me.user)
    lead.refresh_from_db()
    assert (lead.status, lead.revenue_paise) == ("contacted", None)
    assert LeadEvent.objects.filter(lead=lead, from_status="treated", to_status="contacted")


def test_saving_the_same_outcome_again_records_nothing(clinic, me):
    lead = charged(clinic)
    services.update_lead_status(lead=lead, status="lost", actor=me.user, lost_reason="price")
    services.update_lead_status(lead=lead, status="lost", actor=me.user, lost_reason="price")
    assert LeadEvent.objects.filter(lead=lead).count() == 1
    services.update_lead_status(lead=lead, status="lost", actor=me.user, lost_reason="other")
    assert LeadEvent.objects.filter(lead=lead).count() == 2


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"status": "booked"}, "appointment date"),
        ({"status": "lost"}, "Choose why the lead was lost"),
        ({"status": "lost", "lost_reason": "bored"}, "Choose why the lead was lost"),
        ({"status": "contacted", "revenue_paise": 100}, "only for a treated patient"),
        ({"status": "treated", "revenue_paise": -1}, "Revenue is between"),
        ({"status": "treated", "revenue_paise": 10**13}, "Revenue is between"),
        ({"status": "converted"}, "not a lead status"),
    ],
)
def test_a_step_without_its_details_is_refused_and_changes_nothing(clinic, me, kwargs, message):
    lead = charged(clinic)
    with pytest.raises(AntidoteError, match=message):
        services.update_lead_status(lead=lead, actor=me.user, **kwargs)
    lead.refresh_from_db()
    assert lead.status == "new"
    assert not LeadEvent.objects.filter(lead=lead).exists()


def test_the_database_refuses_details_that_do_not_fit_the_status(clinic):
    lead = charged(clinic)
    for change in ({"revenue_paise": 5}, {"booked_for": date(2026, 1, 1)}, {"lost_reason": "x"}):
        with pytest.raises(IntegrityError), transaction.atomic():
            Lead.objects.filter(pk=lead.pk).update(**change)


def test_speed_to_lead_starts_at_the_first_contact_and_survives_a_step_back(clinic, me):
    lead = charged(clinic)
    services.update_lead_status(lead=lead, status="lost", actor=me.user, lost_reason="unreachable")
    lead.refresh_from_db()
    assert lead.first_contacted_at is None  # unreachable: never reached
    services.update_lead_status(lead=lead, status="contacted", actor=me.user)
    lead.refresh_from_db()
    first = lead.first_contacted_at
    assert first is not None
    services.update_lead_status(lead=lead, status="new", actor=me.user)
    services.update_lead_status(lead=lead, status="booked", actor=me.user, booked_for=date.today())
    lead.refresh_from_db()
    assert lead.first_contacted_at == first


def test_median_speed_to_lead_by_hand(clinic):
    now = timezone.now()
    waits = [timedelta(minutes=10), timedelta(hours=2), timedelta(minutes=30), timedelta(days=1)]
    for i, wait in enumerate(waits):
        lead = charged(clinic, phone=f"900000010{i}")
        Lead.objects.filter(pk=lead.pk).update(
            created_at=now - timedelta(days=2),
            charged_at=now - timedelta(days=2),
            first_contacted_at=now - timedelta(days=2) + wait,
        )
    # The median of 10 min, 30 min, 2 h, 1 day is the lower middle: 30 minutes.
    assert analytics.median_response_seconds(clinic_ids=[clinic.pk]) == 30 * 60
    # A held lead released later counts from its release, not its arrival.
    released = charged(clinic, phone="9000000200")
    Lead.objects.filter(pk=released.pk).update(
        created_at=now - timedelta(days=3),
        charged_at=now - timedelta(hours=1),
        first_contacted_at=now - timedelta(minutes=55),
    )
    # 5 min from its release: 5, 10, 30 min, 2 h, 1 day → 30 min (from arrival it would be 2 h).
    assert analytics.median_response_seconds(clinic_ids=[clinic.pk]) == 30 * 60
    assert analytics.median_response_seconds(clinic_ids=[ClinicFactory().pk]) is None


def test_bulk_status_records_who_and_refuses_steps_that_need_details(clinic, me):
    a, b = charged(clinic), charged(clinic, phone="9000000002")
    results = services.bulk_update_leads(
        clinic=clinic, lead_ids=[a.pk, b.pk], action="status", status="contacted", actor=me.user
    )
    assert all(r.done for r in results)
    assert set(LeadEvent.objects.values_list("via", "actor_name")) == {("bulk", "Priya S")}
    results = services.bulk_update_leads(
        clinic=clinic, lead_ids=[a.pk], action="status", status="booked", actor=me.user
    )
    assert not results[0].done and "appointment date" in results[0].message


# The portal ----------------------------------------------------------------------------------


def test_the_inbox_has_call_and_whatsapp_links_for_a_visible_contact_only(logged_in, clinic):
    lead = charged(clinic)
    waiting = LeadFactory(clinic=clinic, phone="+919000000077")
    page = logged_in.get("/clinic/leads").content.decode()
    assert 'href="tel:+919000000001"' in page
    assert "https://wa.me/919000000001?text=Hello+Asha+Patel%2C+this+is+" in page
    assert "+919000000077" not in page and "wa.me/919000000077" not in page
    assert waiting.pk and lead.pk


def test_one_tap_contacted_from_the_inbox_answers_with_the_row(logged_in, clinic):
    lead = charged(clinic)
    response = logged_in.post(
        "/clinic/leads/update-status",
        {"lead_id": lead.pk, "status": "contacted"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    assert 'data-testid="status-saved"' in response.content.decode()
    lead.refresh_from_db()
    assert lead.status == "contacted" and lead.first_contacted_at


def test_booking_from_the_inbox_without_a_date_keeps_the_choice_and_says_why(logged_in, clinic):
    lead = charged(clinic)
    response = logged_in.post(
        "/clinic/leads/update-status",
        {"lead_id": lead.pk, "status": "booked"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 400
    page = response.content.decode()
    assert "Give the appointment date" in page
    assert '<option value="booked" selected>' in page
    response = logged_in.post(
        "/clinic/leads/update-status",
        {"lead_id": lead.pk, "status": "booked", "booked_for": "2026-05-04"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    lead.refresh_from_db()
    assert lead.booked_for == date(2026, 5, 4)


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"status": "treated", "revenue": "lots"}, "Revenue (₹, optional): Enter an amount"),
        ({"status": "booked", "booked_for": "31/31/2026"}, "Appointment date: Enter a valid date"),
        ({"status": "treated", "revenue": "1.001"}, "two decimal places"),
    ],
)
def test_bad_outcome_details_are_a_400_with_the_reason(logged_in, clinic, fields, message):
    lead = charged(clinic)
    response = logged_in.post(
        "/clinic/leads/update-status", {"lead_id": lead.pk, **fields}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 400
    assert message in response.content.decode()
    lead.refresh_from_db()
    assert lead.status == "new"


def test_the_lead_page_shows_the_timeline_and_revenue_in_rupees(logged_in, clinic, me):
    lead = charged(clinic)
    services.update_lead_status(lead=lead, status="treated", actor=me.user, revenue_paise=4_500_050)
    page = logged_in.get(f"/clinic/leads/{lead.pk}").content.decode()
    assert "revenue ₹45,000.50" in page
    assert 'data-testid="event"' in page and "Priya S" in page
    assert 'href="tel:+919000000001"' in page


def test_treated_with_revenue_typed_in_rupees_through_the_page(logged_in, clinic):
    lead = charged(clinic)
    response = logged_in.post(
        "/clinic/leads/update-status",
        {"lead_id": lead.pk, "status": "treated", "revenue": "₹1,00,000.50"},
    )
    assert response.status_code == 302
    lead.refresh_from_db()
    assert lead.revenue_paise == 10_000_050


def test_another_clinics_lead_takes_no_outcome(logged_in):
    theirs = charged(ClinicFactory())
    response = logged_in.post(
        "/clinic/leads/update-status", {"lead_id": theirs.pk, "status": "contacted"}
    )
    assert response.status_code == 404
    theirs.refresh_from_db()
    assert theirs.status == "new"


def test_the_migration_moves_converted_leads_to_treated_with_no_revenue(clinic):
    lead = charged(clinic)
    Lead.objects.filter(pk=lead.pk).update(status="converted")
    migration = import_module("leads.migrations.0007_outcomes")
    migration.converted_to_treated(live_apps, None)
    lead.refresh_from_db()
    assert (lead.status, lead.revenue_paise) == ("treated", None)
    event = LeadEvent.objects.get(lead=lead)
    assert (event.from_status, event.to_status, event.via) == ("converted", "treated", "migration")
