"""PostgreSQL only: a promo code's limit holds under concurrent orders."""

import pytest

from payments import services
from payments.models import CreditPackage, PromoCode, PromoRedemption
from tests.concurrency import run_concurrently, succeeded
from tests.conftest import requires_postgres
from tests.factories import ClinicFactory

pytestmark = [requires_postgres, pytest.mark.postgres]


@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_orders_with_a_five_use_code_redeem_exactly_five(razorpay):
    # Transactional tests flush the seeded packages, so this test makes its own.
    starter = CreditPackage.objects.create(name="Starter", price_paise=1_000_00, credits=1_000)
    PromoCode.objects.create(code="FIVE", discount_value=10, max_uses=5)
    clinics = [ClinicFactory() for _ in range(20)]

    def order(clinic):
        quote = services.quote_topup(clinic=clinic, package_id=starter.pk, promo_code="five")
        services.create_order(clinic=clinic, user=None, quote=quote)

    outcomes = run_concurrently(succeeded(order), clinics, workers=10)

    assert outcomes.count(True) == 5
    assert PromoRedemption.objects.exclude(status="released").count() == 5
    assert len(razorpay.orders) == 5
