"""Quotes and promo-code arithmetic, and every refusal."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from antidote.errors import AntidoteError
from payments.models import CreditPackage, PaymentOrder, PromoCode, PromoRedemption
from payments.services import check_promo, quote_topup
from tests.factories import ClinicFactory

pytestmark = pytest.mark.django_db


def promo(**fields):
    values = {"code": "GLOW10", "discount_type": "percent", "discount_value": 10}
    values.update(fields)
    return PromoCode.objects.create(**values)


def package(rupees):
    return CreditPackage.objects.get(price_paise=rupees * 100)


def test_packages_are_seeded_as_in_the_plan():
    plan = {1_000: 1_000, 5_000: 5_500, 10_000: 11_500, 25_000: 30_000, 50_000: 62_500}
    assert {p.price_paise // 100: p.total_credits for p in CreditPackage.objects.all()} == plan
    assert package(5_000).bonus_credits == 500


def test_package_quote(clinic):
    quote = quote_topup(clinic=clinic, package_id=package(10_000).pk)
    assert (quote.amount_paise, quote.credits, quote.bonus_credits) == (10_000_00, 10_000, 1_500)


def test_custom_amount_is_one_credit_per_rupee(clinic):
    quote = quote_topup(clinic=clinic, amount=2_500)
    assert (quote.amount_paise, quote.credits, quote.bonus_credits) == (2_500_00, 2_500, 0)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"amount": "999"}, "smallest top-up is ₹1,000"),
        ({"amount": "10000001"}, "largest top-up"),
        ({"amount": "1500.50"}, "whole rupees"),
        ({"amount": "-5000"}, "whole rupees"),
        ({"amount": "abc"}, "whole rupees"),
        ({"amount": "²"}, "whole rupees"),
        ({"amount": "9" * 5000}, "whole rupees"),
        ({"amount": "1\x002"}, "whole rupees"),
        ({"package": "99999"}, "not available"),
        ({"package": "x"}, "listed packages"),
        ({"package": "1.5"}, "listed packages"),
        ({"package": "9" * 30}, "listed packages"),
        ({"package": "1", "amount": "2000"}, "not both"),
        ({"amount": "2000", "promo_code": "A\x00B"}, "Null characters"),
        ({"amount": "2000", "promo_code": "X" * 41}, "40 characters"),
        ({}, "Choose a package or enter an amount"),
    ],
)
def test_quote_refusals(member_client, fields, message):
    answer = member_client.post("/clinic/check-promo-code", fields)
    assert answer.status_code == 200
    assert answer.json()["success"] is False
    assert message in answer.json()["message"]


@pytest.mark.parametrize(
    "body",
    [
        [1, 2],
        "2500",
        7,
        None,
        {"amount": 2000, "promo_code": {"code": "X"}},
        {"amount": 2000, "promo_code": ["X"]},
        {"amount": [2000]},
        {"package": {"id": 1}},
    ],
)
def test_json_that_is_not_a_top_up_choice_is_refused_not_crashed(member_client, body):
    for url in ("/clinic/check-promo-code", "/create-razorpay-order"):
        answer = member_client.post(url, json.dumps(body), content_type="application/json")
        assert answer.status_code in (200, 400), (url, body)
        assert answer.json()["success"] is False
    assert not PaymentOrder.objects.exists()


def test_inactive_package_is_refused(clinic):
    starter = package(1_000)
    starter.is_active = False
    starter.save()
    with pytest.raises(AntidoteError, match="not available"):
        quote_topup(clinic=clinic, package_id=starter.pk)


def test_percentage_discount_with_a_cap(clinic):
    promo(discount_value=20, max_discount_paise=1_500_00)
    assert check_promo(code="glow10", clinic=clinic, base_amount_paise=5_000_00)[1] == 1_000_00
    assert check_promo(code="GLOW10", clinic=clinic, base_amount_paise=50_000_00)[1] == 1_500_00


def test_percentage_discount_rounds_down_to_whole_rupees(clinic):
    promo(discount_value=7)
    assert check_promo(code="GLOW10", clinic=clinic, base_amount_paise=1_234_00)[1] == 86_00


def test_fixed_discount_and_bonus_credits(clinic):
    promo(code="FLAT500", discount_type="fixed", discount_value=500_00, bonus_credits=250)
    quote = quote_topup(clinic=clinic, package_id=package(5_000).pk, promo_code=" flat500 ")
    assert (quote.discount_paise, quote.amount_paise) == (500_00, 4_500_00)
    assert (quote.credits, quote.bonus_credits, quote.promo_bonus_credits) == (5_000, 500, 250)
    assert quote.total_credits == 5_750


def test_discount_never_takes_the_amount_below_one_rupee(clinic):
    promo(code="HUGE", discount_type="fixed", discount_value=5_000_00)
    assert check_promo(code="HUGE", clinic=clinic, base_amount_paise=1_000_00)[1] == 999_00


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"is_active": False}, "expired"),
        ({"valid_until": timezone.now() - timedelta(days=1)}, "expired"),
        ({"valid_from": timezone.now() + timedelta(days=1)}, "not valid yet"),
        ({"min_amount_paise": 5_000_00}, "at least ₹5,000"),
    ],
)
def test_unusable_promo_codes_are_refused(clinic, fields, message):
    promo(**fields)
    with pytest.raises(AntidoteError, match=message):
        check_promo(code="GLOW10", clinic=clinic, base_amount_paise=1_000_00)


def test_unknown_promo_code_is_refused(clinic):
    with pytest.raises(AntidoteError, match="not a valid promo code"):
        check_promo(code="NOPE", clinic=clinic, base_amount_paise=1_000_00)


def _use(code, clinic, status=PromoRedemption.Status.RESERVED):
    order = PaymentOrder.objects.create(
        clinic=clinic, base_amount_paise=1_000_00, amount_paise=1_000_00, credits=1_000
    )
    PromoRedemption.objects.create(promo=code, clinic=clinic, order=order, status=status)


def test_total_and_per_clinic_limits_count_reserved_and_paid_but_not_released(clinic):
    code = promo(max_uses=2, max_uses_per_clinic=1)
    other = ClinicFactory()
    _use(code, clinic, PromoRedemption.Status.CONSUMED)
    with pytest.raises(AntidoteError, match="already used"):
        check_promo(code="GLOW10", clinic=clinic, base_amount_paise=1_000_00)
    _use(code, other, PromoRedemption.Status.RELEASED)  # a failed order gave it back
    check_promo(code="GLOW10", clinic=other, base_amount_paise=1_000_00)
    _use(code, other)
    with pytest.raises(AntidoteError, match="used up"):
        check_promo(code="GLOW10", clinic=ClinicFactory(), base_amount_paise=1_000_00)


def test_codes_are_unique_ignoring_case():
    from django.db import IntegrityError, transaction

    promo(code="Glow10")
    with pytest.raises(IntegrityError), transaction.atomic():
        PromoCode.objects.bulk_create([PromoCode(code="glow10", discount_value=5)])


@pytest.mark.parametrize(
    ("existing", "typed"),
    [
        ("WELCOME10", "welcome10 "),
        ("straße", "STRASSE"),
        ("STRASSE", "straße"),
        ("WELCOME10", "ｗｅｌｃｏｍｅ１０"),  # full-width forms
    ],
)
def test_codes_that_normalise_alike_are_refused_by_validation_not_the_database(existing, typed):
    from django.core.exceptions import ValidationError

    promo(code=existing)
    duplicate = PromoCode(code=typed, discount_value=5)
    with pytest.raises(ValidationError, match="already exists"):
        duplicate.full_clean()
    assert PromoCode.objects.count() == 1


@pytest.mark.parametrize("typed", ["straße", " STRASSE", "Strasse", "ｓｔｒａｓｓｅ"])
def test_a_code_is_found_however_it_is_typed(clinic, typed):
    promo(code="straße")
    found, _ = check_promo(code=typed, clinic=clinic, base_amount_paise=5_000_00)
    assert found.code == "STRASSE"
