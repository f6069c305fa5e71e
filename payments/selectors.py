"""Reads for the top-up and payment history pages."""

from payments.models import CreditPackage, PaymentOrder


def active_packages():
    return list(CreditPackage.objects.filter(is_active=True))


def payment_orders_for(*, clinic):
    """A clinic's orders that reached Razorpay, newest first."""
    return PaymentOrder.objects.filter(clinic=clinic).exclude(status=PaymentOrder.Status.CREATED)


def receipts_for(*, clinic):
    """The clinic's documents: a receipt for each paid order (GST invoices will join them)."""
    return PaymentOrder.objects.filter(clinic=clinic, status=PaymentOrder.Status.PAID)
