"""Reads for the top-up and payment history pages, and the monthly GST report."""

from dataclasses import dataclass
from datetime import date, timedelta

from django.conf import settings
from django.db.models import Count, Q, Sum
from django.utils import timezone

from billing.selectors import account_balance, account_of, paid_credits_left
from leads.models import Lead
from payments.models import CreditPackage, PaymentAttempt, PaymentOrder, TaxDocument


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


def tax_documents_for(*, clinic):
    """The clinic's tax invoices and credit notes, newest first (ids are in issue order)."""
    return (
        TaxDocument.objects.filter(order__clinic=clinic)
        .select_related("order", "original")
        .order_by("-id")
    )


def receipts_for(*, clinic):
    """The clinic's documents: a receipt for each paid order (GST invoices will join them)."""
    return PaymentOrder.objects.filter(clinic=clinic, status=PaymentOrder.Status.PAID)


@dataclass
class GstReport:
    """One month of tax documents for the accountant (GSTR-1's shape): B2B invoices one by
    one, B2C invoices summed by place of supply and rate, credit notes one by one."""

    month: date
    b2b: list
    b2c: list
    credit_notes: list
    invoice_totals: dict
    credit_note_totals: dict


HEADS = ("taxable_paise", "cgst_paise", "sgst_paise", "igst_paise", "total_paise")


def _sum(documents) -> dict:
    return {head: sum(getattr(d, head) for d in documents) for head in HEADS}


def gst_report(*, month: date) -> GstReport:
    first = month.replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    issued = TaxDocument.objects.filter(issued_on__gte=first, issued_on__lt=following).order_by(
        "financial_year", "sequence"
    )
    invoices = [d for d in issued if d.kind == TaxDocument.Kind.INVOICE]
    notes = [d for d in issued if d.kind == TaxDocument.Kind.CREDIT_NOTE]
    groups: dict[tuple, list] = {}
    for document in invoices:
        if not document.b2b:
            groups.setdefault((document.place_of_supply, document.rate_bp), []).append(document)
    b2c = [
        {"place_of_supply": place, "rate_bp": rate, "count": len(docs), **_sum(docs)}
        for (place, rate), docs in sorted(groups.items())
    ]
    return GstReport(
        month=first,
        b2b=[d for d in invoices if d.b2b],
        b2c=b2c,
        credit_notes=notes,
        invoice_totals=_sum(invoices),
        credit_note_totals=_sum(notes),
    )


def gst_report_rows(report: GstReport):
    """The report as CSV rows (amounts in paise, integers): one table after another."""
    money = ["taxable_paise", "cgst_paise", "sgst_paise", "igst_paise", "total_paise"]
    yield [
        "section",
        "number",
        "date",
        "recipient",
        "gstin",
        "place_of_supply",
        "rate_bp",
        "count",
        *money,
        "original_invoice",
    ]
    for d in report.b2b:
        yield [
            "b2b",
            d.number,
            d.issued_on.isoformat(),
            d.recipient_legal_name,
            d.recipient_gstin,
            d.place_of_supply,
            d.rate_bp,
            1,
            *(getattr(d, m) for m in money),
            "",
        ]
    for row in report.b2c:
        yield [
            "b2c",
            "",
            "",
            "",
            "",
            row["place_of_supply"],
            row["rate_bp"],
            row["count"],
            *(row[m] for m in money),
            "",
        ]
    for d in report.credit_notes:
        yield [
            "credit_note",
            d.number,
            d.issued_on.isoformat(),
            d.recipient_legal_name,
            d.recipient_gstin,
            d.place_of_supply,
            d.rate_bp,
            1,
            *(getattr(d, m) for m in money),
            d.original.number,
        ]
    yield [
        "total_invoices",
        "",
        "",
        "",
        "",
        "",
        "",
        len(report.b2b) + sum(r["count"] for r in report.b2c),
        *(report.invoice_totals[m] for m in money),
        "",
    ]
    yield [
        "total_credit_notes",
        "",
        "",
        "",
        "",
        "",
        "",
        len(report.credit_notes),
        *(report.credit_note_totals[m] for m in money),
        "",
    ]
    yield [
        "net",
        "",
        "",
        "",
        "",
        "",
        "",
        "",
        *(report.invoice_totals[m] - report.credit_note_totals[m] for m in money),
        "",
    ]


@dataclass(frozen=True)
class Refundable:
    """What staff may refund of one paid order: its paid credits not yet refunded (bonus
    credits are never money), capped by the clinic's balance, and what they are worth."""

    order: PaymentOrder
    credits: int
    balance: int

    def value_of(self, credits: int) -> tuple[int, int]:
        """(taxable value, GST) in paise of ``credits`` of this order's paid credits, at the
        price the clinic paid per credit (after any discount), rounded down to the paisa."""
        order = self.order
        taxable = credits * order.amount_paise // order.credits if order.credits else 0
        if not order.gst_paise:
            return taxable, 0
        tax = (2 * taxable * order.gst_paise + order.amount_paise) // (2 * order.amount_paise)
        return taxable, tax


def refundable_credits(*, order: PaymentOrder) -> Refundable:
    """The one place that decides how many paid credits of an order may go back as money:
    what its paid lot has left unexpired (a refund payout or a reversal draws on it first, a
    failed refund's restore goes back to it), capped by the clinic's balance. Callers lock
    the order first.
    """
    left = paid_credits_left(source_key=f"purchase:order:{order.pk}")
    balance = account_balance(clinic=order.clinic)
    return Refundable(order=order, credits=max(min(left, balance), 0), balance=balance)
