"""PostgreSQL only: two staff refunding the same credits at once refund them once."""

import pytest
from django.contrib.auth.models import Group

from antidote.errors import AntidoteError
from billing.selectors import account_balance
from payments import refunds, services
from payments.models import PaymentOrder, PaymentRefund
from tests.concurrency import run_overlapped
from tests.conftest import requires_postgres
from tests.factories import ClinicFactory, StaffFactory

pytestmark = [requires_postgres, pytest.mark.postgres]


@pytest.mark.django_db(transaction=True)
def test_two_staff_refunding_the_same_credits_at_once_refund_once(razorpay):
    Group.objects.get_or_create(name="Billing staff")
    clinic = ClinicFactory()
    order = services.create_order(
        clinic=clinic, user=None, quote=services.quote_topup(clinic=clinic, amount=5_000)
    )
    payment = razorpay.pay(order.razorpay_order_id)
    services.settle_paid_order(order=order, payment_id=payment["id"], source="test")
    staff = []
    for name in ("first", "second"):
        user = StaffFactory(username=name, is_superuser=True)
        staff.append(user)

    def refund_all(user):
        return lambda: refunds.start_refund(
            order=PaymentOrder.objects.get(pk=order.pk),
            credits=5_000,
            reason="Leaving",
            actor=user,
        )

    outcomes = run_overlapped(
        PaymentOrder.objects.filter(pk=order.pk), [refund_all(user) for user in staff]
    )

    refused = [o for o in outcomes if isinstance(o, AntidoteError)]
    assert len(refused) == 1 and "has 0 refundable paid credits" in refused[0].message
    assert PaymentRefund.objects.count() == 1 and len(razorpay.refunds) == 1
    assert account_balance(clinic=clinic) == 0
