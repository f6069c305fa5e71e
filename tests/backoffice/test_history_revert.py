"""The change-history revert form writes, so it needs change permission like the change form."""

import pytest
from django.contrib.auth.models import Group

from billing.models import CreditAccount, PricingTier
from payments.models import PromoCode
from tests.factories import StaffFactory
from tests.otp import login_with_otp

pytestmark = pytest.mark.django_db


def staff_in(group, client):
    user = StaffFactory(username=group.lower().replace(" ", "-"))
    user.groups.add(Group.objects.get(name=group))
    login_with_otp(client, user)
    return user


def revert_url(obj):
    if not obj.history.exists():
        obj.save()  # rows seeded by a migration have no history yet
    record = obj.history.order_by("history_id").first()
    opts = obj._meta
    return f"/admin/{opts.app_label}/{opts.model_name}/{obj.pk}/history/{record.history_id}/"


def test_a_read_only_auditor_cannot_revert_a_pricing_tier(client):
    staff_in("Read-only auditors", client)
    tier = PricingTier.objects.get(min_price_paise=5_000_00)
    url = revert_url(tier)
    response = client.post(
        url, {"min_price_paise": "5000", "change_reason": "Test change", "credits": 1, "label": "x"}
    )
    assert response.status_code == 403
    assert PricingTier.objects.get(pk=tier.pk).credits == tier.credits
    assert client.get(url).status_code == 403


def test_a_read_only_auditor_cannot_revert_account_settings_or_promo_codes(client, clinic):
    staff_in("Read-only auditors", client)
    account = CreditAccount.objects.get(clinic=clinic)
    account.overdraft_limit = 50
    account.save(update_fields=["overdraft_limit"])  # a second history row to revert to
    response = client.post(
        revert_url(account),
        {"overdraft_limit": 100_000, "low_balance_threshold": 0, "change_reason": "Test change"},
    )
    assert response.status_code == 403
    account.refresh_from_db()
    assert (account.overdraft_limit, account.low_balance_threshold) == (50, 500)

    promo = PromoCode.objects.create(code="SAVE5", discount_type="percent", discount_value=5)
    response = client.post(
        revert_url(promo),
        {
            "code": "SAVE5",
            "discount_type": "percent",
            "discount_value": 100,
            "min_amount_paise": 0,
            "bonus_credits": 0,
        },
    )
    assert response.status_code == 403
    assert PromoCode.objects.get(pk=promo.pk).discount_value == 5


def test_billing_staff_may_revert_a_tier_they_may_change(client):
    staff_in("Billing staff", client)
    tier = PricingTier.objects.get(min_price_paise=5_000_00)
    response = client.post(
        revert_url(tier),
        {
            "min_price_paise": "5000",
            "change_reason": "Test change",
            "credits": 150,
            "label": "Standard",
        },
    )
    assert response.status_code == 302
    assert PricingTier.objects.get(pk=tier.pk).credits == 150
