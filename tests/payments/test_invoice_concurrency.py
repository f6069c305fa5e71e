"""PostgreSQL only: settlements at once take invoice numbers from the locked counter row,
1 to 20 with no gap and no duplicate."""

import pytest
from django.utils import timezone

from payments import gst, services
from payments.models import PaymentOrder, TaxDocument, TaxDocumentCounter
from tests.concurrency import run_overlapped
from tests.conftest import requires_postgres
from tests.factories import ClinicFactory

pytestmark = [requires_postgres, pytest.mark.postgres]


@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_settlements_get_invoice_numbers_1_to_20():
    orders = [
        PaymentOrder.objects.create(
            clinic=ClinicFactory(),
            base_amount_paise=1_000_00,
            amount_paise=1_000_00,
            gst_paise=180_00,
            gst_rate_bp=1800,
            place_of_supply="27",
            credits=1_000,
            status=PaymentOrder.Status.PENDING,
            razorpay_order_id=f"order_c{n}",
        )
        for n in range(20)
    ]
    year = gst.financial_year(timezone.localdate())
    counter = TaxDocumentCounter.objects.create(series="invoice", financial_year=year)

    def settle(order):
        return lambda: (
            services.settle_paid_order(
                order=order, payment_id=f"pay_c{order.pk}", source="race"
            ).status
        )

    # Every settlement credits its clinic, then queues on the counter row held here.
    outcomes = run_overlapped(
        TaxDocumentCounter.objects.filter(pk=counter.pk), [settle(o) for o in orders]
    )

    assert outcomes == ["paid"] * 20
    sequences = sorted(TaxDocument.objects.values_list("sequence", flat=True))
    assert sequences == list(range(1, 21))
    assert TaxDocument.objects.values("order").distinct().count() == 20
    assert TaxDocumentCounter.objects.get(pk=counter.pk).last_number == 20
