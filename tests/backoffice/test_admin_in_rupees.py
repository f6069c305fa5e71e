"""Issue #18, items 14–18: the admin in rupees and IST, reasons on every settings change, the
dispute queue and evidence file names."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError

from antidote.fields import RupeesField
from billing.models import CreditAccount, PricingTier
from disputes import services as disputes
from disputes.models import Dispute
from leads import services as leads
from payments.models import CreditPackage, PaymentOrder, PromoCode
from tests.disputes.conftest import DESCRIPTION
from tests.factories import ClinicFactory, fund

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("typed", "paise"),
    [("5000", 5_000_00), ("5,000.50", 5_000_50), ("₹1,00,000", 1_00_000_00), (" 0.05 ", 5)],
)
def test_rupees_field_takes_rupees_and_gives_paise(typed, paise):
    assert RupeesField().clean(typed) == paise


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("0.001", "at most two decimal places"),
        ("-5", "cannot be negative"),
        ("five", "Enter an amount in rupees"),
        ("1e5", "Enter an amount in rupees"),
    ],
)
def test_rupees_field_refuses_what_is_not_an_amount(typed, message):
    with pytest.raises(ValidationError, match=message):
        RupeesField().clean(typed)


def test_rupees_field_shows_paise_as_rupees():
    assert (RupeesField().prepare_value(5_000_00), RupeesField().prepare_value(5_000_50)) == (
        "5000",
        "5000.50",
    )


# Items 14 and 16: tiers ---------------------------------------------------------------------


def test_a_tier_is_shown_and_edited_in_rupees_and_its_first_change_shows_before_and_after(
    client, boss
):
    tier = PricingTier.objects.get(min_price_paise=5_000_00)  # seeded: no history yet
    url = f"/admin/billing/pricingtier/{tier.pk}/change/"
    page = client.get(url).text
    assert 'value="5000"' in page and "500000" not in page
    refused = client.post(url, {"min_price_paise": "5,500", "credits": 200, "label": "Std"})
    assert refused.status_code == 200
    assert "Say why you are making this change" in refused.text
    tier.refresh_from_db()
    assert (tier.min_price_paise, tier.credits) == (5_000_00, 180)
    saved = client.post(
        url,
        {"min_price_paise": "5,500", "credits": 200, "label": "Std", "change_reason": "Q3 prices"},
    )
    assert saved.status_code == 302
    tier.refresh_from_db()
    assert (tier.min_price_paise, tier.credits) == (5_500_00, 200)
    history = client.get(f"/admin/billing/pricingtier/{tier.pk}/history/").text
    assert "Q3 prices" in history
    latest = tier.history.first()
    changes = {c.field: (c.old, c.new) for c in latest.diff_against(latest.prev_record).changes}
    assert changes["credits"] == (180, 200)
    assert changes["min_price_paise"] == (5_000_00, 5_500_00)
    assert "180" in history and "200" in history  # the first change's before and after


def test_an_edit_that_changes_nothing_needs_no_reason(client, boss):
    tier = PricingTier.objects.get(min_price_paise=5_000_00)
    url = f"/admin/billing/pricingtier/{tier.pk}/change/"
    data = {"min_price_paise": "5000", "credits": tier.credits, "label": tier.label}
    assert client.post(url, data).status_code == 302


# Items 14 and 16: packages, promos, account settings ---------------------------------------


def test_packages_and_promos_take_rupees_and_a_reason(client, boss):
    package = CreditPackage.objects.create(name="Big", price_paise=25_000_00, credits=30_000)
    url = f"/admin/payments/creditpackage/{package.pk}/change/"
    assert 'value="25000"' in client.get(url).text
    data = {
        "name": "Big",
        "price_paise": "25,000.50",
        "credits": 30_000,
        "bonus_credits": 0,
        "sort_order": 0,
        "is_active": "on",
    }
    assert "Say why" in client.post(url, data).text
    assert client.post(url, {**data, "change_reason": "New price"}).status_code == 302
    package.refresh_from_db()
    assert package.price_paise == 25_000_50
    listing = client.get("/admin/payments/creditpackage/").text
    assert "₹25,000.50" in listing

    promo = PromoCode.objects.create(
        code="FLAT", discount_type="fixed", discount_value=500_00, min_amount_paise=1_00_000_00
    )
    url = f"/admin/payments/promocode/{promo.pk}/change/"
    page = client.get(url).text
    assert 'value="500"' in page and 'value="100000"' in page
    data = {
        "code": "FLAT",
        "discount_type": "fixed",
        "discount_value": "750",
        "bonus_credits": 0,
        "bonus_percent": 0,
        "min_amount_paise": "1,00,000",
        "is_active": "on",
        "change_reason": "Diwali",
    }
    assert client.post(url, data).status_code == 302
    promo.refresh_from_db()
    assert (promo.discount_value, promo.min_amount_paise) == (750_00, 1_00_000_00)
    assert "₹750" in client.get("/admin/payments/promocode/").text
    bad = client.post(url, {**data, "discount_type": "percent", "discount_value": "150"})
    assert "A percentage is a whole number from 0 to 100." in bad.text


def test_account_settings_need_a_reason_on_both_admin_pages(client, boss):
    clinic = ClinicFactory()
    account = CreditAccount.objects.get(clinic=clinic)
    url = f"/admin/billing/creditaccount/{account.pk}/change/"
    data = {"overdraft_limit": 100, "low_balance_threshold": 300}
    assert "Say why" in client.post(url, data).text
    assert client.post(url, {**data, "change_reason": "Trusted clinic"}).status_code == 302
    account.refresh_from_db()
    assert account.overdraft_limit == 100
    assert account.history.first().history_change_reason == "Trusted clinic"


# Items 14 and 15: orders in rupees, times in IST ---------------------------------------------


def test_an_order_page_shows_rupees_not_paise(client, boss):
    order = PaymentOrder.objects.create(
        clinic=ClinicFactory(), base_amount_paise=1_50_000_00, amount_paise=1_50_000_00, credits=5
    )
    page = client.get(f"/admin/payments/paymentorder/{order.pk}/change/").text
    assert "₹1,50,000" in page and "15000000" not in page


def test_the_dispute_and_clinic_pages_show_ist_never_raw_utc(client, boss):
    clinic = ClinicFactory()
    fund(clinic, 1_000)
    lead = leads.submit_enquiry(clinic=clinic, name="Asha", phone="9876543210")
    dispute = disputes.open_dispute(
        lead=lead, user=None, dispute_type="spam", description=DESCRIPTION
    )
    page = client.get(f"/admin/disputes/dispute/{dispute.pk}/change/").text
    assert "+00:00" not in page and " IST" in page
    clinic_page = client.get(f"/admin/leads/clinic/{clinic.pk}/change/").text
    assert "+00:00" not in clinic_page and " IST" in clinic_page


# Item 17: the dispute queue ----------------------------------------------------------------


def test_the_queue_lists_pending_disputes_first_oldest_first_and_the_detail_has_a_heading(
    client, boss
):
    clinic = ClinicFactory()
    fund(clinic, 5_000)
    made = []
    for i in range(4):
        lead = leads.submit_enquiry(clinic=clinic, name="Asha", phone=f"98765432{i:02d}")
        dispute = disputes.open_dispute(
            lead=lead, user=None, dispute_type="spam", description=DESCRIPTION
        )
        Dispute.objects.filter(pk=dispute.pk).update(  # opened 4, 3, 2, 1 days ago
            created_at=dispute.created_at - timedelta(days=4 - i)
        )
        made.append(dispute)
    disputes.reject_dispute(dispute=made[0], actor=boss, notes="Fine lead.")  # the oldest
    queue = client.get("/admin/disputes/dispute/")
    order = [d.pk for d in queue.context["cl"].result_list]
    assert order == [made[1].pk, made[2].pk, made[3].pk, made[0].pk]
    detail = client.get(f"/admin/disputes/dispute/{made[1].pk}/change/").text
    assert f"<h1>Dispute #{made[1].pk}: lead #{made[1].lead_id} of {clinic}" in detail
