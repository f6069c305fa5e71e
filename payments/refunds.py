"""Refunds of unused paid credits to the original payment, started by staff in the admin.

The one refund model (DESIGN.md): our row first; then the debit ``refund:payout:<row id>``
that takes the credits out so they cannot be spent meanwhile; then Razorpay's refund API with
the row id in its notes; Razorpay's refund id on the row. ``refund.processed`` completes the
row (a credit note, nothing more posted); ``refund.failed`` restores the credits with
``refund:restore:<row id>``. A gateway that does not answer leaves the credits reserved and
the row retryable; a retry first asks Razorpay whether the refund was made after all.
"""

import logging

from django.db import transaction
from django.db.models import Sum

from antidote.errors import AntidoteError
from antidote.money import format_paise
from billing import services as billing
from payments import documents
from payments.gateway import PaymentUnavailable, get_gateway
from payments.models import PaymentEvent, PaymentOrder, PaymentRefund, TaxDocument
from payments.selectors import refundable_credits

logger = logging.getLogger(__name__)

# The key in a refund's notes that names our row (payments.services reads it too).
STAFF_REFUND_NOTE = "antidote_refund"
IN_FLIGHT = (PaymentRefund.Status.REQUESTED, PaymentRefund.Status.PROCESSING)


def _event(order, kind: str, detail: str) -> None:
    PaymentEvent.objects.create(order=order, kind=kind, detail=detail[:2000])


def start_refund(*, order: PaymentOrder, credits: int, reason: str, actor, token=None):
    """Reserve ``credits`` of the order's paid credits and ask Razorpay to refund their value
    plus GST. Returns the row; a gateway that did not answer leaves it REQUESTED (retryable)."""
    if actor is None or not actor.has_perm("payments.refund_payments"):
        raise AntidoteError("You may not refund payments (it needs the refund_payments right).")
    reason = (reason or "").strip()
    if not reason:
        raise AntidoteError("Give a reason for the refund; it is kept with it.")
    if credits < 1:
        raise AntidoteError("Refund at least one credit.")
    with transaction.atomic():
        locked = PaymentOrder.objects.select_for_update().select_related("clinic").get(pk=order.pk)
        if token is not None and PaymentRefund.objects.filter(request_token=token).exists():
            return PaymentRefund.objects.get(request_token=token)
        if locked.status != PaymentOrder.Status.PAID or not locked.razorpay_payment_id:
            raise AntidoteError(f"Order #{locked.pk} is not paid; there is nothing to refund.")
        refundable = refundable_credits(order=locked)
        if credits > refundable.credits:
            raise AntidoteError(
                f"Order #{locked.pk} has {refundable.credits:,} refundable paid credits "
                f"(the clinic's balance is {refundable.balance:,}); {credits:,} is more."
            )
        taxable, tax = refundable.value_of(credits)
        amount = taxable + tax
        in_flight = (
            locked.refunds.filter(status__in=IN_FLIGHT).aggregate(total=Sum("amount_paise"))[
                "total"
            ]
            or 0
        )
        left = locked.charged_paise - locked.refunded_paise - in_flight
        if amount > left:
            raise AntidoteError(
                f"{format_paise(amount)} is more than order #{locked.pk}'s payment has left to "
                f"refund ({format_paise(max(left, 0))})."
            )
        if amount < 100:
            raise AntidoteError("Razorpay refunds at least ₹1; choose more credits.")
        row = PaymentRefund.objects.create(
            order=locked,
            kind=PaymentRefund.Kind.STAFF,
            amount_paise=amount,
            status=PaymentRefund.Status.REQUESTED,
            source="admin",
            credits=credits,
            reason=reason[:255],
            requested_by=actor,
            request_token=token,
        )
        row.payout_entry = billing.adjust_credits(
            clinic=locked.clinic,
            credits=-credits,
            actor=actor,
            reason=f"Refund #{row.pk} to payment {locked.razorpay_payment_id}: {reason}"[:255],
            idempotency_key=f"refund:payout:{row.pk}",
            draw_first_from_key=f"purchase:order:{locked.pk}",  # this order's paid credits
        )
        row.save(update_fields=["payout_entry"])
        _event(
            locked,
            "refund_requested",
            f"refund #{row.pk}: {credits:,} credits, {format_paise(taxable)} + "
            f"{format_paise(tax)} GST, by {actor}: {reason}",
        )
    return ask_razorpay(refund=row)


def ask_razorpay(*, refund: PaymentRefund) -> PaymentRefund:
    """Ask Razorpay to make a REQUESTED refund, once: if an earlier call did reach it (a
    timeout), the refund it made is found by our id in its notes and recorded instead."""
    refund.refresh_from_db()
    if refund.status != PaymentRefund.Status.REQUESTED:
        return refund
    gateway = get_gateway()
    payment_id = refund.order.razorpay_payment_id
    try:
        made = next(
            (
                item
                for item in gateway.payment_refunds(payment_id)
                if isinstance(item, dict)
                and isinstance(item.get("notes"), dict)
                and item["notes"].get(STAFF_REFUND_NOTE) == str(refund.pk)
            ),
            None,
        )
        answer = made or gateway.refund_payment(
            payment_id,
            amount_paise=refund.amount_paise,
            notes={STAFF_REFUND_NOTE: str(refund.pk)},
        )
    except PaymentUnavailable as error:
        PaymentRefund.objects.filter(pk=refund.pk).update(last_error=error.detail[:255])
        _event(
            refund.order,
            "refund_unanswered",
            f"refund #{refund.pk}: Razorpay did not answer ({error.detail}); the credits stay "
            "reserved, retry it",
        )
        refund.refresh_from_db()
        return refund
    return apply_refund_result(
        refund=refund,
        razorpay_id=str(answer.get("id") or ""),
        status=str(answer.get("status") or ""),
        source="refund API",
    )


def apply_refund_result(*, refund: PaymentRefund, razorpay_id: str, status: str, source: str):
    """What Razorpay says of our refund, from its API answer, a webhook or reconciliation:
    processed completes it with a credit note; failed restores the credits; else it waits."""
    with transaction.atomic():
        order = PaymentOrder.objects.select_for_update().get(pk=refund.order_id)
        row = PaymentRefund.objects.select_for_update().get(pk=refund.pk)
        if row.razorpay_id and razorpay_id and row.razorpay_id != razorpay_id:
            raise AntidoteError(
                f"Refund #{row.pk} is {row.razorpay_id} at Razorpay, not {razorpay_id}."
            )
        if row.status in (PaymentRefund.Status.PROCESSED, PaymentRefund.Status.FAILED):
            return row  # a duplicate webhook, or a webhook after the API's answer
        row.razorpay_id = row.razorpay_id or razorpay_id or None
        row.last_error = ""
        if status == "processed":
            row.status = PaymentRefund.Status.PROCESSED
            order.refunded_paise += row.amount_paise
            order.save(update_fields=["refunded_paise"])
            _credit_note(order, row)
            _event(order, "refund_processed", f"refund #{row.pk} ({row.razorpay_id}) via {source}")
        elif status == "failed":
            row.status = PaymentRefund.Status.FAILED
            row.restore_entry = billing.restore_paid_credits(
                clinic=order.clinic,
                credits=row.credits,
                source_key=f"purchase:order:{order.pk}",
                actor=row.requested_by,
                reason=f"Refund #{row.pk} failed at Razorpay; credits restored"[:255],
                idempotency_key=f"refund:restore:{row.pk}",
            )
            _event(
                order,
                "refund_failed",
                f"Staff: refund #{row.pk} ({row.razorpay_id}) FAILED at Razorpay via {source}; "
                f"{row.credits:,} credits restored to {order.clinic}. Refund it another way.",
            )
            logger.error("Refund #%s failed at Razorpay; credits restored", row.pk)
        elif row.razorpay_id:
            row.status = PaymentRefund.Status.PROCESSING
        row.save(update_fields=["razorpay_id", "status", "restore_entry", "last_error"])
    return row


def _credit_note(order: PaymentOrder, row: PaymentRefund):
    invoice = TaxDocument.objects.filter(order=order, kind=TaxDocument.Kind.INVOICE).first()
    if invoice is None or TaxDocument.objects.filter(refund=row).exists():
        return None
    note = documents.issue_credit_note(
        invoice=invoice, refund=row, refunded_paise=row.amount_paise, credits=row.credits
    )
    _event(order, "credit_note", f"credit note {note.number} against {invoice.number}")
    return note


def find_staff_refund(*, notes, razorpay_id: str) -> PaymentRefund | None:
    """Our row for a Razorpay refund: by our id in its notes, else by Razorpay's id."""
    if isinstance(notes, dict):
        ours = str(notes.get(STAFF_REFUND_NOTE) or "")
        if ours.isascii() and ours.isdigit() and len(ours) < 19:
            row = PaymentRefund.objects.filter(pk=int(ours), kind=PaymentRefund.Kind.STAFF).first()
            if row is not None:
                return row
    return PaymentRefund.objects.filter(
        razorpay_id=razorpay_id, kind=PaymentRefund.Kind.STAFF
    ).first()


def stuck_refunds(*, older_than) -> list[PaymentRefund]:
    return list(
        PaymentRefund.objects.filter(
            kind=PaymentRefund.Kind.STAFF, status__in=IN_FLIGHT, updated_at__lte=older_than
        )
        .select_related("order")
        .order_by("pk")
    )
