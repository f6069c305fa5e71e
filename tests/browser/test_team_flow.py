"""An owner invites a front-desk member, who creates a login from the emailed link, works a
lead, adds a note to it, and cannot open the top-up page."""

import re

import pytest
from django.core import mail
from playwright.sync_api import expect

from leads import services
from leads.models import ClinicMember, Lead, LeadNote
from tests.factories import ClinicMemberFactory, UserFactory, fund

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("seeded_tiers"),
]

PASSWORD = "correct horse battery staple"
NEW_PASSWORD = "a long and unusual passphrase 2026"


def test_owner_invites_the_front_desk_who_works_leads_but_sees_no_money(
    page, live_server, login, screenshot
):
    owner = UserFactory(username="glow-owner")
    clinic = ClinicMemberFactory(user=owner, clinic__name="Glow Skin Clinic").clinic
    fund(clinic, 1_000)
    services.submit_enquiry(clinic=clinic, name="Meera Iyer", phone="9845012345")

    login(owner.username, PASSWORD)
    page.click("nav >> text=Team")
    page.wait_for_url("**/clinic/team")
    page.fill("#id_email", "desk@glow.example")
    page.select_option("#id_role", "front_desk")
    page.click("#invite-form button[type=submit]")
    expect(page.locator(".messages")).to_contain_text("Invitation sent to desk@glow.example")
    screenshot("team")
    (message,) = [m for m in mail.outbox if m.to == ["desk@glow.example"]]
    link = re.search(r"https?://\S+(/invitations/\S+)", message.body)[1]
    page.click("text=Log out")

    page.goto(f"{live_server.url}{link}")
    page.fill("#id_username", "glow-desk")
    page.fill("#id_password1", NEW_PASSWORD)
    page.fill("#id_password2", NEW_PASSWORD)
    page.click("#invitation-account-form button[type=submit]")
    page.wait_for_url("**/clinic/dashboard")
    assert ClinicMember.objects.get(user__username="glow-desk").role == "front_desk"
    assert page.locator("text=Top up credits").count() == 0
    assert page.locator("[data-testid=header-balance]").count() == 0
    screenshot("front-desk-dashboard")

    page.click("nav >> text=Leads")
    page.wait_for_url("**/clinic/leads")
    lead = Lead.objects.get(patient_name="Meera Iyer")
    with page.expect_response(lambda r: r.url.endswith("/clinic/leads/update-status")) as answer:
        page.locator(f"#lead-{lead.pk} select[name=status]").select_option("contacted")
    assert answer.value.status == 200
    lead.refresh_from_db()
    assert lead.status == "contacted"

    page.goto(f"{live_server.url}/clinic/leads/{lead.pk}")
    page.fill("#id_body", "Called back; she prefers evenings.")
    page.click('#notes button[type="submit"]')
    expect(page.locator('[data-testid="note"]')).to_contain_text("prefers evenings")
    note = LeadNote.objects.get(lead=lead)
    assert note.author.username == "glow-desk"
    screenshot("front-desk-note")

    response = page.goto(f"{live_server.url}/clinic/credits/topup")
    assert response.status == 403
    assert "not part of your role" in page.inner_text("h1")
