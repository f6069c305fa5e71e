"""PostgreSQL only: one payment reported by the browser and by webhooks at once is credited
once, and the order ends paid by that payment."""

import json

import pytest

from billing.models import CreditTransaction
from billing.selectors import account_balance
from payments import services
from payments.models import PaymentOrder, WebhookEvent
from tests.concurrency import run_concurrently
from tests.conftest import requires_postgres
from tests.factories import ClinicFactory
from tests.payments.conftest import checkout_signature, webhook_signature

pytestmark = [requires_postgres, pytest.mark.postgres]


@pytest.mark.django_db(transaction=True)
def test_one_payment_reported_by_browser_and_webhooks_at_once_is_credited_once(razorpay):
    clinic = ClinicFactory()
    order = services.create_order(
        clinic=clinic, user=None, quote=services.quote_topup(clinic=clinic, amount=5_000)
    )
    payment = razorpay.pay(order.razorpay_order_id)

    def report(job):
        if job % 2:
            return services.verify_payment(
                clinic=clinic,
                razorpay_order_id=order.razorpay_order_id,
                razorpay_payment_id=payment["id"],
                razorpay_signature=checkout_signature(order.razorpay_order_id, payment["id"]),
            ).status
        event = "payment.captured" if job % 4 else "order.paid"
        body = json.dumps({"event": event, "payload": {"payment": {"entity": payment}}}).encode()
        return services.handle_webhook(
            body=body, signature=webhook_signature(body), event_id=f"evt_{job}"
        )

    outcomes = run_concurrently(report, range(12), workers=6)

    assert outcomes.count("paid") == 6  # every browser report saw the order paid
    assert all(o.endswith("paid") for o in outcomes)
    assert CreditTransaction.objects.filter(account__clinic=clinic).count() == 1
    assert account_balance(clinic=clinic) == 5_000
    settled = PaymentOrder.objects.get()
    assert (settled.status, settled.razorpay_payment_id) == ("paid", payment["id"])
    assert WebhookEvent.objects.filter(processed_at__isnull=False).count() == 6
