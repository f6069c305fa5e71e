"""Reads for the top-up and payment history pages."""

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db.models import Count, Q, Sum
from django.utils import timezone

from billing.selectors import account_of
from leads.models import Lead
from payments.models import CreditPackage, PaymentAttempt, PaymentOrder


def active_packages():
    return list(CreditPackage.objects.filter(is_active=True))


def payment_orders_for(*, clinic):
    """A clinic's orders that reached Razorpay, newest first."""
    return PaymentOrder.objects.filter(clinic=clinic).exclude(status=PaymentOrder.Status.CREATED)


@dataclass(frozen=True)
class HeldLeads:
    count: int
    credits: int  # what charging them all costs
    needed: int  # credits to add so that all of them are released


def held_leads_summary(*, clinic) -> HeldLeads:
    """The clinic's leads waiting for credits and what would release all of them.

    Release goes oldest first while the balance stays above the floor, so all of them are
    released once the balance covers their total down to the overdraft floor.
    """
    held = Lead.objects.filter(clinic=clinic, billing_state__in=Lead.WAITING_STATES)
    total = held.aggregate(count=Count("pk"), credits=Sum("price_credits"))
    credits = total["credits"] or 0
    account = account_of(clinic=clinic)
    return HeldLeads(
        count=total["count"],
        credits=credits,
        needed=max(0, credits - (account.balance - account.floor)),
    )


def leads_released_by(*, order: PaymentOrder) -> list[Lead]:
    """Leads that were waiting when this order was paid and were charged by its credits."""
    if order.purchase_entry is None:
        return []
    # Release runs as the credits land, so: waiting before the purchase entry, charged in the
    # minute after it.
    credited_at = order.purchase_entry.created_at
    return list(
        Lead.objects.filter(
            clinic=order.clinic,
            billing_state=Lead.Billing.CHARGED,
            created_at__lt=credited_at,
            charged_at__gte=credited_at,
            charged_at__lt=credited_at + timedelta(minutes=1),
        ).order_by("created_at", "pk")
    )


def latest_order(*, clinic) -> PaymentOrder | None:
    return payment_orders_for(clinic=clinic).first()


@dataclass(frozen=True)
class OrderState:
    label: str
    reason: str


def order_state(*, order: PaymentOrder) -> OrderState:
    """What a clinic should read about an order: failed, cancelled or expired with the reason
    Razorpay gave, rather than "Awaiting payment" for every checkout that did not end in a
    payment. A failed attempt leaves the order payable (Razorpay allows retries)."""
    if order.status == PaymentOrder.Status.PENDING:
        expired_at = order.created_at + timedelta(minutes=settings.PAYMENT_ORDER_EXPIRY_MINUTES)
        attempt = order.attempts.order_by("-id").first()
        if attempt is not None and attempt.status == PaymentAttempt.Status.FAILED:
            return OrderState("Payment failed", attempt.error or "Razorpay gave no reason.")
        if timezone.now() > expired_at:
            return OrderState("Expired unpaid", "The checkout was not completed in time.")
        return OrderState("Awaiting payment", "")
    return OrderState(order.get_status_display(), order.failure_reason)


def with_promo_report(promos):
    """Each code's paid uses, the discount it gave, the bonus credits it granted and the revenue
    of the orders that used it (paid orders only; money refunded later is not subtracted)."""
    paid = Q(paymentorder__status=PaymentOrder.Status.PAID)
    return promos.annotate(
        paid_uses=Count("paymentorder", filter=paid),
        discount_given_paise=Sum("paymentorder__discount_paise", filter=paid, default=0),
        bonus_granted=Sum("paymentorder__promo_bonus_credits", filter=paid, default=0),
        revenue_paise=Sum("paymentorder__amount_paise", filter=paid, default=0),
    )


def receipts_for(*, clinic):
    """The clinic's documents: a receipt for each paid order (GST invoices will join them)."""
    return PaymentOrder.objects.filter(clinic=clinic, status=PaymentOrder.Status.PAID)
