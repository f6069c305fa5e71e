"""A clinic disputes a lead; a reviewer approves it in the admin; the clinic sees the refund."""

import pytest
from django.contrib.auth.models import Permission
from django_otp.plugins.otp_totp.models import TOTPDevice

from antidote.management.commands.staff_totp import current_code
from leads import services as leads
from tests.disputes.conftest import DESCRIPTION
from tests.factories import ClinicMemberFactory, StaffFactory, UserFactory, fund

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("seeded_tiers"),
]

PASSWORD = "correct horse battery staple"


def test_dispute_approved_in_the_admin_refunds_the_clinic(page, live_server, login, screenshot):
    owner = UserFactory(username="dispute-owner")
    clinic = ClinicMemberFactory(user=owner, clinic__name="Bright Aesthetics").clinic
    fund(clinic, 1_000)
    lead = leads.submit_enquiry(clinic=clinic, name="Fake Person", phone="9000000001")
    reviewer = StaffFactory(username="reviewer")
    reviewer.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_dispute", "decide_dispute"])
    )

    login(owner.username, PASSWORD)
    assert page.inner_text("[data-testid=header-balance]") == "900"
    page.goto(f"{live_server.url}/clinic/leads")
    page.evaluate("window.__notReloaded = true")
    page.click(f"#lead-{lead.pk} [data-testid=dispute-link]")  # opens in place (htmx)
    page.select_option("#id_dispute_type", "invalid_contact")
    page.fill("#id_description", DESCRIPTION)
    screenshot("dispute-form")
    page.click("text=Open dispute")
    page.wait_for_selector("[data-testid=dispute-opened]")
    assert "Pending review" in page.inner_text("[data-testid=dispute-opened]")
    assert page.evaluate("window.__notReloaded") is True
    assert page.url.endswith("/clinic/leads")
    screenshot("dispute-opened")
    page.goto(f"{live_server.url}/clinic/disputes")
    assert "Pending review" in page.inner_text("[data-testid=dispute-row]")

    # The reviewer, in the same browser (one connection at a time to the test server).
    staff_page = page
    staff_page.goto(f"{live_server.url}/admin/login/?next=/admin/disputes/dispute/")
    staff_page.fill("#id_username", "reviewer")
    staff_page.fill("#id_password", PASSWORD)
    staff_page.fill("#id_otp_token", current_code(TOTPDevice.objects.create(user=reviewer)))
    staff_page.click("input[type=submit]")
    staff_page.wait_for_url("**/admin/disputes/dispute/")
    staff_page.check("input[name=_selected_action]")
    staff_page.select_option("select[name=action]", "approve_full")
    staff_page.click("button[name=index]")
    # The confirmation page: what it refunds per clinic and in all, before anything moves.
    assert "In all: +100 credits" in staff_page.inner_text("[data-testid=money-total]")
    screenshot("dispute-admin-confirm")
    staff_page.click("input[value='Yes, confirm']")
    staff_page.wait_for_selector(".messagelist")
    assert "Approved: refunded" in staff_page.inner_text(".messagelist")
    screenshot("dispute-admin")

    login(owner.username, PASSWORD)
    page.goto(f"{live_server.url}/clinic/disputes")
    assert "Approved: refunded" in page.inner_text("[data-testid=dispute-row]")
    assert "+100" in page.inner_text("[data-testid=dispute-row]")
    assert page.inner_text("[data-testid=header-balance]") == "1,000"
    screenshot("dispute-refunded")
