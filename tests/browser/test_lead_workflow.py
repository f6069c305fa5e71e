"""The clinic works its leads in place: a bulk action on a mix of held and charged leads,
and a note added on the lead page, without a page reload and without a CSP violation."""

import pytest
from playwright.sync_api import expect

from leads import services
from leads.models import Lead, LeadNote
from tests.factories import ClinicMemberFactory, LeadFactory, UserFactory, fund

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("seeded_tiers"),
]

PASSWORD = "correct horse battery staple"


def test_bulk_archive_reports_each_lead_and_reloads_the_table(page, live_server, login, screenshot):
    user = UserFactory(username="bulk-owner")
    clinic = ClinicMemberFactory(user=user).clinic
    fund(clinic, 1_000)
    first = services.submit_enquiry(clinic=clinic, name="First Patient", phone="9000000001")
    second = services.submit_enquiry(clinic=clinic, name="Second Patient", phone="9000000002")
    held = LeadFactory(clinic=clinic, patient_name="Held Patient")

    login(user.username, PASSWORD)
    page.goto(f"{live_server.url}/clinic/leads")
    page.evaluate("window.__notReloaded = true")
    for lead in (first, held):
        page.check(f'input[name="lead_ids"][value="{lead.pk}"]')
    page.select_option("#bulk-action", "archive")
    page.click('#bulk-form button[type="submit"]')
    results = page.locator('[data-testid="bulk-results"]')
    expect(results).to_contain_text("1 of 2 leads changed")
    expect(results).to_contain_text(f"Lead #{held.pk}: Top up to release this lead")
    expect(page.locator(f"#lead-{first.pk}")).to_have_count(0)  # the table reloaded
    expect(page.locator(f"#lead-{second.pk}")).to_have_count(1)
    assert page.evaluate("window.__notReloaded") is True
    assert Lead.objects.get(pk=first.pk).archived
    assert not Lead.objects.get(pk=held.pk).archived
    screenshot("inbox-bulk")


def test_a_note_is_added_in_place_and_a_blank_one_shows_why(page, live_server, login):
    user = UserFactory(username="note-owner")
    clinic = ClinicMemberFactory(user=user).clinic
    fund(clinic, 1_000)
    lead = services.submit_enquiry(clinic=clinic, name="Asha Patel", phone="9000000001")

    login(user.username, PASSWORD)
    page.goto(f"{live_server.url}/clinic/leads/{lead.pk}")
    page.evaluate("window.__notReloaded = true")
    page.fill("#id_body", "   ")
    page.click('#notes button[type="submit"]')
    expect(page.locator('[data-testid="note-errors"]')).to_contain_text("Write something")
    page.fill("#id_body", "Called back, booked Monday")
    page.click('#notes button[type="submit"]')
    expect(page.locator('[data-testid="note"]')).to_contain_text("Called back, booked Monday")
    assert page.evaluate("window.__notReloaded") is True
    assert LeadNote.objects.get().author == user
