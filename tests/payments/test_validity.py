"""Per-package and per-promo validity: the lots a purchase creates expire as the package (for
its paid and bonus credits) and the promo (for its bonus) say, else as the settings say."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from billing.models import CreditLot
from payments.models import CreditPackage, PaymentOrder, PromoCode
from tests.payments.test_flow import create, growth, verify

pytestmark = pytest.mark.django_db


def pay(client, razorpay, **data):
    response = create(client, package=growth().pk, **data)
    assert response.status_code == 200, response.content
    order_id = response.json()["order_id"]
    payment = razorpay.pay(order_id)
    assert verify(client, order_id, payment["id"]).json()["success"] is True
    order = PaymentOrder.objects.get(razorpay_order_id=order_id)
    return {
        lot.source.idempotency_key.split(":")[0]: lot.expires_at - order.paid_at
        for lot in CreditLot.objects.select_related("source")
    }


def days(delta):
    return round(delta / timedelta(days=1))


def test_a_package_and_a_promo_set_how_long_their_credits_stay_valid(
    member_client, razorpay, settings
):
    CreditPackage.objects.filter(pk=growth().pk).update(
        paid_validity_days=730, bonus_validity_days=30
    )
    PromoCode.objects.create(
        code="LONG",
        discount_type="percent",
        discount_value=0,
        bonus_credits=50,
        bonus_validity_days=14,
    )
    lots = pay(member_client, razorpay, promo_code="LONG")
    assert {kind: days(delta) for kind, delta in lots.items()} == {
        "purchase": 730,
        "bonus": 30,
        "promo-bonus": 14,
    }


def test_without_their_own_validity_the_settings_apply(member_client, razorpay, settings):
    settings.PAID_CREDIT_VALIDITY_DAYS, settings.BONUS_CREDIT_VALIDITY_DAYS = 200, 20
    PromoCode.objects.create(
        code="PLAIN", discount_type="percent", discount_value=0, bonus_credits=50
    )
    lots = pay(member_client, razorpay, promo_code="PLAIN")
    assert {kind: days(delta) for kind, delta in lots.items()} == {
        "purchase": 200,
        "bonus": 20,
        "promo-bonus": 20,
    }


@pytest.mark.parametrize("value", [0, -1, 3651])
@pytest.mark.parametrize("field", ["paid_validity_days", "bonus_validity_days"])
def test_a_package_validity_must_be_one_day_to_ten_years(field, value):
    package = growth()
    setattr(package, field, value)
    with pytest.raises(ValidationError) as refused:
        package.full_clean()
    assert field in refused.value.message_dict


@pytest.mark.parametrize("value", [0, -1, 3651])
def test_a_promo_bonus_validity_must_be_one_day_to_ten_years(value):
    promo = PromoCode(
        code="X", discount_type="percent", discount_value=0, bonus_validity_days=value
    )
    with pytest.raises(ValidationError) as refused:
        promo.full_clean()
    assert "bonus_validity_days" in refused.value.message_dict


@pytest.mark.parametrize(
    ("model", "field"),
    [
        (CreditPackage, "paid_validity_days"),
        (CreditPackage, "bonus_validity_days"),
        (PromoCode, "bonus_validity_days"),
    ],
)
def test_the_database_refuses_a_zero_or_too_long_validity_written_past_the_forms(model, field):
    if model is PromoCode:
        PromoCode.objects.create(code="RAW", discount_type="percent", discount_value=0)
    for value in (0, 3651):
        with pytest.raises(IntegrityError), transaction.atomic():
            model.objects.update(**{field: value})
    model.objects.update(**{field: 3650})  # the bound itself is allowed
