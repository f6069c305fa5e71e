"""A billing member saves a test-mode UPI mandate and a rule on the automatic top-up page, a
lead's charge takes the balance below the level, and the page shows the top-up credited."""

import pytest
from playwright.sync_api import expect

from billing.selectors import account_balance
from leads import services as leads
from payments.models import CreditPackage
from tests.factories import ClinicMemberFactory, PackageFactory, UserFactory, fund

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("seeded_tiers"),
]

PASSWORD = "correct horse battery staple"


def test_a_rule_set_in_the_portal_is_triggered_by_a_lead(page, live_server, login, screenshot):
    starter = CreditPackage.objects.filter(price_paise=1_000_00).first()
    starter = starter or CreditPackage.objects.create(
        name="Starter", price_paise=1_000_00, credits=1_000
    )
    user = UserFactory(username="auto-billing", email="billing@example.com")
    member = ClinicMemberFactory(user=user, clinic__name="Glow Skin Clinic", role="billing")
    clinic = member.clinic
    fund(clinic, 600)
    login(user.username, PASSWORD)
    page.goto(f"{live_server.url}/clinic/auto-top-up")
    page.select_option("select[name=method]", "upi")
    page.fill("input[name=contact]", "+919876543210")
    page.click("[data-testid=save-method]")
    expect(page.locator("[data-testid=saved-method]")).to_contain_text("clinic@testupi")
    page.fill("input[name=threshold_credits]", "550")
    page.select_option("select[name=package]", str(starter.pk))
    page.fill("input[name=monthly_max_rupees]", "5000")
    page.fill("input[name=monthly_max_count]", "2")
    page.click("[data-testid=save-rule]")
    expect(page.locator("[data-testid=rule-on]")).to_contain_text("Below 550 credits")
    screenshot("auto-topup-rule")

    leads.submit_enquiry(
        clinic=clinic, name="Asha", phone="9000000001", package=PackageFactory(clinic=clinic)
    )

    assert account_balance(clinic=clinic) == 500 + 1_000
    page.reload()
    history = page.locator("[data-testid=auto-topup-history]")
    expect(history).to_contain_text("Credited")
    expect(history).to_contain_text("₹1,180")
    page.click("[data-testid=switch-off]")
    expect(page.locator("[data-testid=rule-off]")).to_contain_text("Switched off by the clinic")
