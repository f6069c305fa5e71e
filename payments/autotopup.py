"""Automatic top-up: the saved payment method (a Razorpay customer and recurring token), the
clinic's rule, and each automatic top-up from trigger to credit.

Billing announces every lowered balance after commit (``billing.signals.balance_lowered``);
``consider`` decides whether the rule's level was crossed and writes one ``AutoTopUp`` row,
the durable job: a partial unique index allows one in flight per clinic, so two charges
crossing the level at once queue one top-up. A task (``payments.tasks``) charges it after
commit, and a sweep picks up a job whose task was lost, as the notifications outbox does.

The task re-checks every guard under the rule's row lock, creates ONE order and charges it
with the recurring-payment API. Credits come only through ``services.settle_paid_order``,
when Razorpay's signed webhook or our authenticated fetch of the payment id we stored says
it was captured; the order row lock and the ledger keys credit it once.
"""

import logging
import time
from datetime import timedelta
from functools import partial

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, OuterRef, Subquery, Sum
from django.utils import timezone

from antidote.errors import AntidoteError
from antidote.logs import log_event
from antidote.money import format_paise
from billing.models import CreditAccount, Kind
from billing.selectors import entries_between
from leads.models import Lead
from notifications import services as notifications
from notifications.models import EventType
from payments import services
from payments.gateway import PaymentUnavailable, get_gateway
from payments.models import (
    AutoTopUp,
    AutoTopUpRule,
    CreditPackage,
    PaymentOrder,
    SavedPaymentMethod,
)

logger = logging.getLogger(__name__)

BACKOFF = timedelta(hours=24)
DECLINES_BEFORE_OFF = 3
IDLE_DAYS = 30
EARLY_WINDOW = timedelta(days=2)
AUTHORISATION_PAISE = 100  # the ₹1 the checkout takes to authorise a card or mandate
MANDATE_YEARS = 10
Status = AutoTopUp.Status
WATCH_SECONDS = 30


# Which clinics to look at after a debit ------------------------------------------------------
#
# Every debit announces itself, and almost no clinic has a rule: a query per debit would tax
# the posting path for nothing. Each process keeps the set of clinics with a rule switched on
# for WATCH_SECONDS (this process forgets it whenever a rule changes here); a crossing another
# process missed in that window is found by ``sweep`` within five minutes.

_watched: tuple[float, frozenset] = (float("-inf"), frozenset())


def watched_clinics() -> frozenset:
    global _watched
    read_at, clinic_ids = _watched
    if time.monotonic() - read_at > WATCH_SECONDS:
        clinic_ids = frozenset(
            AutoTopUpRule.objects.filter(is_enabled=True).values_list("clinic_id", flat=True)
        )
        _watched = (time.monotonic(), clinic_ids)
    return clinic_ids


def forget_watched() -> None:
    global _watched
    _watched = (float("-inf"), frozenset())


# The saved payment method ------------------------------------------------------------------


def start_mandate(
    *, clinic, user, method: str, email: str, contact: str, max_amount_paise: int
) -> SavedPaymentMethod:
    """Razorpay's customer and an authorisation order the checkout opens with recurring=1.

    The arguments come parsed (``payments.forms.PaymentMethodForm``). A clinic has one saved
    method; starting again replaces it once the new one is authorised.
    """
    if not clinic.is_active:
        raise AntidoteError(f"{clinic} is not active, so it cannot save a payment method.")
    if method not in SavedPaymentMethod.Method.values:
        raise AntidoteError("Choose a card or UPI Autopay.")
    if not 0 < max_amount_paise <= settings.TOPUP_MAX_PAISE * 2:
        raise AntidoteError("The mandate's limit per debit is out of range.")
    gateway = get_gateway()
    existing = SavedPaymentMethod.objects.filter(clinic=clinic).first()
    customer_id = existing.razorpay_customer_id if existing else ""
    if not customer_id:
        customer = gateway.create_customer(
            name=clinic.name[:50], email=email, contact=contact, notes={"clinic_id": str(clinic.pk)}
        )
        customer_id = _text(customer.get("id"), "create customer")
    expire_at = int((timezone.now() + timedelta(days=365 * MANDATE_YEARS)).timestamp())
    order = gateway.create_authorisation_order(
        amount_paise=AUTHORISATION_PAISE,
        customer_id=customer_id,
        method=method,
        max_amount_paise=max_amount_paise,
        expire_at=expire_at,
        receipt=f"mandate-{clinic.pk}",
        notes={"clinic_id": str(clinic.pk), "purpose": "auto_topup_mandate"},
    )
    saved, _ = SavedPaymentMethod.objects.update_or_create(
        clinic=clinic,
        defaults={
            "razorpay_customer_id": customer_id,
            "razorpay_token_id": "",
            "authorisation_order_id": _text(order.get("id"), "create authorisation order"),
            "method": method,
            "email": email,
            "contact": contact,
            "card_last4": "",
            "vpa": "",
            "max_amount_paise": max_amount_paise,
            "status": SavedPaymentMethod.Status.PENDING,
            "created_by": user,
        },
    )
    return saved


def _text(value, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise PaymentUnavailable(f"{what}: no id in Razorpay's answer")
    return value


def confirm_mandate(
    *, clinic, razorpay_order_id: str, razorpay_payment_id: str, razorpay_signature: str
) -> SavedPaymentMethod:
    """The checkout's authorisation came back: trusted once the signature over the order id
    WE stored agrees and Razorpay's payment and token say so. Keeps last 4 digits or the VPA."""
    saved = SavedPaymentMethod.objects.filter(
        clinic=clinic, authorisation_order_id=razorpay_order_id
    ).first()
    if saved is None:
        raise AntidoteError("No such payment method authorisation for your clinic.")
    gateway = get_gateway()
    gateway.verify_payment_signature(
        order_id=saved.authorisation_order_id,
        payment_id=razorpay_payment_id,
        signature=razorpay_signature,
    )
    payment = gateway.fetch_payment(razorpay_payment_id)
    if payment.get("order_id") != saved.authorisation_order_id:
        raise AntidoteError("That payment is not this authorisation; nothing was saved.")
    token = gateway.fetch_token(
        customer_id=saved.razorpay_customer_id,
        token_id=_text(payment.get("token_id"), "authorisation payment"),
    )
    return _apply_token(saved, token)


def _apply_token(saved: SavedPaymentMethod, token: dict) -> SavedPaymentMethod:
    details = token.get("recurring_details") if isinstance(token, dict) else None
    state = details.get("status") if isinstance(details, dict) else None
    status = {
        "confirmed": SavedPaymentMethod.Status.CONFIRMED,
        "rejected": SavedPaymentMethod.Status.REJECTED,
        "cancelled": SavedPaymentMethod.Status.CANCELLED,
    }.get(state, SavedPaymentMethod.Status.PENDING)
    card = token.get("card") if isinstance(token.get("card"), dict) else {}
    vpa = token.get("vpa") if isinstance(token.get("vpa"), dict) else {}
    last4 = str(card.get("last4") or "")
    saved.razorpay_token_id = _text(token.get("id"), "fetch token")
    saved.card_last4 = last4 if len(last4) == 4 and last4.isascii() and last4.isdigit() else ""
    saved.vpa = f"{vpa['username']}@{vpa['handle']}"[:100] if vpa.get("username") else ""
    saved.status = status
    saved.save(update_fields=["razorpay_token_id", "card_last4", "vpa", "status", "updated_at"])
    log_event(logger, "auto_topup.method", clinic=saved.clinic_id, status=status)
    return saved


def apply_token_event(event: str, entities: dict) -> str:
    """``token.confirmed`` / ``token.rejected`` / ``token.cancelled`` / ``token.paused``: a UPI
    mandate is confirmed (or not) after the checkout, so the webhook settles its state."""
    token = services._entity(entities, "token")
    token_id = token.get("id")
    saved = (
        SavedPaymentMethod.objects.filter(razorpay_token_id=token_id).first()
        if isinstance(token_id, str) and token_id
        else None
    )
    if saved is None:
        return f"{event} for unknown token {token_id!r} ignored"
    if event == "token.paused":
        token = {**token, "recurring_details": {"status": "cancelled"}}
    saved = _apply_token(saved, token)
    return f"{event}: payment method of clinic #{saved.clinic_id} is {saved.status}"


def remove_payment_method(*, clinic) -> None:
    """Forget the saved method; the rule stays but cannot charge until a new one is saved."""
    SavedPaymentMethod.objects.filter(clinic=clinic).update(
        status=SavedPaymentMethod.Status.CANCELLED
    )


# The rule ----------------------------------------------------------------------------------


def save_rule(
    *,
    clinic,
    user,
    threshold_credits: int,
    package_id: int | None,
    amount_rupees: int | None,
    monthly_max_rupees: int,
    monthly_max_count: int,
    top_up_early: bool,
) -> AutoTopUpRule:
    """Create or change the rule (and switch it on). The arguments come parsed
    (``payments.forms.AutoTopUpRuleForm``); every refusal names what to change."""
    if threshold_credits is None or threshold_credits <= 0:
        raise AntidoteError("The threshold must be at least 1 credit.")
    if (package_id is None) == (amount_rupees is None):
        raise AntidoteError("Choose a package or enter an amount, not both.")
    package = None
    if package_id is not None:
        package = CreditPackage.objects.filter(pk=package_id, is_active=True).first()
        if package is None:
            raise AntidoteError("That credit package is no longer available; choose another.")
    else:
        services.quote_topup(clinic=clinic, amount=amount_rupees)  # the same limits as by hand
    if monthly_max_rupees is None or monthly_max_rupees <= 0:
        raise AntidoteError("The monthly maximum in rupees must be at least ₹1.")
    if monthly_max_count is None or not 0 < monthly_max_count <= 31:
        raise AntidoteError("The monthly number of top-ups must be between 1 and 31.")
    saved = SavedPaymentMethod.objects.filter(clinic=clinic).first()
    if saved is None or not saved.usable:
        raise AntidoteError("Save a card or UPI Autopay mandate first.")
    rule, _ = AutoTopUpRule.objects.update_or_create(
        clinic=clinic,
        defaults={
            "threshold_credits": threshold_credits,
            "package": package,
            "amount_rupees": amount_rupees,
            "monthly_max_paise": monthly_max_rupees * 100,
            "monthly_max_count": monthly_max_count,
            "top_up_early": top_up_early,
            "is_enabled": True,
            "disabled_reason": "",
            "declines_in_a_row": 0,
            "backoff_until": None,
            "updated_by": user,
        },
    )
    forget_watched()
    return rule


def switch_off(*, clinic, user, reason: str = "Switched off by the clinic.") -> AutoTopUpRule:
    with transaction.atomic():
        rule = AutoTopUpRule.objects.select_for_update().filter(clinic=clinic).first()
        if rule is None:
            raise AntidoteError("There is no automatic top-up to switch off.")
        rule.is_enabled, rule.disabled_reason, rule.updated_by = False, reason[:255], user
        rule.save(update_fields=["is_enabled", "disabled_reason", "updated_by", "updated_at"])
    forget_watched()
    return rule


# Reading the rule's state -----------------------------------------------------------------


def effective_threshold(rule: AutoTopUpRule, *, now=None) -> int:
    """The level that triggers a top-up: the threshold, plus with "top up early" the credits
    spent on leads in the last 2 days (a UPI debit can take a day to arrive)."""
    if not rule.top_up_early:
        return rule.threshold_credits
    since = (now or timezone.now()) - EARLY_WINDOW
    spent = (
        entries_between(clinic=rule.clinic_id, since=since)
        .filter(kind=Kind.LEAD_CHARGE)
        .aggregate(total=Sum("credits"))["total"]
    )
    return rule.threshold_credits - (spent or 0)


def month_start(now=None):
    """00:00 IST on the 1st of this month (``TIME_ZONE`` is Asia/Kolkata)."""
    local = timezone.localtime(now or timezone.now())
    return local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def month_usage(*, clinic_id: int, now=None) -> tuple[int, int]:
    """This IST month's automatic charges, in flight or credited: (paise, count)."""
    usage = AutoTopUp.objects.filter(
        clinic_id=clinic_id,
        created_at__gte=month_start(now),
        status__in=[Status.CHARGING, Status.SUCCEEDED],
    ).aggregate(paise=Sum("charged_paise"), count=Count("id"))
    return usage["paise"] or 0, usage["count"]


def _refusal(rule: AutoTopUpRule, *, now) -> str:
    """Why no top-up may start now, or "" if one may."""
    if not rule.is_enabled:
        return f"switched off: {rule.disabled_reason}"
    if rule.backoff_until and rule.backoff_until > now:
        return "backing off after a decline"
    saved = SavedPaymentMethod.objects.filter(clinic_id=rule.clinic_id).first()
    if saved is None or not saved.usable:
        return "no confirmed payment method"
    if not Lead.objects.filter(
        clinic_id=rule.clinic_id, created_at__gte=now - timedelta(days=IDLE_DAYS)
    ).exists():
        return f"no leads in the last {IDLE_DAYS} days"
    return ""


# The trigger -------------------------------------------------------------------------------


def consider(*, clinic_id: int, balance: int) -> AutoTopUp | None:
    """A balance went down: queue one automatic top-up if it is below the rule's level and
    every guard allows. Called after the posting committed; never raises into it."""
    rule = (
        AutoTopUpRule.objects.select_related("clinic")
        .filter(clinic_id=clinic_id, is_enabled=True)
        .first()
    )
    if rule is None:
        return None
    now = timezone.now()
    threshold = effective_threshold(rule, now=now)
    if balance >= threshold or _quote_or_refusal(rule, now=now)[1]:
        return None
    try:
        with transaction.atomic():
            job = AutoTopUp.objects.create(
                clinic_id=clinic_id,
                rule=rule,
                balance_at_trigger=balance,
                threshold_at_trigger=threshold,
            )
    except IntegrityError:
        return None  # one is already in flight: the database said so
    log_event(logger, "auto_topup.queued", clinic=clinic_id, job=job.pk, balance=balance)
    transaction.on_commit(partial(enqueue, job.pk), robust=True)
    return job


def enqueue(job_id: int) -> None:
    """Hand the job to the task queue; a broker that is down only delays it (the sweep)."""
    from payments.tasks import charge_auto_topup

    try:
        charge_auto_topup.delay(job_id)
    except Exception:
        logger.exception("Could not queue automatic top-up #%s; the sweep will", job_id)


# Charging ----------------------------------------------------------------------------------


def _finish(job: AutoTopUp, status: str, outcome: str) -> None:
    job.status, job.outcome, job.finished_at = status, outcome[:255], timezone.now()
    job.save(update_fields=["status", "outcome", "finished_at"])
    log_event(logger, "auto_topup.finished", job=job.pk, clinic=job.clinic_id, status=status)


def charge(*, job_id: int) -> AutoTopUp:
    """Run one queued automatic top-up: guards under the rule's lock, one order, one
    recurring payment with the saved token, then our fetch of the payment id we stored."""
    with transaction.atomic():
        job = AutoTopUp.objects.select_related("rule", "clinic").get(pk=job_id)
        rule = AutoTopUpRule.objects.select_for_update().get(pk=job.rule_id)
        job = AutoTopUp.objects.select_for_update().select_related("clinic").get(pk=job_id)
        if job.status != Status.QUEUED:
            return job
        quote, refusal = _quote_or_refusal(rule, now=timezone.now())
        if refusal:
            _finish(job, Status.REFUSED, refusal)
            return job
        # Charging from here: this job's amount counts against the month, under the lock.
        job.status, job.charged_paise = Status.CHARGING, quote.charged_paise
        job.save(update_fields=["status", "charged_paise"])
    saved = SavedPaymentMethod.objects.get(clinic_id=job.clinic_id)
    try:
        order = services.create_order(
            clinic=job.clinic, user=None, quote=quote, payment_capture=True
        )
    except AntidoteError as error:  # Razorpay unavailable, or no billing state
        _finish(job, Status.REFUSED, f"no order: {error.message}")
        return job
    job.order = order
    job.save(update_fields=["order"])
    try:
        answer = get_gateway().create_recurring_payment(
            amount_paise=order.charged_paise,
            order_id=order.razorpay_order_id,
            customer_id=saved.razorpay_customer_id,
            token_id=saved.razorpay_token_id,
            email=saved.email,
            contact=saved.contact,
            notes={"clinic_id": str(job.clinic_id), "order_id": str(order.pk), "auto_topup": "1"},
        )
    except PaymentUnavailable as error:
        # The charge may or may not have been made: the webhook or reconcile will tell.
        job.outcome = f"Razorpay did not answer; waiting for its word ({error.detail})"[:255]
        job.save(update_fields=["outcome"])
        return job
    payment_id = answer.get("razorpay_payment_id")
    if answer.get("razorpay_order_id") != order.razorpay_order_id or not isinstance(
        payment_id, str
    ):
        job.outcome = "Razorpay's answer named another order; waiting for its webhook"
        job.save(update_fields=["outcome"])
        return job
    job.razorpay_payment_id = payment_id[:60]
    job.save(update_fields=["razorpay_payment_id"])
    return confirm(job=job)


def _quote_or_refusal(rule: AutoTopUpRule, *, now) -> tuple[services.Quote | None, str]:
    """What the rule would buy now, or why it may not: the trigger asks before queueing a job,
    the task again under the rule's lock before charging."""
    refusal = _refusal(rule, now=now)
    if refusal:
        return None, refusal
    try:
        quote = services.quote_topup(
            clinic=rule.clinic, package_id=rule.package_id, amount=rule.amount_rupees
        )
    except AntidoteError as error:
        return None, error.message
    refusal = _limits_refusal(rule, quote.charged_paise, now=now)
    return (None, refusal) if refusal else (quote, "")


def _limits_refusal(rule: AutoTopUpRule, charged_paise: int, *, now) -> str:
    saved = SavedPaymentMethod.objects.get(clinic_id=rule.clinic_id)
    if charged_paise > saved.max_amount_paise:
        return (
            f"{format_paise(charged_paise)} is above the mandate's limit of "
            f"{format_paise(saved.max_amount_paise)}"
        )
    paise, count = month_usage(clinic_id=rule.clinic_id, now=now)
    if count + 1 > rule.monthly_max_count:
        return f"monthly maximum of {rule.monthly_max_count} top-ups reached"
    if paise + charged_paise > rule.monthly_max_paise:
        return (
            f"{format_paise(charged_paise)} would pass the monthly maximum of "
            f"{format_paise(rule.monthly_max_paise)} ({format_paise(paise)} used)"
        )
    return ""


def confirm(*, job: AutoTopUp) -> AutoTopUp:
    """Ask Razorpay (an authenticated fetch) about the payment id we stored: captured is
    settled, failed is a decline, anything else waits (a UPI debit can take a day)."""
    if job.status != Status.CHARGING or not job.razorpay_payment_id or job.order is None:
        return job
    order = job.order
    try:
        payment = get_gateway().fetch_payment(job.razorpay_payment_id)
        services._check_payment_matches(order, payment)
    except PaymentUnavailable:
        return job
    except AntidoteError as error:
        services._event(order, "mismatch", f"auto top-up fetch: {error.message}")
        return job
    services.record_attempt(order=order, payment=payment, source="auto top-up fetch")
    status = payment.get("status")
    if status == "captured":
        services.settle_paid_order(
            order=order, payment_id=job.razorpay_payment_id, source="auto top-up fetch"
        )
    elif status == "failed":
        declined(order=order, reason=str(payment.get("error_description") or "declined"))
    job.refresh_from_db()
    return job


def settled(*, order: PaymentOrder) -> None:
    """The order of an automatic top-up was credited (inside ``settle_paid_order``'s lock)."""
    job = AutoTopUp.objects.select_for_update().filter(order=order).first()
    if job is None or job.status == Status.SUCCEEDED:
        return
    _finish(job, Status.SUCCEEDED, f"{order.total_credits:,} credits added")
    AutoTopUpRule.objects.filter(pk=job.rule_id).update(declines_in_a_row=0, backoff_until=None)


def declined(*, order: PaymentOrder, reason: str) -> str:
    """A recurring payment failed: close the order, back off 24 hours and email the clinic;
    the third decline in a row switches the rule off, and the email says why."""
    with transaction.atomic():
        # The lock order of settling: the order, then the job, then the rule.
        order = PaymentOrder.objects.select_for_update().get(pk=order.pk)
        job = AutoTopUp.objects.select_for_update().filter(order=order).first()
        if job is None or job.status != Status.CHARGING:
            return f"order #{order.pk}: no automatic top-up in flight; decline recorded"
        if order.status == PaymentOrder.Status.PAID:
            return f"order #{order.pk} is already paid"
        rule = AutoTopUpRule.objects.select_for_update().get(pk=job.rule_id)
        services._close_unpaid(order, PaymentOrder.Status.FAILED, f"declined: {reason}")
        _finish(job, Status.DECLINED, f"declined: {reason}")
        rule.declines_in_a_row += 1
        rule.backoff_until = timezone.now() + BACKOFF
        fields = ["declines_in_a_row", "backoff_until", "updated_at"]
        clinic = job.clinic
        if rule.declines_in_a_row >= DECLINES_BEFORE_OFF:
            rule.is_enabled = False
            rule.disabled_reason = (
                f"Switched off after {rule.declines_in_a_row} declines in a row (last: {reason})."
            )[:255]
            fields += ["is_enabled", "disabled_reason"]
            subject = "Automatic top-up switched off"
            text = (
                f"Your automatic top-up of {format_paise(order.charged_paise)} was declined "
                f"({reason}), the {rule.declines_in_a_row}rd time in a row, so we switched "
                "automatic top-up off. Check your card or UPI mandate, then switch it on again: "
                f"{settings.SITE_URL}/clinic/auto-top-up"
            )
        else:
            subject = "Automatic top-up declined"
            text = (
                f"Your automatic top-up of {format_paise(order.charged_paise)} was declined "
                f"({reason}). We will not try again for 24 hours; top up by hand meanwhile if "
                f"your leads must not wait: {settings.SITE_URL}/clinic/credits/topup"
            )
        rule.save(update_fields=fields)
        notifications.emit(
            type=EventType.AUTO_TOPUP_FAILED,
            clinic_id=clinic.pk,
            data={
                "order": order.pk,
                "reason": reason[:200],
                "declines_in_a_row": rule.declines_in_a_row,
                "switched_off": not rule.is_enabled,
            },
            subject=subject,
            text=text,
            contact_email=clinic.contact_email,
        )
    return f"automatic top-up #{job.pk} declined ({rule.declines_in_a_row} in a row)"


def expired(*, order: PaymentOrder, reason: str) -> None:
    """An automatic top-up's order expired without a payment we heard of: the job ends, and
    money that still arrives is credited all the same (``settle_paid_order``)."""
    job = AutoTopUp.objects.select_for_update().filter(order=order).first()
    if job is not None and job.status == Status.CHARGING:
        _finish(job, Status.DECLINED, f"no payment arrived: {reason}")


def sweep(*, older_than: timedelta = timedelta(seconds=60)) -> int:
    """Queue again a job whose task was lost, and ask Razorpay about charges still waiting."""
    now = timezone.now()
    queued = list(
        AutoTopUp.objects.filter(status=Status.QUEUED, created_at__lte=now - older_than)
        .order_by("pk")
        .values_list("pk", flat=True)[:500]
    )
    for job_id in queued:
        enqueue(job_id)
    waiting = AutoTopUp.objects.filter(status=Status.CHARGING).exclude(razorpay_payment_id="")
    for job in waiting.select_related("order").order_by("pk")[:500]:
        confirm(job=job)
    # A crossing that a process with a stale ``watched_clinics`` let pass.
    balances = CreditAccount.objects.filter(clinic_id=OuterRef("clinic_id")).values("balance")
    rules = AutoTopUpRule.objects.filter(is_enabled=True).annotate(balance=Subquery(balances))
    for clinic_id, balance in rules.order_by("pk").values_list("clinic_id", "balance")[:500]:
        if balance is not None and consider(clinic_id=clinic_id, balance=balance):
            queued.append(clinic_id)
    return len(queued)
