"""A clinic tops up in test-payment mode: success credits it, failure leaves it unchanged."""

import pytest
from playwright.sync_api import expect

from billing.selectors import account_balance
from payments.models import CreditPackage, PaymentOrder
from tests.factories import ClinicMemberFactory, UserFactory

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("seeded_tiers"),
]

PASSWORD = "correct horse battery staple"


@pytest.fixture
def growth(transactional_db):
    # Transactional tests flush the migration-seeded packages; make the one this test buys.
    return CreditPackage.objects.create(
        name="Growth", price_paise=5_000_00, credits=5_000, bonus_credits=500
    )


def start_top_up(page, live_server, login, username, package):
    login(username, PASSWORD)
    page.click("text=Top up credits")
    page.wait_for_url("**/clinic/credits/topup")
    assert "Test-payment mode" in page.inner_text("[data-testid=test-mode]")
    page.check(f"input[name=package][value='{package.pk}']")
    expect(page.locator("#get-credits")).to_have_text("5,500")
    page.click("#pay-button")
    page.wait_for_url("**/payments/test-checkout/**")


def test_successful_top_up_lands_on_success_and_raises_the_balance(
    page, live_server, login, screenshot, growth
):
    user = UserFactory(username="topup-ok")
    clinic = ClinicMemberFactory(user=user, clinic__name="Glow Skin Clinic").clinic
    start_top_up(page, live_server, login, user.username, growth)
    screenshot("topup-checkout")
    page.click("text=Pay successfully")
    page.wait_for_url("**/payment-success?order=*")
    assert "Payment received" in page.inner_text("[data-testid=payment-result]")
    screenshot("topup-success")
    page.click("text=Dashboard")
    page.wait_for_url("**/clinic/dashboard")
    assert page.inner_text("[data-testid=balance]") == "5,500"
    assert account_balance(clinic=clinic) == 5_500
    screenshot("topup-dashboard")


def test_failed_top_up_shows_the_failure_page_and_changes_nothing(
    page, live_server, login, screenshot, growth
):
    user = UserFactory(username="topup-fail")
    clinic = ClinicMemberFactory(user=user).clinic
    start_top_up(page, live_server, login, user.username, growth)
    page.click("text=Make the payment fail")
    page.wait_for_url("**/payment-failure?order=*")
    result = page.inner_text("[data-testid=payment-result]")
    assert "Payment not completed" in result
    assert "balance is unchanged (0 credits)" in result
    assert page.locator("text=Try again").count() == 1
    screenshot("topup-failure")
    assert account_balance(clinic=clinic) == 0
    assert PaymentOrder.objects.get().status == PaymentOrder.Status.PENDING
