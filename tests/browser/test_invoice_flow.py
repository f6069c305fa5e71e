"""A clinic sees price + GST = total before paying, then opens its tax invoice."""

import pytest
from playwright.sync_api import expect

from payments.models import CreditPackage, TaxDocument
from tests.factories import ClinicMemberFactory, UserFactory

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("seeded_tiers"),
]

PASSWORD = "correct horse battery staple"


def test_the_top_up_shows_gst_and_the_paid_order_has_a_printable_invoice(
    page, live_server, login, screenshot
):
    growth = CreditPackage.objects.filter(price_paise=5_000_00).first()
    growth = growth or CreditPackage.objects.create(
        name="Growth", price_paise=5_000_00, credits=5_000, bonus_credits=500
    )
    user = UserFactory(username="invoice-owner")
    ClinicMemberFactory(user=user, clinic__name="Glow Skin Clinic", role="owner")
    login(user.username, PASSWORD)
    page.goto(f"{live_server.url}/clinic/credits/topup")
    page.check(f"input[name=package][value='{growth.pk}']")
    expect(page.locator("#pay-amount")).to_have_text("₹5,000 + ₹900 GST = ₹5,900")
    screenshot("invoice-topup-gst")
    page.click("#pay-button")
    page.wait_for_url("**/payments/test-checkout/**")
    expect(page.locator("h1")).to_have_text("Pay ₹5,900")
    page.click("text=Pay successfully")
    page.wait_for_url("**/payment-success?order=*")
    page.goto(f"{live_server.url}/clinic/payments")
    page.click("text=Tax invoice")
    invoice = TaxDocument.objects.get()
    expect(page.locator("[data-testid=document-number]")).to_have_text(invoice.number)
    text = page.inner_text("[data-testid=tax-document]")
    assert "Rupees Five Thousand Nine Hundred Only" in text
    assert "IGST @ 18%" in text and "Maharashtra (27)" in text
    screenshot("invoice-html")
