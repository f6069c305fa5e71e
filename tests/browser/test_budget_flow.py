"""An owner sets a weekly cap at /clinic/budget on a phone, a lead arrives over it and waits
masked, the public page stops taking enquiries, and raising the cap releases the lead."""

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

OVERFLOW = "document.documentElement.scrollWidth - document.documentElement.clientWidth"


def test_owner_caps_the_week_and_raises_the_cap_to_release_a_waiting_lead(
    page, live_server, login, screenshot
):
    page.set_viewport_size({"width": 390, "height": 844})
    owner = UserFactory(username="cap-owner")
    clinic = ClinicMemberFactory(user=owner, clinic__name="Glow Skin Clinic").clinic
    fund(clinic, 1_000)
    other = PackageFactory(name="Hydrafacial", price_paise=2_000_00)  # same tier as a lead
    login(owner.username, "correct horse battery staple")

    page.click("text=Menu")
    page.click("nav >> text=Budget")
    page.wait_for_url("**/clinic/budget")
    page.fill("#id_weekly_cap", "100")
    page.click("[data-testid=budget-form] button[type=submit]")
    expect(page.locator(".messages")).to_contain_text("Budget saved")
    expect(page.locator("[data-testid=week-spent]")).to_have_text("0 / 100")
    assert page.evaluate(OVERFLOW) <= 0

    first = services.submit_enquiry(clinic=clinic, name="Meera Iyer", phone="9845012345")
    second = services.submit_enquiry(clinic=clinic, name="Ravi Kumar", phone="9845012346")
    assert Lead.objects.get(pk=first.pk).billing_state == "charged"
    assert Lead.objects.get(pk=second.pk).billing_state == "over_budget"
    page.reload()
    expect(page.locator("[data-testid=week-spent]")).to_have_text("100 / 100")
    expect(page.locator("[data-testid=capped-banner]")).to_be_visible()
    expect(page.locator("[data-testid=week-reset]")).to_contain_text("00:00 IST")
    screenshot("budget-capped-390")

    page.goto(f"{live_server.url}/clinic/leads/{second.pk}")
    expect(page.locator("[data-testid=over-budget-banner]")).to_be_visible()
    expect(page.locator("body")).not_to_contain_text("Ravi Kumar")

    page.goto(f"{live_server.url}/clinics/{clinic.slug}/")
    expect(page.locator("#not-taking")).to_contain_text("not taking new enquiries")
    expect(page.locator("#not-taking")).to_contain_text(other.clinic.name)
    assert page.locator("#enquiry-form").count() == 0

    page.goto(f"{live_server.url}/clinic/budget")
    page.fill("#id_weekly_cap", "500")
    page.click("[data-testid=budget-form] button[type=submit]")
    expect(page.locator(".messages")).to_contain_text("Budget saved")
    expect(page.locator("[data-testid=week-spent]")).to_have_text("200 / 500")
    assert Lead.objects.get(pk=second.pk).billing_state == "charged"

    page.check("input[value=until_resumed]")
    page.click("[data-testid=budget-form] button[type=submit]")
    expect(page.locator("[data-testid=paused-banner]")).to_contain_text("until you resume")
    expect(page.locator("[data-testid=budget-history]")).to_contain_text("cap-owner")
    screenshot("budget-paused-390")
    assert page.evaluate(OVERFLOW) <= 0
