"""A patient enquires; the clinic sees the lead, its balance lowered by the tier price, and
works the lead without a page reload."""

from datetime import date

import pytest
from playwright.sync_api import expect

from leads import services
from leads.models import Lead
from tests.factories import ClinicMemberFactory, PackageFactory, UserFactory, fund

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("seeded_tiers"),
]

PASSWORD = "correct horse battery staple"


def test_patient_enquiry_reaches_the_clinic_charged_and_is_worked_in_place(
    page, live_server, login, screenshot
):
    user = UserFactory(username="glow-owner")
    clinic = ClinicMemberFactory(user=user, clinic__name="Glow Skin Clinic").clinic
    fund(clinic, 2_000)
    package = PackageFactory(clinic=clinic, name="Botox full face", price_paise=35_000_00)

    # The patient, anonymously, on the package page.
    page.goto(f"{live_server.url}/packages/{package.pk}/")
    page.fill("#id_name", "Meera Iyer")
    page.fill("#id_phone", "98450 12345")
    page.fill("#id_message", "Is next Saturday possible?")
    page.check("#id_consent")
    page.click("text=Send enquiry")
    page.wait_for_url("**/enquiry-sent")
    assert "your enquiry has been sent" in page.inner_text("h1")

    # The clinic logs in: balance lowered by exactly the ₹20,000–49,999.99 tier price.
    login(user.username, PASSWORD)
    assert page.inner_text("[data-testid=header-balance]") == "1,680"
    assert page.inner_text("[data-testid=balance]") == "1,680"
    assert page.locator("text=Top up credits").count() == 1
    screenshot("dashboard")

    page.click("nav >> text=Leads")
    page.wait_for_url("**/clinic/leads")
    row = page.locator("[data-testid=lead-row]", has_text="Meera Iyer")
    assert row.count() == 1
    assert "+919845012345" in row.inner_text()
    assert "Charged" in row.inner_text()

    # Change the status: htmx swaps the row; the page is not reloaded.
    page.evaluate("window.__notReloaded = true")
    lead = Lead.objects.get(patient_name="Meera Iyer")
    with page.expect_response(lambda r: r.url.endswith("/clinic/leads/update-status")) as answer:
        row.locator("select[name=status]").select_option("contacted")
    assert answer.value.status == 200
    expect(page.locator(f"#lead-{lead.pk} select[name=status]")).to_have_value("contacted")
    assert page.evaluate("window.__notReloaded") is True
    lead.refresh_from_db()
    assert lead.status == "contacted"
    screenshot("inbox")


def test_inbox_filter_swaps_the_table_without_reload(page, live_server, login, screenshot):
    user = UserFactory(username="filter-owner")
    clinic = ClinicMemberFactory(user=user).clinic
    fund(clinic, 1_000)
    booked = services.submit_enquiry(clinic=clinic, name="Booked Patient", phone="9000000001")
    services.update_lead_status(lead=booked, status="booked", booked_for=date(2026, 5, 4))
    services.submit_enquiry(clinic=clinic, name="New Patient", phone="9000000002")

    login(user.username, PASSWORD)
    page.goto(f"{live_server.url}/clinic/leads")
    page.evaluate("window.__notReloaded = true")
    page.select_option("#id_status", "booked")
    page.wait_for_url("**/clinic/leads?*status=booked*")
    expect(page.locator("#lead-table")).not_to_contain_text("New Patient")
    assert "Booked Patient" in page.inner_text("#lead-table")
    assert page.evaluate("window.__notReloaded") is True
    screenshot("inbox-filtered")
