"""Razorpay's checkout script cannot load (blocked, offline): the page says so, and the clinic
pays the same order on Razorpay's hosted page instead (a payment link), in live mode against
the local fake Razorpay."""

import pytest
from playwright.sync_api import expect

from billing.selectors import account_balance
from payments.models import CreditPackage, PaymentOrder
from tests.factories import ClinicMemberFactory, UserFactory
from tests.payments.conftest import KEY_ID, KEY_SECRET, WEBHOOK_SECRET
from tests.payments.fake_razorpay import FakeRazorpay

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("seeded_tiers"),
]

PASSWORD = "correct horse battery staple"
CHECKOUT_JS = "https://checkout.razorpay.com/v1/checkout.js"


@pytest.fixture
def live_razorpay(settings):
    fake = FakeRazorpay().start()
    fake.key_secret = KEY_SECRET
    settings.PAYMENT_MODE = "live"
    settings.RAZORPAY_KEY_ID = KEY_ID
    settings.RAZORPAY_KEY_SECRET = KEY_SECRET
    settings.RAZORPAY_WEBHOOK_SECRET = WEBHOOK_SECRET
    settings.RAZORPAY_API_BASE = fake.url
    settings.RAZORPAY_CHECKOUT_JS = CHECKOUT_JS
    yield fake
    fake.stop()


def test_blocked_checkout_script_is_reported_and_the_payment_link_completes_the_top_up(
    page, live_server, login, screenshot, live_razorpay
):
    user = UserFactory(username="no-script")
    clinic = ClinicMemberFactory(user=user, clinic__name="Glow Skin Clinic").clinic
    blocked = []
    page.route(CHECKOUT_JS, lambda route: (blocked.append(route.request.url), route.abort()))
    login(user.username, PASSWORD)
    page.goto(f"{live_server.url}/clinic/credits/topup")
    page.check("#custom-choice")
    page.fill("#custom-amount", "1000")
    # Price + GST = total (issue 14): the factory clinic is billed intra-state at 18%.
    expect(page.locator("#pay-amount")).to_have_text("₹1,000 + ₹180 GST = ₹1,180")
    page.click("#pay-button")
    # The script never loaded: the form posts without it and the checkout page says why.
    page.wait_for_url("**/clinic/credits/topup")
    expect(page.locator("[data-testid=checkout-page]")).to_be_visible()
    expect(page.locator("[data-testid=gateway-error]")).to_be_visible()
    assert "Payment gateway not loaded" in page.inner_text("[data-testid=gateway-error]")
    assert blocked, "the test must really block checkout.js"
    expect(page.locator("#open-checkout")).to_be_hidden()  # no button that cannot work
    screenshot("topup-no-checkout-js")
    page.click("#pay-by-link")
    link = page.locator("[data-testid=payment-link]")
    expect(link).to_be_visible()
    order = PaymentOrder.objects.get(clinic=clinic)
    assert link.get_attribute("href") == order.payment_link_url
    link.click()
    page.wait_for_url(f"{live_razorpay.url}/pl/**")  # Razorpay's own page
    page.click("#pay")
    page.wait_for_url("**/payment-success?order=*")
    assert "Payment received" in page.inner_text("[data-testid=payment-result]")
    screenshot("topup-paid-by-link")
    assert account_balance(clinic=clinic) == 1_000
    order.refresh_from_db()
    assert order.status == PaymentOrder.Status.PAID


def test_a_refused_custom_amount_clears_the_summary_and_is_shown_beside_the_amount(
    page, live_server, login, screenshot
):
    # Transactional tests flush the migration-seeded packages; the one whose rate applies.
    CreditPackage.objects.create(
        name="Growth", price_paise=5_000_00, credits=5_000, bonus_credits=500
    )
    user = UserFactory(username="small-amount")
    ClinicMemberFactory(user=user)
    login(user.username, PASSWORD)
    page.goto(f"{live_server.url}/clinic/credits/topup")
    page.check("#custom-choice")
    page.fill("#custom-amount", "1000")
    expect(page.locator("#pay-amount")).to_have_text("₹1,000 + ₹180 GST = ₹1,180")
    page.fill("#custom-amount", "500")
    expect(page.locator("[data-testid=amount-error]")).to_have_text(
        "The smallest top-up is ₹1,000."
    )
    expect(page.locator("#pay-amount")).to_have_text("—")
    expect(page.locator("#get-credits")).to_have_text("—")
    expect(page.locator("#promo-message")).to_have_text("")
    screenshot("topup-refused-amount")
    page.fill("#custom-amount", "6000")
    expect(page.locator("#pay-amount")).to_have_text("₹6,000 + ₹1,080 GST = ₹7,080")
    expect(page.locator("#get-credits")).to_have_text("6,600")  # the Growth package's rate
    expect(page.locator("#bonus-line")).to_have_text(" (includes 600 bonus)")
    expect(page.locator("[data-testid=amount-error]")).to_have_text("")
