"""The posting service: the only code that writes ledger entries or account balances.

Every operation goes through ``post_entry``, which in one transaction locks the account row,
refuses a debit that would pass the floor, inserts the entry with its ``balance_after`` and
moves the balance. On PostgreSQL that is a single statement, so outside a caller's transaction
a lead charge is one round trip: no BEGIN/COMMIT, no extra reads, no SUM. Refusals and
replays are worked out afterwards, on the cold path.
"""

import logging
import uuid
from dataclasses import dataclass

import psycopg
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from django.db.models import F
from django.utils import timezone

from antidote.errors import AntidoteError, InsufficientCredits
from antidote.logs import log_event
from antidote.money import format_number, format_signed
from billing.models import (
    CREDIT_KINDS,
    DEBIT_KINDS,
    CreditAccount,
    CreditTransaction,
    Kind,
    PricingTier,
    ReconciliationRun,
)
from billing.signals import credits_added, overdraft_raised
from notifications import services as notifications
from notifications.models import EventType

logger = logging.getLogger(__name__)

# No single entry moves more than this; anything larger is a typo or an attack.
MAX_ENTRY_CREDITS = 10_000_000
GRANT_KINDS = frozenset({Kind.PURCHASE, Kind.BONUS, Kind.PROMO_BONUS})
_KINDS = {kind.value: kind for kind in Kind}

_ACCOUNT = CreditAccount._meta.db_table
_LEDGER = CreditTransaction._meta.db_table
_CLINIC = CreditAccount._meta.get_field("clinic").related_model._meta.db_table

# Read the account (locked on PostgreSQL) with the balance this entry would leave.
_ACCOUNT_AFTER = f"""
    SELECT a.id, a.balance + %(credits)s AS balance_after, a.overdraft_limit,
           a.low_balance_threshold, a.low_balance_alerted_at IS NULL AS alert_armed
    FROM {_ACCOUNT} a JOIN {_CLINIC} c ON c.id = a.clinic_id
    WHERE a.clinic_id = %(clinic_id)s AND (c.is_active OR CAST(%(real_money)s AS boolean))"""
_COLUMNS = "account_id, kind, credits, balance_after, lead_id, actor_id, memo, idempotency_key"
_VALUES = (
    "%(kind)s, %(credits)s, %(balance_after)s, %(lead_id)s, %(actor_id)s, %(memo)s, %(key)s, "
    "%(now)s"
)
_SET_BALANCE = (
    "UPDATE {account} SET balance = {after}, in_debt = {after} < -overdraft_limit, "
    "updated_at = %(now)s"
)
# One statement, so in autocommit it is one round trip with no BEGIN/COMMIT: lock the row,
# insert the entry if affordable (ON CONFLICT without a target covers both the idempotency
# key and one-charge-per-lead), and move the balance only if the entry went in.
_POST_POSTGRES = f"""
    WITH acc AS ({_ACCOUNT_AFTER} FOR UPDATE OF a),
    ins AS (
        INSERT INTO {_LEDGER} ({_COLUMNS}, created_at)
        SELECT acc.id, %(kind)s::varchar, %(credits)s::bigint, acc.balance_after,
               %(lead_id)s::bigint, %(actor_id)s::integer, %(memo)s::varchar, %(key)s::varchar,
               %(now)s::timestamptz
        FROM acc
        WHERE %(credits)s > 0 OR CAST(%(may_pass_floor)s AS boolean)
            OR acc.balance_after >= -acc.overdraft_limit
        ON CONFLICT DO NOTHING RETURNING id, account_id, balance_after
    ),
    upd AS (
        {_SET_BALANCE.format(account=f"{_ACCOUNT} a", after="ins.balance_after")}
        FROM ins WHERE a.id = ins.account_id RETURNING a.id
    )
    SELECT ins.id, ins.account_id, ins.balance_after, acc.low_balance_threshold, acc.alert_armed
    FROM ins JOIN upd ON upd.id = ins.account_id JOIN acc ON acc.id = ins.account_id"""
# SQLite has no row locks (it serialises writers) and no data-modifying CTEs: three steps.
_INSERT_SQLITE = f"""
    INSERT INTO {_LEDGER} ({_COLUMNS}, created_at)
    VALUES (%(account_id)s, {_VALUES})
    ON CONFLICT DO NOTHING RETURNING id"""
_SET_BALANCE_SQLITE = (
    _SET_BALANCE.format(account=_ACCOUNT, after="%(balance_after)s") + " WHERE id = %(account_id)s"
)


class _PreparingCursor(psycopg.Cursor):
    def execute(self, query, params=None, **kwargs):
        return super().execute(query, params, prepare=True, **kwargs)


@dataclass(frozen=True)
class LeadPrice:
    tier_min_price_paise: int
    credits: int


def quote_lead_price(*, package_price_paise: int | None) -> LeadPrice:
    """The tier a package price falls in; no package costs the lowest tier."""
    if package_price_paise is not None and (
        isinstance(package_price_paise, bool)
        or not isinstance(package_price_paise, int)
        or package_price_paise < 0
    ):
        raise AntidoteError(f"A package price must be whole paise, got {package_price_paise!r}.")
    tiers = PricingTier.objects.order_by("min_price_paise")
    if package_price_paise is None:
        tier = tiers.first()
    else:
        tier = tiers.filter(min_price_paise__lte=package_price_paise).last()
    if tier is None:
        raise AntidoteError("No pricing tier covers this price; staff must add one from ₹0.")
    return LeadPrice(tier_min_price_paise=tier.min_price_paise, credits=tier.credits)


def lead_cost(package_price_paise: int | None) -> int:
    """Credits a lead costs for a package priced ``package_price_paise``."""
    return quote_lead_price(package_price_paise=package_price_paise).credits


def open_account(*, clinic) -> CreditAccount:
    account, _ = CreditAccount.objects.get_or_create(clinic=clinic)
    return account


def _check_credits(credits) -> None:
    if isinstance(credits, bool) or not isinstance(credits, int):
        raise AntidoteError(f"Credits must be a whole number, got {credits!r}.")
    if credits == 0:
        raise AntidoteError("An entry of zero credits changes nothing; refused.")
    if abs(credits) > MAX_ENTRY_CREDITS:
        raise AntidoteError(
            f"{format_number(credits)} credits is more than one entry may move "
            f"({format_number(MAX_ENTRY_CREDITS)})."
        )


def post_entry(
    *,
    clinic_id: int,
    kind: str,
    credits: int,
    idempotency_key: str,
    lead_id: int | None = None,
    actor_id: int | None = None,
    memo: str = "",
    real_money: bool = False,
) -> CreditTransaction:
    """Post one ledger entry exactly once per ``idempotency_key``.

    An inactive clinic gets nothing posted, except entries for money that really moved
    (``real_money``: a payment received, or a refund or chargeback reversed), which are always
    recorded. A ``reversal`` is the one kind that may take the balance below the floor: the
    part below is debt, and the account is flagged ``in_debt`` until it is paid off.

    A repeat with the same key and the same entry returns the original; the same key for a
    different entry is refused. A debit that would take the balance below
    ``-overdraft_limit`` raises ``InsufficientCredits`` and writes nothing.
    """
    if kind not in _KINDS:
        raise AntidoteError(f"Unknown ledger entry kind {kind!r}.")
    kind = _KINDS[kind]
    _check_credits(credits)
    if (kind in CREDIT_KINDS and credits < 0) or (kind in DEBIT_KINDS and credits > 0):
        raise AntidoteError(f"A {kind.label.lower()} cannot be {format_signed(credits)} credits.")
    if not idempotency_key or len(idempotency_key) > 120:
        raise AntidoteError("Every entry needs an idempotency key of at most 120 characters.")
    if len(memo) > 255:
        raise AntidoteError("A memo is at most 255 characters.")

    db = connections[DEFAULT_DB_ALIAS]  # resolved once: the proxy costs per attribute
    now = timezone.now()
    params = {
        "clinic_id": clinic_id,
        "kind": kind.value,
        "credits": credits,
        "lead_id": lead_id,
        "actor_id": actor_id,
        "memo": memo,
        "key": idempotency_key,
        "now": db.ops.adapt_datetimefield_value(now),
        "real_money": real_money and kind in {*CREDIT_KINDS, Kind.REVERSAL},
        "may_pass_floor": kind == Kind.REVERSAL,
    }
    # Nothing is raised inside the posting unless the database itself fails, so a caller's
    # own transaction survives a refusal (e.g. leads holds a lead it cannot charge).
    if db.vendor == "postgresql":
        with _prepared_cursor(db) as cursor:
            cursor.execute(_POST_POSTGRES, params)
            row = cursor.fetchone() or (None, None, None, None, None)
    else:
        row = _post_sqlite(params)
    entry_id, account_id, balance, alert_threshold, alert_armed = row

    if entry_id is None:
        return _replay_or_refuse(params=params, kind=kind)
    log_event(
        logger,
        "ledger.posted",
        entry=entry_id,
        clinic=clinic_id,
        kind=kind.value,
        credits=credits,
        balance_after=balance,
        key=idempotency_key,
        lead=lead_id,
    )

    entry = CreditTransaction(
        id=entry_id,
        account_id=account_id,
        kind=kind.value,
        credits=credits,
        balance_after=balance,
        lead_id=lead_id,
        actor_id=actor_id,
        memo=memo,
        idempotency_key=idempotency_key,
        created_at=now,
    )
    entry._state.adding = False
    entry._state.db = db.alias
    # Only a crossing costs a query: the statement returned the level and whether it is armed.
    if (credits < 0 and alert_armed and balance < alert_threshold) or (
        credits > 0 and not alert_armed and balance >= alert_threshold
    ):
        _low_balance_at_posting(account_id=account_id, debit=credits < 0)
    if credits > 0:
        transaction.on_commit(
            lambda: credits_added.send(sender=CreditTransaction, clinic_id=clinic_id, entry=entry),
            robust=True,
        )
    return entry


def _prepared_cursor(db):
    """A Django-wrapped cursor whose statements PostgreSQL prepares once per connection.

    Django binds parameters client-side, so PostgreSQL would plan the posting statement on
    every call (about 0.7 ms of its 1.1 ms here). A server-binding cursor with
    ``prepare=True`` plans it once per connection. Only the posting uses it; the wrapper keeps
    Django's query logging and counting.
    """
    connection.ensure_connection()
    raw = _PreparingCursor(connection.connection)
    return (
        connection.make_debug_cursor(raw)
        if connection.queries_logged
        else connection.make_cursor(raw)
    )


def _post_sqlite(params: dict) -> tuple:
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        cursor.execute(_ACCOUNT_AFTER, params)
        row = cursor.fetchone()
        if row is None:
            return None, None, None, None, None
        account_id, balance, overdraft_limit, threshold, armed = row
        if params["credits"] < 0 and balance < -overdraft_limit and not params["may_pass_floor"]:
            return None, None, None, None, None
        cursor.execute(
            _INSERT_SQLITE, {**params, "account_id": account_id, "balance_after": balance}
        )
        inserted = cursor.fetchone()
        if inserted is None:
            return None, None, None, None, None
        cursor.execute(
            _SET_BALANCE_SQLITE, {**params, "account_id": account_id, "balance_after": balance}
        )
        return inserted[0], account_id, balance, threshold, armed


def _replay_or_refuse(*, params: dict, kind: Kind) -> CreditTransaction:
    """Why did nothing post? A replay returns the original; anything else is refused."""
    existing = (
        CreditTransaction.objects.select_related("account")
        .filter(idempotency_key=params["key"])
        .first()
    )
    if existing is not None:
        same = (
            existing.account.clinic_id == params["clinic_id"]
            and existing.kind == kind.value
            and existing.credits == params["credits"]
            and existing.lead_id == params["lead_id"]
        )
        if not same:
            raise AntidoteError(
                f"Idempotency key {params['key']!r} was already used for a different entry "
                f"({existing.kind} {format_signed(existing.credits)} credits); nothing was posted.",
                code="idempotency_conflict",
            )
        return existing
    account = (
        CreditAccount.objects.select_related("clinic").filter(clinic_id=params["clinic_id"]).first()
    )
    if account is None:
        raise AntidoteError(f"Clinic #{params['clinic_id']} has no credit account.")
    if not account.clinic.is_active:
        raise AntidoteError(f"{account.clinic} is inactive; no credits can be posted to it.")
    already_charged = (
        kind == Kind.LEAD_CHARGE
        and params["lead_id"] is not None
        and CreditTransaction.objects.filter(lead_id=params["lead_id"], kind=kind).exists()
    )
    if already_charged:
        raise AntidoteError(f"Lead #{params['lead_id']} has already been charged.")
    if params["credits"] < 0:
        raise InsufficientCredits(
            f"{account.clinic} has {format_number(account.balance)} credits; "
            f"{format_number(-params['credits'])} more would "
            f"take it below its floor of {format_number(account.floor)}. Top up to continue."
        )
    raise AntidoteError("The entry could not be posted.")  # pragma: no cover - constraint drift


def charge_lead(*, lead, actor=None) -> CreditTransaction:
    """Charge a lead's snapshotted price, once. Raises ``InsufficientCredits`` if unaffordable.

    A lead flagged as a technical error at the source is never charged (checked on the lead
    passed in, which the caller has locked).
    """
    if getattr(lead, "technical_error", False):
        raise AntidoteError(
            f"Lead #{lead.pk} is flagged as a technical error at the source; it is never charged."
        )
    return post_entry(
        clinic_id=lead.clinic_id,
        kind=Kind.LEAD_CHARGE,
        credits=-lead.price_credits,
        idempotency_key=f"charge:lead:{lead.pk}",
        lead_id=lead.pk,
        actor_id=getattr(actor, "pk", None),
        memo=f"Lead #{lead.pk}",
    )


def grant_credits(
    *,
    clinic,
    credits: int,
    idempotency_key: str,
    kind: str = Kind.PURCHASE,
    actor=None,
    memo="",
    paid: bool = False,
) -> CreditTransaction:
    """Add purchased or bonus credits; the caller derives the key (``purchase:order:42``).

    ``paid`` says the credits settle money Razorpay already captured: they are posted even to
    a clinic deactivated since it started paying (staff grants to it are still refused).
    """
    if kind not in GRANT_KINDS:
        raise AntidoteError(f"{kind!r} is not a kind of grant.")
    _check_credits(credits)
    if credits < 0:
        raise AntidoteError("A grant adds credits; use an adjustment to remove them.")
    return post_entry(
        clinic_id=clinic.pk,
        kind=kind,
        credits=credits,
        idempotency_key=idempotency_key,
        actor_id=getattr(actor, "pk", None),
        memo=memo,
        real_money=paid,
    )


def reverse_credits(
    *, clinic, credits: int, idempotency_key: str, memo: str = ""
) -> CreditTransaction:
    """Take back credits for money that left: a refund or chargeback made at Razorpay.

    Never refused for the floor or the clinic's state, because money that really left is
    always recorded; what the clinic had already spent becomes debt (see ``post_entry``).
    The caller derives the key from Razorpay's refund or dispute id.
    """
    _check_credits(credits)
    if credits <= 0:
        raise AntidoteError("A reversal takes back a positive number of credits.")
    return post_entry(
        clinic_id=clinic.pk,
        kind=Kind.REVERSAL,
        credits=-credits,
        idempotency_key=idempotency_key,
        memo=memo,
        real_money=True,
    )


def refund_lead_charge(
    *, lead, idempotency_key: str, credits: int | None = None, actor=None, memo=""
) -> CreditTransaction:
    """Give back all or part of what a lead was charged; never more than was charged in all.

    The caller derives the key from its reason (``refund:dispute:7``).
    """
    if credits is not None:
        _check_credits(credits)
        if credits < 0:
            raise AntidoteError("A refund amount must be positive.")
    with transaction.atomic():
        # Lock first, so two refunds of one lead cannot both pass the cap check.
        CreditAccount.objects.select_for_update().filter(clinic_id=lead.clinic_id).first()
        charge = CreditTransaction.objects.filter(lead=lead, kind=Kind.LEAD_CHARGE).first()
        if charge is None:
            raise AntidoteError(
                f"Lead #{lead.pk} was never charged, so there is nothing to refund."
            )
        existing = CreditTransaction.objects.filter(idempotency_key=idempotency_key).first()
        refunded = sum(
            CreditTransaction.objects.filter(lead=lead, kind=Kind.DISPUTE_REFUND)
            .exclude(pk=getattr(existing, "pk", None))
            .values_list("credits", flat=True)
        )
        refundable = -charge.credits - refunded
        amount = refundable if credits is None else credits
        if amount <= 0 or amount > refundable:
            raise AntidoteError(
                f"Lead #{lead.pk} was charged {format_number(-charge.credits)} credits and "
                f"{format_number(refunded)} are "
                f"already refunded; at most {format_number(max(refundable, 0))} can be refunded."
            )
        return post_entry(
            clinic_id=lead.clinic_id,
            kind=Kind.DISPUTE_REFUND,
            credits=amount,
            idempotency_key=idempotency_key,
            lead_id=lead.pk,
            actor_id=getattr(actor, "pk", None),
            memo=memo or f"Refund for lead #{lead.pk}",
        )


def adjust_credits(
    *, clinic, credits: int, actor, reason: str, idempotency_key: str | None = None
) -> CreditTransaction:
    """A staff correction, up or down, with the reason on record."""
    if actor is None or not getattr(actor, "is_staff", False):
        raise AntidoteError("Only a staff member can adjust credits.")
    reason = (reason or "").strip()
    if not reason:
        raise AntidoteError("Give a reason for the adjustment; it is kept on the ledger.")
    return post_entry(
        clinic_id=clinic.pk,
        kind=Kind.ADMIN_ADJUSTMENT,
        credits=credits,
        idempotency_key=idempotency_key or f"adjust:{uuid.uuid4()}",
        actor_id=actor.pk,
        memo=reason,
    )


def record_reconciliation(*, name: str, ok: bool, summary: str) -> ReconciliationRun:
    return ReconciliationRun.objects.create(name=name, ok=ok, summary=summary[:255])


def claim_low_balance_alert(*, account: CreditAccount):
    """Claim this crossing's alert before sending it: the claim time, or None if it is not ours.

    One conditional UPDATE, committed on its own: of two runs at once, PostgreSQL lets exactly
    one of them set ``low_balance_alerted_at`` (the other re-reads the row after the first
    commits and matches nothing), so a crossing is emailed once. None also when the account is
    no longer below its level. A run that dies between the claim and the send loses that one
    alert rather than sending it twice; a send that fails is given back with
    ``release_low_balance_alert``.
    """
    claimed_at = timezone.now()
    claimed = CreditAccount.objects.filter(
        pk=account.pk,
        low_balance_alerted_at__isnull=True,
        balance__lt=F("low_balance_threshold"),
    ).update(low_balance_alerted_at=claimed_at)
    return claimed_at if claimed else None


def release_low_balance_alert(*, account: CreditAccount, claimed_at) -> None:
    """Give back a claim whose email could not be sent, so the next run tries it again.

    Only our own claim: if the account was re-armed and claimed by another run meanwhile,
    that claim stands.
    """
    CreditAccount.objects.filter(pk=account.pk, low_balance_alerted_at=claimed_at).update(
        low_balance_alerted_at=None
    )


def _low_balance_at_posting(*, account_id: int, debit: bool) -> None:
    """The debit that takes a balance below its alert level raises the alert, once per
    crossing (the conditional claim, under the account lock the posting holds); a credit that
    lifts it back to the level re-arms it. The hourly command is only a safety sweep."""
    with transaction.atomic():
        if not debit:
            CreditAccount.objects.filter(
                pk=account_id,
                low_balance_alerted_at__isnull=False,
                balance__gte=F("low_balance_threshold"),
            ).update(low_balance_alerted_at=None)
        elif claim_low_balance_alert(account=CreditAccount(pk=account_id)) is not None:
            emit_low_balance_alert(
                account=CreditAccount.objects.select_related("clinic").get(pk=account_id)
            )


def emit_low_balance_alert(*, account: CreditAccount) -> None:
    """The ``balance.low`` event, through the outbox, in the caller's transaction."""
    clinic = account.clinic
    notifications.emit(
        type=EventType.BALANCE_LOW,
        clinic_id=clinic.pk,
        data={"balance": account.balance, "threshold": account.low_balance_threshold},
        subject=f"{clinic.name}: {account.balance:,} credits left",
        text=(
            f"Your Antidote balance is {account.balance:,} credits, below your alert level of "
            f"{account.low_balance_threshold:,}. New leads are held when credits run out.\n\n"
            f"Top up: {settings.SITE_URL}/clinic/credits/topup"
        ),
        contact_email=clinic.contact_email,
    )


def rearm_low_balance_alerts() -> int:
    """Accounts back above their alert level get a fresh alert the next time they cross it."""
    return CreditAccount.objects.filter(
        low_balance_alerted_at__isnull=False, balance__gte=F("low_balance_threshold")
    ).update(low_balance_alerted_at=None)


def update_account_settings(
    *,
    account: CreditAccount,
    actor=None,
    overdraft_limit: int | None = None,
    low_balance_threshold: int | None = None,
    reason: str = "",
) -> CreditAccount:
    """Change an account's overdraft limit and alert level; never its balance.

    ``reason`` is kept on the change's history row (the admin requires one).

    The row is locked and only the settings' columns are written, so a charge posted while
    staff had the form open is neither overwritten nor lets the limit pass the balance.
    Returns the account as saved; ``account`` is refreshed to match.
    """
    wanted = {
        name: value
        for name, value in [
            ("overdraft_limit", overdraft_limit),
            ("low_balance_threshold", low_balance_threshold),
        ]
        if value is not None
    }
    for name, value in wanted.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise AntidoteError(f"The {name.replace('_', ' ')} must be a whole number ≥ 0.")
    with transaction.atomic():
        locked = CreditAccount.objects.select_for_update().get(pk=account.pk)
        limit = wanted.get("overdraft_limit", locked.overdraft_limit)
        # A clinic in debt is already below its floor (a reversal put it there): any limit is
        # accepted, and one that covers the debt ends it. Otherwise a limit may not pass the
        # balance, or a charge would have been allowed that the new floor refuses.
        if locked.balance < -limit and not locked.in_debt:
            raise AntidoteError(
                f"The balance is {format_number(locked.balance)} credits; the overdraft limit "
                "cannot be "
                f"below {format_number(-locked.balance)} until the clinic tops up."
            )
        changed = [name for name, value in wanted.items() if getattr(locked, name) != value]
        if "overdraft_limit" in changed and wanted["overdraft_limit"] > locked.overdraft_limit:
            clinic_id = locked.clinic_id
            transaction.on_commit(
                lambda: overdraft_raised.send(sender=CreditAccount, clinic_id=clinic_id),
                robust=True,
            )
        if changed:
            for name in changed:
                setattr(locked, name, wanted[name])
            if locked.in_debt != (locked.balance < -locked.overdraft_limit):
                locked.in_debt = not locked.in_debt
                changed.append("in_debt")
            if actor is not None:
                locked._history_user = actor  # the change history names who did it
            locked._change_reason = reason[:100]
            locked.save(update_fields=[*changed, "updated_at"])
    for name in ("balance", "in_debt", "overdraft_limit", "low_balance_threshold", "updated_at"):
        setattr(account, name, getattr(locked, name))
    return locked
