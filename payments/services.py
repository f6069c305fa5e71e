"""Top-ups: quotes, orders, verification, webhooks and reconciliation.

Money reaches the ledger only through ``billing.services.grant_credits`` with keys derived
from our order (``purchase:order:<id>``, ``bonus:order:<id>``, ``promo-bonus:order:<id>``),
and only from ``settle_paid_order``, which every path (browser verification, webhooks,
reconciliation) calls after Razorpay's word has been checked against the order we stored.
"""

import json
import logging
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone
from rest_framework import serializers

from antidote.errors import AntidoteError
from antidote.logs import log_event
from antidote.money import format_number, format_paise
from billing import services as billing
from billing.models import CreditTransaction, Kind
from billing.selectors import account_of
from notifications import services as notifications
from notifications.models import EventType
from payments import documents, gst, refunds
from payments.gateway import PaymentUnavailable, SignatureMismatch, get_gateway
from payments.gst import Tax
from payments.models import (
    ClinicTaxDetails,
    CreditPackage,
    PaymentAttempt,
    PaymentEvent,
    PaymentOrder,
    PaymentRefund,
    PromoCode,
    PromoRedemption,
    TaxDocument,
    WebhookEvent,
    normalise_promo_code,
)

logger = logging.getLogger(__name__)

MIN_GATEWAY_AMOUNT_PAISE = 100  # Razorpay refuses orders below ₹1


@dataclass(frozen=True)
class Quote:
    package: CreditPackage | None
    promo: PromoCode | None
    base_amount_paise: int
    discount_paise: int
    credits: int
    bonus_credits: int
    promo_bonus_credits: int
    # None until the clinic has told us its billing state (the place of supply).
    tax: Tax | None = None

    @property
    def amount_paise(self) -> int:
        """The taxable value: the price less the discount (a discount applies before tax)."""
        return self.base_amount_paise - self.discount_paise

    @property
    def gst_paise(self) -> int:
        return self.tax.tax_paise if self.tax else 0

    @property
    def charged_paise(self) -> int:
        return self.amount_paise + self.gst_paise

    @property
    def total_credits(self) -> int:
        return self.credits + self.bonus_credits + self.promo_bonus_credits


def billing_state_of(*, clinic) -> str:
    """The clinic's billing state (GST place of supply), or "" if it has not said yet."""
    details = ClinicTaxDetails.objects.filter(clinic=clinic).first()
    return details.state_code if details else ""


def tax_on(*, taxable_paise: int, place_of_supply: str) -> Tax:
    return gst.compute_tax(
        taxable_paise=taxable_paise,
        rate_bp=settings.GST_RATE_BASIS_POINTS,
        supplier_state=settings.GST_SUPPLIER_STATE_CODE,
        place_of_supply=place_of_supply,
    )


def save_tax_details(*, clinic, legal_name: str, address: str, state_code: str, gstin: str):
    """Create or change a clinic's tax details; issued documents keep their own copies."""
    if state_code not in gst.STATES:
        raise AntidoteError("Choose the clinic's state from the list.")
    gstin = gst.clean_gstin(gstin, state_code=state_code) if gstin.strip() else ""
    details, _ = ClinicTaxDetails.objects.update_or_create(
        clinic=clinic,
        defaults={
            "legal_name": legal_name.strip(),
            "address": address.strip(),
            "state_code": state_code,
            "gstin": gstin,
        },
    )
    return details


def save_billing_state(*, clinic, state_code: str):
    """The top-up page's answer: the billing state alone, keeping any other details."""
    if state_code not in gst.STATES:
        raise AntidoteError("Choose the clinic's state from the list.")
    details = ClinicTaxDetails.objects.filter(clinic=clinic).first()
    if details is not None and details.gstin and details.gstin[:2] != state_code:
        raise AntidoteError(
            f"Your GSTIN {details.gstin} is registered in {gst.state_label(details.gstin[:2])}; "
            "change it on the tax details page first."
        )
    details, _ = ClinicTaxDetails.objects.update_or_create(
        clinic=clinic, defaults={"state_code": state_code}
    )
    return details


def _active_uses(promo, clinic=None, *, resumable=()) -> int:
    uses = promo.redemptions.exclude(status=PromoRedemption.Status.RELEASED)
    # The asking clinic's own open orders with this code do not count against it: a new
    # order either resumes one of them or cancels them (``create_order``).
    uses = uses.exclude(order_id__in=[order.pk for order in resumable])
    return uses.filter(clinic=clinic).count() if clinic is not None else uses.count()


def _promo_limits_allow(promo: PromoCode, clinic) -> bool:
    if promo.max_uses is not None and _active_uses(promo) >= promo.max_uses:
        return False
    return not (
        promo.max_uses_per_clinic is not None
        and _active_uses(promo, clinic) >= promo.max_uses_per_clinic
    )


def check_promo(*, code: str, clinic, base_amount_paise: int) -> tuple[PromoCode, int]:
    """The promo code and the discount in paise it gives on this amount, or a clear refusal."""
    promo = PromoCode.objects.filter(code=normalise_promo_code(code)).first()
    now = timezone.now()
    if promo is None:
        raise AntidoteError(f"{code!r} is not a valid promo code.")
    if not promo.is_active or (promo.valid_until and now > promo.valid_until):
        raise AntidoteError(f"The promo code {promo.code} has expired.")
    if promo.valid_from and now < promo.valid_from:
        raise AntidoteError(f"The promo code {promo.code} is not valid yet.")
    if base_amount_paise < promo.min_amount_paise:
        raise AntidoteError(
            f"{promo.code} needs a top-up of at least {format_paise(promo.min_amount_paise)}."
        )
    resumable = _open_orders_with_promo(clinic=clinic, promo=promo)
    if promo.max_uses is not None and _active_uses(promo, resumable=resumable) >= promo.max_uses:
        raise AntidoteError(f"The promo code {promo.code} has been used up.")
    if (
        promo.max_uses_per_clinic is not None
        and _active_uses(promo, clinic, resumable=resumable) >= promo.max_uses_per_clinic
    ):
        raise AntidoteError(f"Your clinic has already used {promo.code} as often as it may.")
    if promo.discount_type == PromoCode.Discount.PERCENT:
        discount = base_amount_paise * promo.discount_value // 100
    else:
        discount = promo.discount_value
    if promo.max_discount_paise is not None:
        discount = min(discount, promo.max_discount_paise)
    discount = min(discount, base_amount_paise - MIN_GATEWAY_AMOUNT_PAISE)
    # Discounts round down to whole rupees, so every order is a whole-rupee amount.
    return promo, discount - discount % 100


def quote_topup(
    *, clinic, package_id: int | None = None, amount: int | None = None, promo_code: str = ""
) -> Quote:
    """What a top-up of a package or a custom amount (whole rupees) costs and credits.

    The arguments are already parsed (``payments.api.TopupSerializer``): ints or None.
    """
    _refuse_inactive(clinic)
    if package_id is not None and amount is not None:
        raise AntidoteError("Choose a package or enter an amount, not both.")
    if package_id is not None:
        package = CreditPackage.objects.filter(pk=package_id, is_active=True).first()
        if package is None:
            raise AntidoteError("That credit package is not available.")
        base, credits, bonus = package.price_paise, package.credits, package.bonus_credits
    elif amount is not None:
        package = None
        base = amount * 100
        if base < settings.TOPUP_MIN_PAISE:
            raise AntidoteError(
                f"The smallest top-up is {format_paise(settings.TOPUP_MIN_PAISE)}.", code="amount"
            )
        if base > settings.TOPUP_MAX_PAISE:
            raise AntidoteError(
                f"The largest top-up is {format_paise(settings.TOPUP_MAX_PAISE)}.", code="amount"
            )
        credits = base // 100
        bonus = custom_amount_bonus(credits=credits, base_amount_paise=base)
    else:
        raise AntidoteError("Choose a package or enter an amount.")
    promo, discount = None, 0
    if promo_code.strip():
        promo, discount = check_promo(code=promo_code, clinic=clinic, base_amount_paise=base)
    place = billing_state_of(clinic=clinic)
    return Quote(
        package=package,
        promo=promo,
        base_amount_paise=base,
        discount_paise=discount,
        credits=credits,
        bonus_credits=bonus,
        promo_bonus_credits=promo_bonus(promo, credits=credits) if promo else 0,
        tax=tax_on(taxable_paise=base - discount, place_of_supply=place) if place else None,
    )


def custom_amount_bonus(*, credits: int, base_amount_paise: int) -> int:
    """A custom amount at or above a package's price earns at least that package's bonus rate.

    Otherwise ₹60,000 custom would buy fewer credits than the ₹50,000 package. The best rate
    among the active packages it reaches applies, rounded down to whole credits.
    """
    reached = CreditPackage.objects.filter(
        is_active=True, price_paise__lte=base_amount_paise, bonus_credits__gt=0
    )
    return max(
        (credits * package.bonus_credits // package.credits for package in reached), default=0
    )


def promo_bonus(promo: PromoCode, *, credits: int) -> int:
    """A promo's bonus: its fixed credits plus its percentage of the paid credits, rounded down."""
    return promo.bonus_credits + credits * promo.bonus_percent // 100


def describe_promo(quote: "Quote") -> str:
    """What a code gives on this choice, in 002's words: "20% discount applied"."""
    promo = quote.promo
    if promo is None:
        return ""
    parts = []
    if quote.discount_paise:
        if promo.discount_type == PromoCode.Discount.PERCENT:
            parts.append(f"{promo.discount_value}% discount")
        else:
            parts.append(f"{format_paise(quote.discount_paise)} discount")
    if promo.bonus_percent:
        parts.append(f"{promo.bonus_percent}% bonus credits")
    if promo.bonus_credits:
        parts.append(f"{promo.bonus_credits:,} bonus credits")
    if not parts:
        return f"{promo.code} applied"
    return " and ".join(parts) + " applied"


def _event(order, kind: str, detail: str = "") -> None:
    PaymentEvent.objects.create(order=order, kind=kind, detail=detail[:2000])


def _refuse_inactive(clinic) -> None:
    if not clinic.is_active:
        raise AntidoteError(
            f"{clinic} is not active, so it cannot buy credits. Contact Antidote to reactivate it."
        )


def create_order(*, clinic, user, quote: Quote) -> PaymentOrder:
    """Our order first (reserving the promo use), then Razorpay's, whose receipt is our id."""
    _refuse_inactive(clinic)
    place = billing_state_of(clinic=clinic)
    if not place:
        raise AntidoteError(
            "Choose your clinic's billing state first: GST on the top-up depends on it."
        )
    tax = tax_on(taxable_paise=quote.amount_paise, place_of_supply=place)
    if quote.tax is None or quote.tax != tax:
        raise AntidoteError("The GST on this top-up changed; check the new total and try again.")
    with transaction.atomic():
        if quote.promo is not None:
            # Lock the code so concurrent orders cannot together pass its limits.
            PromoCode.objects.select_for_update().get(pk=quote.promo.pk)
            open_orders = _open_orders_with_promo(clinic=clinic, promo=quote.promo)
            same = next((o for o in open_orders if _same_choice(o, quote)), None)
            if same is not None:
                # Asked again after closing the checkout: the open order comes back, so the
                # code is neither blocked for an hour nor used twice.
                _event(same, "resumed", "the same choice and code were asked for again")
                return same
            for earlier in open_orders:
                # A different choice replaces the earlier order and gives its use back; if
                # the earlier one is paid after all, settling re-checks the code's limits.
                _close_unpaid(
                    earlier, PaymentOrder.Status.CANCELLED, "replaced by a new top-up choice"
                )
            _, discount = check_promo(
                code=quote.promo.code, clinic=clinic, base_amount_paise=quote.base_amount_paise
            )
            if discount != quote.discount_paise:
                raise AntidoteError("The promo code changed; check the new total and try again.")
        order = PaymentOrder.objects.create(
            clinic=clinic,
            created_by=user,
            package=quote.package,
            promo=quote.promo,
            base_amount_paise=quote.base_amount_paise,
            discount_paise=quote.discount_paise,
            amount_paise=quote.amount_paise,
            gst_paise=tax.tax_paise,
            gst_rate_bp=tax.rate_bp,
            place_of_supply=place,
            credits=quote.credits,
            bonus_credits=quote.bonus_credits,
            promo_bonus_credits=quote.promo_bonus_credits,
        )
        if quote.promo is not None:
            PromoRedemption.objects.create(promo=quote.promo, clinic=clinic, order=order)
        _event(
            order,
            "created",
            f"{format_paise(order.amount_paise)} + {format_paise(order.gst_paise)} GST for "
            f"{order.total_credits} credits",
        )
    try:
        answer = get_gateway().create_order(
            amount_paise=order.charged_paise,
            receipt=str(order.pk),
            notes={"clinic_id": str(clinic.pk), "order_id": str(order.pk)},
        )
    except PaymentUnavailable as error:
        _close_unpaid(
            order, PaymentOrder.Status.FAILED, f"Razorpay order not created: {error.detail}"
        )
        log_event(
            logger, "payment.order_failed", level=logging.ERROR, order=order.pk, clinic=clinic.pk
        )
        raise
    order.razorpay_order_id = answer["id"]
    order.status = PaymentOrder.Status.PENDING
    order.save(update_fields=["razorpay_order_id", "status"])
    log_event(
        logger,
        "payment.order_created",
        order=order.pk,
        clinic=clinic.pk,
        razorpay_order=order.razorpay_order_id,
        amount_paise=order.amount_paise,
        credits=order.total_credits,
        promo=quote.promo.code if quote.promo else None,
    )
    return order


def _open_orders_with_promo(*, clinic, promo) -> list[PaymentOrder]:
    fresh = timezone.now() - timedelta(minutes=settings.PAYMENT_ORDER_EXPIRY_MINUTES)
    return list(
        PaymentOrder.objects.filter(
            clinic=clinic,
            promo=promo,
            status=PaymentOrder.Status.PENDING,
            created_at__gt=fresh,
            redemption__status=PromoRedemption.Status.RESERVED,
        ).order_by("pk")
    )


def _same_choice(order: PaymentOrder, quote: Quote) -> bool:
    return (
        order.package_id,
        order.base_amount_paise,
        order.amount_paise,
        order.total_credits,
    ) == (
        quote.package.pk if quote.package else None,
        quote.base_amount_paise,
        quote.amount_paise,
        quote.total_credits,
    )


def _close_unpaid(order: PaymentOrder, status: str, reason: str) -> None:
    """Fail or expire an unpaid order and give its promo use back. Paid orders stay paid."""
    with transaction.atomic():
        locked = PaymentOrder.objects.select_for_update().get(pk=order.pk)
        if locked.status == PaymentOrder.Status.PAID:
            return
        locked.status, locked.failure_reason = status, reason[:255]
        locked.save(update_fields=["status", "failure_reason"])
        PromoRedemption.objects.filter(order=locked, status=PromoRedemption.Status.RESERVED).update(
            status=PromoRedemption.Status.RELEASED
        )
        _event(locked, status, reason)
        log_event(logger, "payment.closed", order=locked.pk, status=status, reason=reason)
    order.status, order.failure_reason = locked.status, locked.failure_reason


def record_attempt(*, order: PaymentOrder, payment: dict, source: str) -> PaymentAttempt:
    """Keep what Razorpay said of one payment on this order (the latest word wins)."""
    known = {choice.value for choice in PaymentAttempt.Status}
    status = payment.get("status") if payment.get("status") in known else "other"
    attempt, _ = PaymentAttempt.objects.update_or_create(
        razorpay_payment_id=payment["id"],
        order=order,
        defaults={
            "status": status,
            "amount_paise": payment.get("amount"),
            "error": (payment.get("error_description") or "")[:255],
            "source": source[:40],
        },
    )
    return attempt


def _take_back_released_promo(order: PaymentOrder) -> bool:
    """A paid order whose promo use was released (it failed or expired first) keeps the promo
    only if the code's limits still allow it, checked under the lock new orders take."""
    redemption = PromoRedemption.objects.select_for_update().filter(order=order).first()
    if redemption is None or redemption.status != PromoRedemption.Status.RELEASED:
        return True
    PromoCode.objects.select_for_update().get(pk=redemption.promo_id)
    if _promo_limits_allow(redemption.promo, order.clinic):
        redemption.status = PromoRedemption.Status.RESERVED
        redemption.save(update_fields=["status"])
        return True
    return False


def settle_paid_order(*, order: PaymentOrder, payment_id: str, source: str) -> PaymentOrder:
    """Credit a captured payment once: the one path from Razorpay's money to our ledger.

    Any unpaid order can be settled: Razorpay lets a customer pay after a failed attempt, and
    money that was taken is credited even after our order expired. A second payment for a
    paid order is refused, and the audit of that refusal is committed before it is raised.
    """
    with transaction.atomic():
        locked = PaymentOrder.objects.select_for_update().select_related("clinic").get(pk=order.pk)
        if locked.status == PaymentOrder.Status.PAID:
            if locked.razorpay_payment_id == payment_id:
                return locked
            _event(locked, "second_payment", f"{payment_id} via {source}; order already paid")
            log_event(
                logger,
                "payment.second_payment",
                level=logging.ERROR,
                order=locked.pk,
                payment=payment_id,
                source=source,
            )
            refusal = AntidoteError(
                f"Order #{locked.pk} was already paid by another payment; staff will review."
            )
        else:
            refusal = None
            _credit_order(locked, payment_id=payment_id, source=source)
    if refusal is not None:
        refund_second_payment(order=locked, payment_id=payment_id, source=source)
        raise refusal
    return locked


SECOND_PAYMENT_NOTE = "second_payment_of_order"


def refund_second_payment(*, order: PaymentOrder, payment_id: str, source: str) -> None:
    """Give back a payment made for an order that another payment already paid (the checkout
    and the payment link both paid). It was never credited, so no credits move: one refund row
    is kept, and Razorpay's refund event finds our note and posts nothing. Staff are told.

    Razorpay is asked first whether the payment was already refunded, so a redelivered event
    or a second report of the same payment refunds nothing twice.
    """
    gateway = get_gateway()
    try:
        if any(
            isinstance(r, dict) and r.get("status") != "failed"
            for r in gateway.payment_refunds(payment_id)
        ):
            return
        payment = gateway.fetch_payment(payment_id)
        amount = payment.get("amount")
        if not isinstance(amount, int) or amount <= 0 or payment.get("status") != "captured":
            _event(order, "second_payment", f"{payment_id} is not captured; nothing to refund")
            return
        refund = gateway.refund_payment(
            payment_id, amount_paise=amount, notes={SECOND_PAYMENT_NOTE: str(order.pk)}
        )
    except PaymentUnavailable as error:
        _event(order, "second_payment_refund_failed", f"{payment_id}: {error.detail}")
        log_event(
            logger,
            "payment.second_payment_refund_failed",
            level=logging.ERROR,
            order=order.pk,
            payment=payment_id,
        )
        return
    PaymentRefund.objects.get_or_create(
        razorpay_id=str(refund.get("id")),
        defaults={
            "order": order,
            "kind": PaymentRefund.Kind.REFUND,
            "amount_paise": amount,
            "status": PaymentRefund.Status.STAFF,
            "source": f"second payment via {source}"[:40],
        },
    )
    _event(
        order,
        "second_payment_refunded",
        f"{payment_id} ({format_paise(amount)}) paid an order already paid by "
        f"{order.razorpay_payment_id}; refunded as {refund.get('id')}. Staff: tell the clinic.",
    )
    log_event(
        logger,
        "payment.second_payment_refunded",
        level=logging.ERROR,  # staff must tell the clinic
        order=order.pk,
        payment=payment_id,
        refund=refund.get("id"),
        amount_paise=amount,
    )


# Payment links: Razorpay's hosted page, for when the checkout script cannot load -------------


def payment_link_for(*, order: PaymentOrder, callback_url: str) -> PaymentOrder:
    """The order's payment link, made once: the same amount, our order's id as reference."""
    if order.status == PaymentOrder.Status.PAID:
        raise AntidoteError(f"Order #{order.pk} is already paid; nothing more to pay.")
    if order.razorpay_order_id is None:
        raise AntidoteError(f"Order #{order.pk} never reached Razorpay; start a new top-up.")
    if order.razorpay_payment_link_id:
        return order
    answer = get_gateway().create_payment_link(
        amount_paise=order.charged_paise,
        reference_id=f"order-{order.pk}",
        description=f"Antidote credits: {order.total_credits:,} credits (order #{order.pk})",
        callback_url=callback_url,
        notes={"clinic_id": str(order.clinic_id), "order_id": str(order.pk)},
    )
    if not isinstance(answer.get("id"), str) or not isinstance(answer.get("short_url"), str):
        raise PaymentUnavailable(f"create payment link: unexpected answer {answer!r:.200}")
    with transaction.atomic():
        locked = PaymentOrder.objects.select_for_update().get(pk=order.pk)
        if not locked.razorpay_payment_link_id:
            locked.razorpay_payment_link_id = answer["id"]
            locked.payment_link_url = answer["short_url"][:300]
            locked.save(update_fields=["razorpay_payment_link_id", "payment_link_url"])
            _event(locked, "payment_link", f"{answer['id']} {answer['short_url']}")
    return locked


def _settle_link_payment(order: PaymentOrder, payment: dict, *, source: str) -> PaymentOrder:
    """A payment made on the order's payment link: Razorpay's word about it, checked against
    what we stored (amount, currency, captured), settles the order like a checkout payment."""
    try:
        # A link's payment belongs to the order Razorpay made for the link, not to ours.
        _check_payment_amount(order, payment)
    except AntidoteError as error:
        _event(order, "mismatch", f"{source}: link payment {payment.get('id')}: {error.message}")
        raise
    record_attempt(order=order, payment=payment, source=source)
    if payment.get("status") != "captured":
        raise AntidoteError("Razorpay has not confirmed this payment yet; nothing was credited.")
    return settle_paid_order(order=order, payment_id=payment["id"], source=source)


def verify_payment_link_return(
    *,
    clinic,
    link_id: str,
    reference_id: str,
    status: str,
    payment_id: str,
    signature: str,
) -> PaymentOrder:
    """The browser's return from the payment page: trusted once the signature over the link id
    WE stored agrees and Razorpay confirms the payment by an authenticated fetch."""
    order = PaymentOrder.objects.filter(razorpay_payment_link_id=link_id, clinic=clinic).first()
    if order is None:
        raise AntidoteError("No such payment link for your clinic.", code="not_found")
    gateway = get_gateway()
    try:
        gateway.verify_payment_link_signature(
            link_id=order.razorpay_payment_link_id,
            reference_id=reference_id,
            status=status,
            payment_id=payment_id,
            signature=signature,
        )
    except SignatureMismatch:
        _event(order, "bad_signature", f"payment link return, payment {payment_id!r}")
        raise
    if order.status == PaymentOrder.Status.PAID and order.razorpay_payment_id == payment_id:
        return order
    return _settle_link_payment(
        order, gateway.fetch_payment(payment_id), source="payment link return"
    )


def _apply_payment_link_event(event: str, entities: dict) -> str:
    link = _entity(entities, "payment_link")
    link_id = link.get("id")
    order = (
        PaymentOrder.objects.filter(razorpay_payment_link_id=link_id).first()
        if isinstance(link_id, str)
        else None
    )
    if order is None:
        return f"{event} for unknown payment link {link_id!r} ignored"
    parsed = _PaymentEntity(data=_entity(entities, "payment"))
    if not parsed.is_valid():
        return f"{event} without a readable payment ignored"
    _settle_link_payment(order, dict(parsed.validated_data), source=f"webhook {event}")
    return f"order #{order.pk} paid through its payment link"


def _credit_order(locked: PaymentOrder, *, payment_id: str, source: str) -> None:
    fields = ["status", "razorpay_payment_id", "paid_at", "purchase_entry", "failure_reason"]
    if not _take_back_released_promo(locked):
        # The discount is already paid through; what was paid buys 1 credit per rupee.
        locked.promo_overrun_paise = locked.discount_paise
        locked.credits = locked.amount_paise // 100  # the taxable value, never the GST
        locked.bonus_credits = locked.promo_bonus_credits = 0
        fields += ["promo_overrun_paise", "credits", "bonus_credits", "promo_bonus_credits"]
        _event(
            locked,
            "promo_overrun",
            f"Promo {locked.promo} use was released and its limits no longer allow it: "
            f"credited {locked.credits} credits for {format_paise(locked.amount_paise)} paid, "
            f"no bonus; discount of {format_paise(locked.discount_paise)} given without a use.",
        )
    package, promo = locked.package, locked.promo
    grants = [
        (
            Kind.PURCHASE,
            locked.credits,
            "purchase",
            f"Order #{locked.pk}, Razorpay {payment_id}",
            package and package.paid_validity_days,
        ),
        (
            Kind.BONUS,
            locked.bonus_credits,
            "bonus",
            f"Package bonus, order #{locked.pk}",
            package and package.bonus_validity_days,
        ),
        (
            Kind.PROMO_BONUS,
            locked.promo_bonus_credits,
            "promo-bonus",
            f"Promo {promo} bonus",
            promo and promo.bonus_validity_days,
        ),
    ]
    entries = [
        billing.grant_credits(
            clinic=locked.clinic,
            credits=credits,
            kind=kind,
            idempotency_key=f"{prefix}:order:{locked.pk}",
            memo=memo,
            paid=True,
            # The paid lot's value: what was paid (after discount) for the purchased credits.
            paid_paise=locked.amount_paise if kind == Kind.PURCHASE else None,
            # The package's (or promo's) own validity, if it sets one; else the settings.
            validity_days=validity_days,
        )
        for kind, credits, prefix, memo, validity_days in grants
        if credits
    ]
    if not locked.clinic.is_active:
        _event(
            locked,
            "clinic_inactive",
            f"{locked.clinic} was deactivated before its payment {payment_id} arrived; the "
            "money was received, so it was credited. Staff: refund it or reactivate the clinic.",
        )
    locked.status = PaymentOrder.Status.PAID
    locked.razorpay_payment_id = payment_id
    locked.paid_at = timezone.now()
    locked.purchase_entry = entries[0]
    locked.failure_reason = ""
    locked.save(update_fields=fields)
    PromoRedemption.objects.filter(order=locked, status=PromoRedemption.Status.RESERVED).update(
        status=PromoRedemption.Status.CONSUMED
    )
    _event(locked, "paid", f"{payment_id} via {source}")
    log_event(
        logger,
        "payment.paid",
        order=locked.pk,
        clinic=locked.clinic_id,
        payment=payment_id,
        source=source,
        amount_paise=locked.amount_paise,
        credits=locked.total_credits,
    )
    if locked.place_of_supply:
        # In this transaction: the number is taken only if the settlement commits.
        invoice = documents.issue_invoice(order=locked)
        _event(locked, "invoice", f"tax invoice {invoice.number}")
        notifications.emit(
            type=EventType.INVOICE_ISSUED,
            clinic_id=locked.clinic_id,
            data={
                "order": locked.pk,
                "invoice": invoice.number,
                "taxable_paise": invoice.taxable_paise,
                "total_paise": invoice.total_paise,
            },
            subject=f"Tax invoice {invoice.number} for {locked.clinic.name}",
            text=(
                f"Tax invoice {invoice.number} for order #{locked.pk}: "
                f"{format_paise(invoice.total_paise)} incl. GST."
            ),
            contact_email=locked.clinic.contact_email,
        )
    total = sum(entry.credits for entry in entries)
    notifications.emit(
        type=EventType.CREDITS_PURCHASED,
        clinic_id=locked.clinic_id,
        data={
            "order": locked.pk,
            "payment_id": payment_id,
            "amount_paise": locked.amount_paise,
            "credits": total,
        },
        subject=f"{total:,} credits added to {locked.clinic.name}",
        text=(
            f"Payment {payment_id} of {format_paise(locked.amount_paise)} was received and "
            f"{total:,} credits were added (order #{locked.pk})."
        ),
        contact_email=locked.clinic.contact_email,
    )


def _check_payment_matches(order: PaymentOrder, payment: dict) -> None:
    if payment.get("order_id") != order.razorpay_order_id:
        raise AntidoteError("That payment belongs to a different order; nothing was credited.")
    _check_payment_amount(order, payment)


def _check_payment_amount(order: PaymentOrder, payment: dict) -> None:
    if payment.get("amount") != order.charged_paise or payment.get("currency", "INR") != "INR":
        raise AntidoteError(
            f"The payment amount ({payment.get('amount')} paise) does not match the order "
            f"({order.charged_paise} paise); nothing was credited."
        )


def verify_payment(
    *, clinic, razorpay_order_id: str, razorpay_payment_id: str, razorpay_signature: str
):
    """The browser's report of a payment: trusted only once signature and Razorpay agree."""
    order = PaymentOrder.objects.filter(razorpay_order_id=razorpay_order_id, clinic=clinic).first()
    if order is None:
        raise AntidoteError("No such payment order for your clinic.", code="not_found")
    gateway = get_gateway()
    try:
        # Against the order id WE stored, never one the browser could choose.
        gateway.verify_payment_signature(
            order_id=order.razorpay_order_id,
            payment_id=razorpay_payment_id,
            signature=razorpay_signature,
        )
    except SignatureMismatch:
        _event(order, "bad_signature", f"payment {razorpay_payment_id!r}")
        log_event(
            logger,
            "payment.bad_signature",
            level=logging.ERROR,
            order=order.pk,
            payment=razorpay_payment_id,
        )
        raise
    if (
        order.status == PaymentOrder.Status.PAID
        and order.razorpay_payment_id == razorpay_payment_id
    ):
        return order
    payment = gateway.fetch_payment(razorpay_payment_id)
    try:
        _check_payment_matches(order, payment)
    except AntidoteError as error:
        _event(order, "mismatch", error.message)
        raise
    if payment.get("status") == "authorized":
        record_attempt(order=order, payment=payment, source="verify-payment")
        payment = gateway.capture_payment(razorpay_payment_id, order.charged_paise)
    record_attempt(order=order, payment=payment, source="verify-payment")
    if payment.get("status") != "captured":
        _event(order, "not_captured", f"{razorpay_payment_id} is {payment.get('status')!r}")
        raise AntidoteError("Razorpay has not confirmed this payment yet; nothing was credited.")
    return settle_paid_order(order=order, payment_id=razorpay_payment_id, source="verify-payment")


def handle_webhook(*, signature: str, event_id: str, body: bytes) -> str:
    """One Razorpay event, processed at most once per event id. Returns what happened.

    ``signature`` and ``event_id`` come parsed (``payments.api.WebhookHeadersSerializer``).
    The event's row is committed on its own before the event is applied, so a refusal is
    recorded with it; a redelivery of an event whose processing crashed is processed again.
    """
    try:
        text = body.decode()
    except UnicodeDecodeError as error:
        raise AntidoteError("The webhook body is not UTF-8.") from error
    try:
        get_gateway().verify_webhook_signature(body=text, signature=signature)
    except SignatureMismatch:
        log_event(logger, "webhook.bad_signature", level=logging.ERROR, event_id=event_id)
        raise
    event, payload = _parse_event(text)
    log_event(logger, "webhook.received", webhook=event, event_id=event_id)
    try:
        with transaction.atomic():
            record = WebhookEvent.objects.create(event_id=event_id, event=event, payload=payload)
    except IntegrityError:
        record = WebhookEvent.objects.get(event_id=event_id)
    with transaction.atomic():
        record = WebhookEvent.objects.select_for_update().get(pk=record.pk)
        if record.processed_at is not None:
            return "duplicate event, ignored"
        try:
            result = _apply_event(event, payload)
        except AntidoteError as error:
            result = f"refused: {error.message}"
            log_event(
                logger,
                "webhook.refused",
                level=logging.ERROR,
                webhook=event,
                event_id=event_id,
                result=result,
            )
        else:
            log_event(logger, "webhook.processed", webhook=event, event_id=event_id, result=result)
        record.result, record.processed_at = result[:255], timezone.now()
        record.save(update_fields=["result", "processed_at"])
    return result


class _PaymentEntity(serializers.Serializer):
    id = serializers.CharField(max_length=60)
    order_id = serializers.CharField(max_length=60, required=False, allow_null=True)
    amount = serializers.IntegerField(min_value=0, required=False, allow_null=True)
    currency = serializers.CharField(max_length=3, required=False, default="INR")
    status = serializers.CharField(max_length=20, required=False, default="")
    error_description = serializers.CharField(
        max_length=2000, required=False, allow_blank=True, allow_null=True
    )


class _Event(serializers.Serializer):
    event = serializers.CharField(max_length=60)
    payload = serializers.DictField(required=False, default=dict)


def _parse_event(text: str) -> tuple[str, dict]:
    try:
        payload = json.loads(text)
    except (ValueError, RecursionError) as error:
        raise AntidoteError("The webhook body is not a Razorpay event.") from error
    envelope = _Event(data=payload)
    if not envelope.is_valid():
        raise AntidoteError("The webhook body is not a Razorpay event.")
    return envelope.validated_data["event"], payload


def _entity(entities: dict, name: str) -> dict:
    wrapper = entities.get(name)
    entity = wrapper.get("entity") if isinstance(wrapper, dict) else None
    return entity if isinstance(entity, dict) else {}


def _apply_event(event: str, payload: dict) -> str:
    entities = payload.get("payload") if isinstance(payload.get("payload"), dict) else {}
    if event in REFUND_EVENTS:
        return _apply_refund_event(event, entities)
    if event.startswith("payment.dispute."):
        return _apply_dispute_event(event, entities)
    if event == "payment_link.paid":
        return _apply_payment_link_event(event, entities)
    if event not in {"payment.captured", "order.paid", "payment.failed"}:
        return f"{event} ignored"
    parsed = _PaymentEntity(data=_entity(entities, "payment"))
    if not parsed.is_valid():
        return f"{event} without a readable payment ignored"
    payment = dict(parsed.validated_data)
    order_id = payment.get("order_id") or _entity(entities, "order").get("id")
    order = (
        PaymentOrder.objects.filter(razorpay_order_id=order_id).first()
        if isinstance(order_id, str)
        else None
    )
    if order is None:
        return f"{event} for unknown order {order_id!r} ignored"
    if payment.get("order_id") not in (None, order.razorpay_order_id):
        return f"{event}: payment {payment['id']} is not for order #{order.pk}, ignored"
    if event == "payment.failed":
        # One failed attempt; Razorpay lets the customer retry on the same order, which stays
        # payable until it expires.
        record_attempt(order=order, payment=payment, source=f"webhook {event}")
        reason = (payment.get("error_description") or "payment failed")[:200]
        _event(order, "attempt_failed", f"{payment['id']}: {reason}")
        return f"order #{order.pk}: attempt {payment['id']} failed; order still payable"
    try:
        _check_payment_matches(order, payment)
    except AntidoteError as error:
        # Signed by Razorpay yet not our order's amount: keep it for staff, credit nothing.
        _event(order, "mismatch", f"webhook {event}: {error.message}")
        return f"order #{order.pk}: {error.message}"
    record_attempt(order=order, payment=payment, source=f"webhook {event}")
    status = payment.get("status")
    if status != "captured":
        return f"order #{order.pk}: payment {payment['id']} is {status}, not captured"
    settle_paid_order(order=order, payment_id=payment["id"], source=f"webhook {event}")
    return f"order #{order.pk} paid"


# Money going back ----------------------------------------------------------------------------

REFUND_EVENTS = frozenset({"refund.processed", "refund.failed", "payment.refunded"})


class _RefundEntity(serializers.Serializer):
    id = serializers.CharField(max_length=60)
    payment_id = serializers.CharField(max_length=60)
    amount = serializers.IntegerField(min_value=1)
    status = serializers.CharField(max_length=20, required=False, default="processed")
    notes = serializers.JSONField(required=False, default=dict)


class _DisputeEntity(serializers.Serializer):
    id = serializers.CharField(max_length=60)
    payment_id = serializers.CharField(max_length=60, required=False, allow_null=True)
    amount = serializers.IntegerField(min_value=1)


def _paid_order_of(payment_id) -> PaymentOrder | None:
    if not isinstance(payment_id, str) or not payment_id:
        return None
    return PaymentOrder.objects.filter(
        razorpay_payment_id=payment_id, status=PaymentOrder.Status.PAID
    ).first()


def _apply_refund_event(event: str, entities: dict) -> str:
    parsed = _RefundEntity(data=_entity(entities, "refund"))
    if not parsed.is_valid():
        return f"{event} without a readable refund ignored"
    refund = parsed.validated_data
    if event == "refund.failed":
        refund["status"] = "failed"
    ours = refunds.find_staff_refund(notes=refund["notes"], razorpay_id=refund["id"])
    if ours is not None:
        # Started by staff here: the credits were reserved then; complete or restore.
        row = refunds.apply_refund_result(
            refund=ours, razorpay_id=refund["id"], status=refund["status"], source=event
        )
        return f"{event}: refund #{row.pk} ({refund['id']}) {row.status}"
    if refund["status"] != "processed":
        return f"{event}: refund {refund['id']} is {refund['status']}; nothing posted yet"
    order = _paid_order_of(refund["payment_id"])
    if order is None:
        return f"{event} for unknown payment {refund['payment_id']!r} ignored"
    record_money_returned(
        order=order,
        kind=PaymentRefund.Kind.REFUND,
        razorpay_id=refund["id"],
        amount_paise=refund["amount"],
        source=f"webhook {event}",
    )
    return f"order #{order.pk}: refund {refund['id']} reversed"


def _apply_dispute_event(event: str, entities: dict) -> str:
    parsed = _DisputeEntity(data=_entity(entities, "dispute"))
    if not parsed.is_valid():
        return f"{event} without a readable dispute ignored"
    dispute = parsed.validated_data
    order = _paid_order_of(dispute.get("payment_id") or _entity(entities, "payment").get("id"))
    if order is None:
        return f"{event} for an unknown payment ignored"
    phase = event.removeprefix("payment.dispute.")
    if phase == "lost":
        record_money_returned(
            order=order,
            kind=PaymentRefund.Kind.CHARGEBACK,
            razorpay_id=dispute["id"],
            amount_paise=dispute["amount"],
            source=f"webhook {event}",
        )
        return f"order #{order.pk}: chargeback {dispute['id']} lost, credits reversed"
    with transaction.atomic():
        row, _ = PaymentRefund.objects.select_for_update().get_or_create(
            razorpay_id=dispute["id"],
            defaults={
                "order": order,
                "kind": PaymentRefund.Kind.CHARGEBACK,
                "amount_paise": dispute["amount"],
                "status": PaymentRefund.Status.OPEN,
                "source": f"webhook {event}"[:40],
            },
        )
        if phase in {"won", "closed"} and row.status == PaymentRefund.Status.OPEN:
            row.status = PaymentRefund.Status.WON
            row.save(update_fields=["status"])
        _event(
            order, f"chargeback_{phase}"[:40], f"{dispute['id']}: {format_paise(dispute['amount'])}"
        )
    return f"order #{order.pk}: chargeback {dispute['id']} {phase}"


def record_money_returned(
    *, order: PaymentOrder, kind: str, razorpay_id: str, amount_paise: int, source: str
) -> PaymentRefund:
    """Money that went back from a paid order, recorded once per Razorpay refund or dispute id.

    A ``reversal`` takes back the order's credits in proportion to the amount (rounded up to a
    whole credit, never more than the order granted in all). It is posted even if the credits
    were spent: the part below the floor is debt, and staff are told.
    """
    with transaction.atomic():
        locked = PaymentOrder.objects.select_for_update().select_related("clinic").get(pk=order.pk)
        row, _ = PaymentRefund.objects.select_for_update().get_or_create(
            razorpay_id=razorpay_id,
            defaults={
                "order": locked,
                "kind": kind,
                "amount_paise": amount_paise,
                "status": PaymentRefund.Status.OPEN,
                "source": source[:40],
            },
        )
        if row.order_id != locked.pk:
            raise AntidoteError(
                f"{razorpay_id} belongs to order #{row.order_id}, not #{locked.pk}."
            )
        if row.status == PaymentRefund.Status.REVERSED:
            return row
        reversed_so_far = -(
            PaymentRefund.objects.filter(order=locked, reversal_entry__isnull=False).aggregate(
                total=Sum("reversal_entry__credits")
            )["total"]
            or 0
        )
        granted = locked.total_credits
        # Ceiling division in integers: a partial refund takes back whole credits, rounded up.
        due = -(-granted * amount_paise // locked.charged_paise)
        credits = min(due, granted - reversed_so_far)
        if credits > 0:
            row.reversal_entry = billing.reverse_credits(
                clinic=locked.clinic,
                credits=credits,
                idempotency_key=f"reversal:{kind}:{razorpay_id}",
                memo=f"{row.get_kind_display()} {razorpay_id}, order #{locked.pk}"[:255],
                source_key=f"purchase:order:{locked.pk}",  # drawn first from its own lot
            )
        row.status, row.amount_paise = PaymentRefund.Status.REVERSED, amount_paise
        row.save(update_fields=["reversal_entry", "status", "amount_paise"])
        locked.refunded_paise += amount_paise
        locked.save(update_fields=["refunded_paise"])
        _credit_note_for(locked, row, amount_paise=amount_paise, credits=max(credits, 0))
        _event(
            locked,
            kind,
            f"{razorpay_id}: {format_paise(amount_paise)} went back; {credits} credits reversed",
        )
        account = account_of(clinic=locked.clinic)
        if account.in_debt:
            _event(
                locked,
                "debt",
                f"{locked.clinic} is {format_number(account.debt)} credits in debt after "
                f"{razorpay_id}; its "
                "new leads wait until a top-up pays it off.",
            )
    return row


def _credit_note_for(order: PaymentOrder, row: PaymentRefund, *, amount_paise: int, credits: int):
    """Every rupee that went back after a tax invoice gets a credit note (s.34), up to what
    the invoice still has uncredited. Orders settled before GST have no invoice and get none."""
    invoice = TaxDocument.objects.filter(order=order, kind=TaxDocument.Kind.INVOICE).first()
    if invoice is None or hasattr(row, "credit_note"):
        return None
    credited = sum(note.total_paise for note in invoice.credit_notes.all())
    amount = min(amount_paise, invoice.total_paise - credited)
    if amount <= 0:
        return None
    note = documents.issue_credit_note(
        invoice=invoice, refund=row, refunded_paise=amount, credits=credits
    )
    _event(order, "credit_note", f"credit note {note.number} against {invoice.number}")
    return note


def acknowledge_promo_overrun(*, order: PaymentOrder, actor) -> PaymentOrder:
    """Staff reviewed a promo overrun: reconcile stops reporting it; who and when are kept."""
    if not actor.has_perm("payments.acknowledge_promo_overrun"):
        raise AntidoteError("You may not acknowledge promo overruns.")
    with transaction.atomic():
        locked = PaymentOrder.objects.select_for_update().get(pk=order.pk)
        if not locked.promo_overrun_paise:
            raise AntidoteError(f"Order #{locked.pk} has no promo overrun.")
        if locked.overrun_acknowledged_at is not None:
            return locked
        locked.overrun_acknowledged_by, locked.overrun_acknowledged_at = actor, timezone.now()
        locked.save(update_fields=["overrun_acknowledged_by", "overrun_acknowledged_at"])
        _event(locked, "overrun_acknowledged", f"by {actor}")
    return locked


@dataclass
class ReconcileReport:
    settled: list
    expired: list
    problems: list
    overruns: list
    reversed: list


def _settleable_payment(gateway, order: PaymentOrder) -> dict | None:
    """The captured (else authorised) payment Razorpay holds for this order, if any, checked
    against the order exactly as settling would check it. Raises AntidoteError on a mismatch."""
    payments = gateway.order_payments(order.razorpay_order_id)
    for payment in payments:
        if isinstance(payment, dict) and isinstance(payment.get("id"), str):
            record_attempt(order=order, payment=payment, source="reconcile")
    by_status = {p.get("status"): p for p in reversed(payments) if isinstance(p, dict)}
    payment = by_status.get("captured") or by_status.get("authorized")
    if payment is not None:
        _check_payment_matches(order, payment)
        return payment
    return _captured_link_payment(gateway, order)


def _captured_link_payment(gateway, order: PaymentOrder) -> dict | None:
    """A captured payment on the order's payment link (it belongs to the order Razorpay made
    for the link, so only its amount is checked against ours)."""
    if not order.razorpay_payment_link_id:
        return None
    link = gateway.fetch_payment_link(order.razorpay_payment_link_id)
    for item in link.get("payments") or []:
        if isinstance(item, dict) and item.get("status") == "captured":
            payment = gateway.fetch_payment(str(item.get("payment_id")))
            _check_payment_amount(order, payment)
            if payment.get("status") == "captured":
                record_attempt(order=order, payment=payment, source="reconcile link")
                return payment
    return None


def _reconcile_refunds(gateway, report: ReconcileReport, *, since, dry_run: bool) -> None:
    """Every refund Razorpay made on a recently paid order has its reversal in the ledger."""
    recorded = set(
        PaymentRefund.objects.filter(status=PaymentRefund.Status.REVERSED).values_list(
            "razorpay_id", flat=True
        )
    )
    paid = PaymentOrder.objects.filter(status=PaymentOrder.Status.PAID, paid_at__gte=since)
    for order in paid.order_by("id"):
        try:
            made = gateway.payment_refunds(order.razorpay_payment_id)
        except PaymentUnavailable as error:
            report.problems.append(
                f"order #{order.pk}: could not ask about refunds ({error.detail})"
            )
            continue
        for item in made:
            parsed = _RefundEntity(data=item if isinstance(item, dict) else {})
            if not parsed.is_valid():
                report.problems.append(f"order #{order.pk}: unreadable refund {item!r:.80}")
                continue
            refund = parsed.validated_data
            if (
                refund["id"] in recorded
                or refund["status"] != "processed"
                # Ours, started by staff: completed by _reconcile_staff_refunds.
                or refunds.find_staff_refund(notes=refund["notes"], razorpay_id=refund["id"])
            ):
                continue
            line = (
                f"order #{order.pk}: refund {refund['id']} of "
                f"{format_paise(refund['amount'])} at Razorpay has no reversal in the ledger"
            )
            if not dry_run:
                record_money_returned(
                    order=order,
                    kind=PaymentRefund.Kind.REFUND,
                    razorpay_id=refund["id"],
                    amount_paise=refund["amount"],
                    source="reconcile",
                )
                line += "; reversed now"
            report.reversed.append(line)


def _reconcile_staff_refunds(gateway, report: ReconcileReport, *, older_than, dry_run: bool):
    """Refunds staff started that are still open: asked again (a REQUESTED one, which a retry
    finds at Razorpay if the first call reached it) or looked up (a PROCESSING one). What is
    still open after that is a problem: credits are reserved and money has not moved."""
    for row in refunds.stuck_refunds(older_than=older_than):
        if not dry_run:
            try:
                if row.status == PaymentRefund.Status.REQUESTED:
                    row = refunds.ask_razorpay(refund=row)
                else:
                    answer = gateway.fetch_refund(row.razorpay_id)
                    row = refunds.apply_refund_result(
                        refund=row,
                        razorpay_id=str(answer.get("id") or ""),
                        status=str(answer.get("status") or ""),
                        source="reconcile",
                    )
            except PaymentUnavailable as error:
                report.problems.append(f"refund #{row.pk}: could not ask Razorpay ({error.detail})")
                continue
        if row.status in refunds.IN_FLIGHT:
            report.problems.append(
                f"refund #{row.pk} on order #{row.order_id} is stuck "
                f"({row.get_status_display().lower()}): {row.credits:,} credits reserved, "
                f"{format_paise(row.amount_paise)} not yet refunded"
            )
        else:
            report.reversed.append(f"refund #{row.pk} on order #{row.order_id}: {row.status}")


def reconcile_payments(*, older_than_minutes: int = 15, dry_run: bool = False) -> ReconcileReport:
    """Settle what the browser and webhooks missed; expire the stale; list what cannot add up.

    Every uncredited order Razorpay could still take a payment for is asked about, whatever
    our status says: a failed attempt may have been followed by a captured retry. The dry run
    applies the same checks as the real run and only skips the writes.
    """
    report = ReconcileReport(settled=[], expired=[], problems=[], overruns=[], reversed=[])
    now = timezone.now()
    gateway = get_gateway()
    lookback = timedelta(days=settings.PAYMENT_RECONCILE_LOOKBACK_DAYS)
    unpaid = (
        PaymentOrder.objects.exclude(status=PaymentOrder.Status.PAID)
        .exclude(razorpay_order_id=None)
        .filter(
            created_at__lte=now - timedelta(minutes=older_than_minutes),
            created_at__gte=now - lookback,
        )
    )
    expiry = now - timedelta(minutes=settings.PAYMENT_ORDER_EXPIRY_MINUTES)
    for order in unpaid.order_by("id"):
        try:
            payment = _settleable_payment(gateway, order)
            if payment is not None and not dry_run:
                if payment["status"] == "authorized":
                    payment = gateway.capture_payment(payment["id"], order.charged_paise)
                    _check_payment_matches(order, payment)
                    record_attempt(order=order, payment=payment, source="reconcile")
                settle_paid_order(order=order, payment_id=payment["id"], source="reconcile")
        except PaymentUnavailable as error:
            report.problems.append(f"order #{order.pk}: could not ask Razorpay ({error.detail})")
            continue
        except AntidoteError as error:
            if not dry_run:
                _event(order, "mismatch", f"reconcile: {error.message}")
            report.problems.append(f"order #{order.pk}: {error.message}")
            continue
        if payment is not None:
            report.settled.append(order)
        elif order.status == PaymentOrder.Status.PENDING and order.created_at <= expiry:
            if not dry_run:
                _close_unpaid(order, PaymentOrder.Status.EXPIRED, "expired unpaid (reconcile)")
            report.expired.append(order)
    _reconcile_refunds(gateway, report, since=now - lookback, dry_run=dry_run)
    _reconcile_staff_refunds(
        gateway, report, older_than=now - timedelta(minutes=older_than_minutes), dry_run=dry_run
    )
    if dry_run:
        # The books are wrong until a real run settles these: a dry run says so.
        report.problems += [
            f"order #{o.pk}: captured at Razorpay, not credited" for o in report.settled
        ]
        report.problems += report.reversed
    for order in PaymentOrder.objects.filter(status=PaymentOrder.Status.PAID, purchase_entry=None):
        report.problems.append(f"order #{order.pk} is paid but has no purchase entry")
    paid_keys = {
        f"purchase:order:{pk}"
        for pk in PaymentOrder.objects.filter(status=PaymentOrder.Status.PAID).values_list(
            "pk", flat=True
        )
    }
    orphans = CreditTransaction.objects.filter(
        kind=Kind.PURCHASE, idempotency_key__startswith="purchase:order:"
    ).exclude(idempotency_key__in=paid_keys)
    for entry in orphans:
        report.problems.append(
            f"ledger entry #{entry.pk} ({entry.idempotency_key}) has no paid order"
        )
    unreviewed = PaymentOrder.objects.filter(
        promo_overrun_paise__gt=0, overrun_acknowledged_at=None
    ).select_related("clinic", "promo")
    for order in unreviewed.order_by("id"):
        # A problem until staff acknowledge it: money was given away, someone must look.
        report.problems.append(
            f"order #{order.pk} ({order.clinic}): promo {order.promo} overrun, "
            f"{format_paise(order.promo_overrun_paise)} discount given without a use"
        )
        report.overruns.append(order)
    return report
