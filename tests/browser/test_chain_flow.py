"""Staff build a chain of three locations in the admin; its owner, on a phone, sees every
location and moves credits to the one whose lead is waiting, which is then charged."""

import pytest
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import expect

from antidote.management.commands.staff_totp import current_code
from leads import services as leads
from leads.models import Clinic, Lead, Organisation, OrganisationMember
from tests.factories import ClinicFactory, ClinicMemberFactory, StaffFactory, UserFactory, fund

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("seeded_tiers"),
]

PASSWORD = "correct horse battery staple"
OVERFLOW = "document.documentElement.scrollWidth - document.documentElement.clientWidth"


def test_a_chain_is_built_in_the_admin_and_its_owner_moves_credits(
    page, live_server, login, screenshot
):
    names = ["Glow Bandra", "Glow Pune", "Glow Thane"]
    clinics = [ClinicFactory(name=name) for name in names]
    owner = UserFactory(username="chain-owner")
    for clinic in clinics:
        ClinicMemberFactory(user=owner, clinic=clinic)
    fund(clinics[0], 1_000)
    boss = StaffFactory(username="boss", is_superuser=True)

    page.goto(f"{live_server.url}/admin/login/?next=/admin/leads/organisation/add/")
    page.fill("#id_username", "boss")
    page.fill("#id_password", PASSWORD)
    page.fill("#id_otp_token", current_code(TOTPDevice.objects.create(user=boss)))
    page.click("input[type=submit]")
    page.wait_for_url("**/admin/leads/organisation/add/")
    page.fill("#id_name", "Glow chain")
    page.click("input[name=_save]")
    expect(page.locator(".messagelist")).to_contain_text("was added successfully")
    chain = Organisation.objects.get(name="Glow chain")
    for clinic in clinics:
        page.goto(f"{live_server.url}/admin/leads/clinic/{clinic.pk}/change/")
        page.click(".field-organisation .select2-selection")
        page.fill(".select2-search__field", "Glow")
        page.click(".select2-results__option >> text=Glow chain")
        page.click("input[name=_save]")
        expect(page.locator(".messagelist")).to_contain_text("was changed successfully")
    assert set(Clinic.objects.filter(organisation=chain).values_list("name", flat=True)) == set(
        names
    )
    OrganisationMember.objects.create(user=owner, organisation=chain)
    page.goto(f"{live_server.url}/admin/leads/organisation/{chain.pk}/change/")
    for name in names:
        expect(page.locator(".inline-group").first).to_contain_text(name)
    screenshot("chain-admin")

    waiting = leads.submit_enquiry(clinic=clinics[1], name="Meera Iyer", phone="9845012345")
    assert Lead.objects.get(pk=waiting.pk).billing_state == "held"

    page.context.clear_cookies()
    page.set_viewport_size({"width": 390, "height": 844})
    login(owner.username, PASSWORD)
    page.click("text=Menu")
    page.click("nav >> text=Move credits")
    page.wait_for_url("**/clinic/credits/transfer")
    rows = page.locator("[data-testid=locations] tbody tr")
    expect(rows).to_have_count(3)
    expect(rows.nth(1)).to_contain_text("Glow Pune")
    expect(rows.nth(1).locator("td").nth(3)).to_have_text("1")  # the waiting lead
    screenshot("chain-move-credits-390")
    assert page.evaluate(OVERFLOW) <= 0

    page.select_option("#id_target", label="Glow Pune")
    page.fill("#id_credits", "300")
    page.click("[data-testid=transfer-form] button[type=submit]")
    page.wait_for_url("**/clinic/credits/history")
    expect(page.locator(".messages")).to_contain_text("Moved 300 credits to Glow Pune")
    expect(page.locator("body")).to_contain_text("Transfer to Glow Pune")
    assert Lead.objects.get(pk=waiting.pk).billing_state == "charged"

    page.select_option("#clinic-switch", label="Glow Pune")
    page.click(".switcher button[type=submit]")
    page.goto(f"{live_server.url}/clinic/credits/history")
    expect(page.locator("body")).to_contain_text("Transfer from Glow Bandra")
    expect(page.locator("[data-testid=header-balance]")).to_have_text("200")
    screenshot("chain-pune-history-390")
