"""The posting service: the only code that writes ledger entries or account balances.

Every operation goes through ``post_entry``, which in one transaction locks the account row,
refuses a debit that would pass the floor, inserts the entry with its ``balance_after`` and
moves the balance. On PostgreSQL that is a single statement, so outside a caller's transaction
a lead charge is one round trip: no BEGIN/COMMIT, no extra reads, no SUM. Refusals and
replays are worked out afterwards, on the cold path.
"""

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import psycopg
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from django.db.models import F
from django.utils import timezone

from antidote.errors import AntidoteError, InsufficientCredits, OverBudget
from antidote.logs import log_event
from antidote.money import format_number, format_signed
from billing.models import (
    CREDIT_KINDS,
    DEBIT_KINDS,
    IST,
    MAX_VALIDITY_DAYS,
    CreditAccount,
    CreditLot,
    CreditTransaction,
    Kind,
    LotAllocation,
    LotExpiryChange,
    PricingTier,
    ReconciliationRun,
    ist_midnight,
    ist_periods,
)
from billing.signals import balance_lowered, budget_raised, credits_added, overdraft_raised
from notifications import services as notifications
from notifications.models import EventType

logger = logging.getLogger(__name__)

# No single entry moves more than this; anything larger is a typo or an attack.
MAX_ENTRY_CREDITS = 10_000_000
GRANT_KINDS = frozenset({Kind.PURCHASE, Kind.BONUS, Kind.PROMO_BONUS})
# Consumption order of a debit: soonest expiry; at equal expiry "bonus" < "paid"; the oldest.
LOT_ORDER = ("expires_at", "kind", "id")
PAID, BONUS = CreditLot.LotKind.PAID, CreditLot.LotKind.BONUS
_KINDS = {kind.value: kind for kind in Kind}

_ACCOUNT = CreditAccount._meta.db_table
_LEDGER = CreditTransaction._meta.db_table
_CLINIC = CreditAccount._meta.get_field("clinic").related_model._meta.db_table

# Read the account (locked on PostgreSQL) with the balance this entry would leave, and its
# budget: the caps, whether it is paused now, and the spend of the current IST week and month.
_ACCOUNT_AFTER = f"""
    SELECT a.id, a.balance + %(credits)s AS balance_after, a.overdraft_limit,
           a.low_balance_threshold, a.low_balance_alerted_at IS NULL AS alert_armed,
           a.weekly_cap, a.monthly_cap,
           a.paused AND (a.pause_ends_at IS NULL OR a.pause_ends_at > %(now)s),
           CASE WHEN a.week_start = %(week)s THEN a.week_spent ELSE 0 END,
           CASE WHEN a.month_start = %(month)s THEN a.month_spent ELSE 0 END
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
# One statement, so in autocommit it is one round trip with no BEGIN/COMMIT. The function
# (migration 0007) locks the account, refuses what the floor would not allow, inserts the
# entry (ON CONFLICT DO NOTHING covers the key and one-charge-per-lead), draws from the
# lots and moves the balance, returning the alert level and whether the low-balance alert is
# armed (so a crossing is seen without another read); it returns retry = true, having
# written nothing, when a lot with credits left is past its expiry, so that ``_post_locked``
# posts the expiry first.
_CHARGE_POSTGRES = """
    SELECT entry_id, account_id, balance_after, retry, alert_threshold, alert_armed
    FROM billing_charge(
        %(clinic_id)s::bigint, %(credits)s::bigint, %(lead_id)s::bigint, %(actor_id)s::integer,
        %(memo)s::varchar, %(key)s::varchar, %(now)s::timestamptz)"""
_INSERT_ENTRY = f"""
    INSERT INTO {_LEDGER} ({_COLUMNS}, created_at)
    VALUES (%(account_id)s, {_VALUES})
    ON CONFLICT DO NOTHING RETURNING id"""
_SET_BALANCE_ONE = (
    _SET_BALANCE.format(account=_ACCOUNT, after="%(balance_after)s") + " WHERE id = %(account_id)s"
)
# A lead charge also moves the budget's spend counters, in the same UPDATE.
_SET_BALANCE_CHARGE = (
    _SET_BALANCE.format(account=_ACCOUNT, after="%(balance_after)s")
    + ", week_start = %(week)s, week_spent = %(week_spent)s, month_start = %(month)s,"
    " month_spent = %(month_spent)s WHERE id = %(account_id)s"
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


@dataclass(frozen=True)
class LotTerms:
    """What a credit entry's new lot is: its kind, expiry and (paid) value."""

    kind: str
    expires_at: datetime
    value_paise: int = 0
    memo: str = ""
    restored_from_id: int | None = None  # a paid lot these credits go back to, in effect
    # One piece of an entry's credits, when they go into several lots (a transfer): how many,
    # and the paid credits ``value_paise`` bought (the lot they came from keeps its fraction).
    credits: int | None = None
    value_credits: int | None = None


@dataclass
class _Posting:
    entry_id: int
    account_id: int
    balance_before: int
    balance_after: int
    alert_threshold: int
    alert_armed: bool
    allocations: list = field(default_factory=list)  # LotAllocation rows to insert


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
    lot: LotTerms | list[LotTerms] | None = None,
    draw_first_from_key: str | None = None,
    at: datetime | None = None,
) -> CreditTransaction:
    """Post one ledger entry exactly once per ``idempotency_key``.

    An inactive clinic gets nothing posted, except entries for money that really moved
    (``real_money``: a payment received, or a refund or chargeback reversed), which are always
    recorded. A ``reversal`` is the one kind that may take the balance below the floor: the
    part below is debt, and the account is flagged ``in_debt`` until it is paid off.

    A credit creates the lot ``lot`` describes, or one lot per piece if it is a list (a refund
    instead restores the lots its charge drew from); a debit draws from the lots, first from
    the lot created by the entry keyed ``draw_first_from_key`` if given (a reversal's own
    order). ``at`` is the entry's time when two entries must share one (a transfer's halves
    fall in the same month).

    A repeat with the same key and the same entry returns the original; the same key for a
    different entry is refused. A debit that would take the balance below
    ``-overdraft_limit`` (for a transfer out, below zero: only credits held can move) raises
    ``InsufficientCredits`` and writes nothing (but lots found
    expired meanwhile are expired, which stands). A lead charge while the clinic is paused, or
    one that would take the gross lead charges of the current IST week or month past its cap,
    raises ``OverBudget`` and writes nothing.
    """
    if kind not in _KINDS:
        raise AntidoteError(f"Unknown ledger entry kind {kind!r}.")
    kind = _KINDS[kind]
    if kind == Kind.EXPIRY:
        raise AntidoteError("Expiries are posted by expire_credits, from their lot.")
    _check_credits(credits)
    if (kind in CREDIT_KINDS and credits < 0) or (kind in DEBIT_KINDS and credits > 0):
        raise AntidoteError(f"A {kind.label.lower()} cannot be {format_signed(credits)} credits.")
    if not idempotency_key or len(idempotency_key) > 120:
        raise AntidoteError("Every entry needs an idempotency key of at most 120 characters.")
    if len(memo) > 255:
        raise AntidoteError("A memo is at most 255 characters.")
    pieces = lot if isinstance(lot, list) else [lot] if lot else []
    if any(piece.credits is not None for piece in pieces) and (
        sum(piece.credits or 0 for piece in pieces) != credits
    ):
        raise AntidoteError("The lots of a credit must add up to its credits.")
    if credits > 0 and kind != Kind.DISPUTE_REFUND and lot is None:
        lot_kind = PAID if kind == Kind.PURCHASE else BONUS
        lot = LotTerms(
            kind=lot_kind,
            expires_at=lot_expiry(kind=lot_kind),
            value_paise=credits * 100 if lot_kind == PAID else 0,
            memo=memo,
        )

    db = connections[DEFAULT_DB_ALIAS]  # resolved once: the proxy costs per attribute
    now = at or timezone.now()
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
    entry_id = retry = alert_threshold = alert_armed = None
    if db.vendor == "postgresql" and kind == Kind.LEAD_CHARGE:
        with _prepared_cursor(db) as cursor:
            cursor.execute(_CHARGE_POSTGRES, params)
            row = cursor.fetchone()
        if row is not None:
            entry_id, account_id, balance, retry, alert_threshold, alert_armed = row
    if entry_id is None and (retry or kind != Kind.LEAD_CHARGE or db.vendor != "postgresql"):
        posted = _post_locked(
            params, kind=kind, now=now, lot=lot, draw_first_from_key=draw_first_from_key
        )
        if posted is not None:
            entry_id, account_id, balance = (
                posted.entry_id,
                posted.account_id,
                posted.balance_after,
            )
            alert_threshold, alert_armed = posted.alert_threshold, posted.alert_armed

    if entry_id is None:
        return _replay_or_refuse(params=params, kind=kind, now=now)
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
    elif balance_lowered.receivers and kind != Kind.TRANSFER_OUT:
        # Not for a move to a sibling location: topping the source up by card would undo a
        # deliberate move with real money. Its next lead charge is seen as usual.
        transaction.on_commit(
            lambda: balance_lowered.send(
                sender=CreditTransaction, clinic_id=clinic_id, balance=balance, credits=credits
            ),
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


def _post_locked(
    params: dict, *, kind: Kind, now, lot: LotTerms | None, draw_first_from_key: str | None
) -> _Posting | None:
    """The general posting, step by step under the account's row lock; None if refused."""
    pg = connection.vendor == "postgresql"
    week, month = (connection.ops.adapt_datefield_value(day) for day in ist_periods(now))
    params = {**params, "week": week, "month": month}
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        cursor.execute(_ACCOUNT_AFTER + (" FOR UPDATE OF a" if pg else ""), params)
        row = cursor.fetchone()
        if row is None:
            return None
        account_id, balance, overdraft_limit, threshold, armed, *budget = row
        before = balance - params["credits"]
        credits = params["credits"]
        if kind == Kind.LEAD_CHARGE:
            # The budget, as billing_charge decides it (migration 0009): gross charges count.
            weekly_cap, monthly_cap, paused, week_spent, month_spent = budget
            params["week_spent"], params["month_spent"] = (
                week_spent - credits,
                month_spent - credits,
            )
            if (
                paused
                or (weekly_cap is not None and params["week_spent"] > weekly_cap)
                or (monthly_cap is not None and params["month_spent"] > monthly_cap)
            ):
                return None
        lots = None
        if credits < 0:
            # Expiry is enforced at spend time: due lots are expired before anything is drawn.
            lots = _lots_with_credits(account_id=account_id)
            due = [(pk, account_id, left) for pk, left, expires_at in lots if expires_at <= now]
            if due:
                balances = {account_id: before}
                _expiry_entries(due, balances=balances, now=now)
                before = balances[account_id]
                lots = [lot for lot in lots if lot[2] > now]
            balance = before + credits
            floor = 0 if kind == Kind.TRANSFER_OUT else -overdraft_limit
            if balance < floor and not params["may_pass_floor"]:
                return None
        at = {**params, "account_id": account_id, "balance_after": balance}
        cursor.execute(_INSERT_ENTRY, at)
        inserted = cursor.fetchone()
        if inserted is None:
            return None
        posting = _Posting(inserted[0], account_id, before, balance, threshold, bool(armed))
        if credits < 0:
            first = None
            if draw_first_from_key:
                first = (
                    CreditLot.objects.filter(
                        account_id=account_id, source__idempotency_key=draw_first_from_key
                    )
                    .values_list("pk", flat=True)
                    .first()
                )
            need = min(-credits, max(before, 0))
            drawn = _draw(posting, need=need, now=now, first=first, lots=lots)
            if drawn < -credits:  # the rest is overdraft (or, for a reversal, debt)
                posting.allocations.append(
                    LotAllocation(entry_id=posting.entry_id, lot=None, credits=-credits - drawn)
                )
        else:
            _place_credit(posting, credits=credits, kind=kind, lot=lot, params=params, now=now)
        LotAllocation.objects.bulk_create(posting.allocations)
        cursor.execute(_SET_BALANCE_CHARGE if kind == Kind.LEAD_CHARGE else _SET_BALANCE_ONE, at)
        return posting


def _lots_with_credits(*, account_id: int) -> list[tuple]:
    """(id, remaining, expires_at) of the account's lots with credits left, in draw order."""
    return list(
        CreditLot.objects.filter(account_id=account_id, has_credits=True)
        .order_by(*LOT_ORDER)
        .values_list("pk", "remaining", "expires_at")
    )


def _draw(posting: _Posting, *, need: int, now, first: int | None = None, lots=None) -> int:
    """Draw up to ``need`` credits from the account's live lots in consumption order."""
    if need <= 0:
        return 0
    if lots is None:
        lots = _lots_with_credits(account_id=posting.account_id)
    lots = [lot for lot in lots if lot[2] > now]
    if first is not None:
        lots.sort(key=lambda lot: lot[0] != first)  # stable: the rest keep their order
    drawn = 0
    for lot_id, remaining, _expires_at in lots:
        take = min(remaining, need - drawn)
        CreditLot.objects.filter(pk=lot_id).update(remaining=F("remaining") - take)
        posting.allocations.append(
            LotAllocation(entry_id=posting.entry_id, lot_id=lot_id, credits=take)
        )
        drawn += take
        if drawn == need:
            break
    return drawn


def _new_lot(posting: _Posting, *, kind, granted, expires_at, now, value=(0, 0), **extra):
    return CreditLot.objects.create(
        account_id=posting.account_id,
        kind=kind,
        source_id=posting.entry_id,
        granted=granted,
        remaining=granted,
        expires_at=expires_at,
        value_paise=value[0],
        value_credits=value[1],
        created_at=now,
        **extra,
    )


def _place_credit(posting: _Posting, *, credits, kind, lot, params, now) -> None:
    """Put a credit into lots, then let it cover any overdraft first.

    Lots hold max(balance, 0) in all, so whatever part of the credit the balance below zero
    swallows is drawn back at once, in consumption order, as this entry's own allocation.
    """
    unplaced = 0
    if kind == Kind.DISPUTE_REFUND:
        unplaced = _restore_to_lots(posting, credits=credits, lead_id=params["lead_id"], now=now)
    else:
        for piece in lot if isinstance(lot, list) else [lot]:
            granted = piece.credits or credits
            value = (piece.value_paise, piece.value_credits or granted)
            _new_lot(
                posting,
                kind=piece.kind,
                granted=granted,
                expires_at=piece.expires_at,
                now=now,
                value=value if piece.kind == PAID else (0, 0),
                memo=piece.memo[:255],
                restored_from_id=piece.restored_from_id,
            )
    surplus = max(posting.balance_before, 0) + credits - unplaced - max(posting.balance_after, 0)
    if surplus > 0:
        _draw(posting, need=surplus, now=now)
    elif surplus < 0:
        _new_lot(
            posting,
            kind=BONUS,
            granted=-surplus,
            expires_at=now + timedelta(days=settings.REFUND_GRACE_DAYS),
            now=now,
            memo="Refund of credits the charge took from overdraft (no lot to return them to)",
        )


def _restore_to_lots(posting: _Posting, *, credits: int, lead_id: int, now) -> int:
    """Return a refund to the lots its charge drew from, most recently drawn first.

    Earlier refunds of the lead took the same order, so they used up its first part. A lot
    that has expired meanwhile gets a new lot of its kind and value, expiring
    ``REFUND_GRACE_DAYS`` from now. Returns what had no lot (the charge's overdraft part).
    """
    charge = CreditTransaction.objects.filter(lead_id=lead_id, kind=Kind.LEAD_CHARGE).first()
    earlier = sum(
        CreditTransaction.objects.filter(lead_id=lead_id, kind=Kind.DISPUTE_REFUND)
        .exclude(pk=posting.entry_id)
        .values_list("credits", flat=True)
    )
    rows = (
        list(
            LotAllocation.objects.filter(entry=charge, credits__gt=0)
            .select_related("lot")
            .order_by("-id")
        )
        if charge
        else []
    )
    left, unplaced = credits, 0
    for row in rows:
        skip = min(row.credits, earlier)
        earlier -= skip
        amount = min(row.credits - skip, left)
        if amount <= 0:
            continue
        left -= amount
        lot = row.lot
        if lot is None:
            unplaced += amount
        elif lot.expires_at > now:
            CreditLot.objects.filter(pk=lot.pk).update(remaining=F("remaining") + amount)
            posting.allocations.append(
                LotAllocation(entry_id=posting.entry_id, lot_id=lot.pk, credits=-amount)
            )
        else:
            _new_lot(
                posting,
                kind=lot.kind,
                granted=amount,
                expires_at=now + timedelta(days=settings.REFUND_GRACE_DAYS),
                now=now,
                value=(lot.value_paise, lot.value_credits),
                restored_from=lot,
                memo=f"Refund to lot #{lot.pk}, which had expired",
            )
        if left == 0:
            break
    return unplaced + left  # a charge from before lots has no allocations: all unplaced


def _replay_or_refuse(*, params: dict, kind: Kind, now) -> CreditTransaction:
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
    over_budget = kind == Kind.LEAD_CHARGE and account.budget_refusal(
        credits=-params["credits"], now=now
    )
    if over_budget:
        raise OverBudget(over_budget)
    if kind == Kind.TRANSFER_OUT:
        raise InsufficientCredits(
            f"{account.clinic} has {format_number(max(account.balance, 0))} credits to move; "
            f"a transfer of {format_number(-params['credits'])} would take it below zero "
            "(only credits held can move, not an overdraft)."
        )
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


def _check_not_too_late(expires_at, now) -> None:
    if expires_at > now + timedelta(days=MAX_VALIDITY_DAYS):
        raise AntidoteError(
            f"Credits may stay valid for at most {format_number(MAX_VALIDITY_DAYS)} days "
            f"(until {now + timedelta(days=MAX_VALIDITY_DAYS):%Y-%m-%d}); pick an earlier expiry."
        )


def lot_expiry(*, kind: str, validity_days: int | None = None, expires_at=None, now=None):
    """When a new lot expires: an explicit time, else ``validity_days``, else the setting."""
    now = now or timezone.now()
    if expires_at is not None:
        if expires_at <= now:
            raise AntidoteError("Credits must expire in the future; pick a later expiry.")
        _check_not_too_late(expires_at, now)
        return expires_at
    if validity_days is None:
        validity_days = (
            settings.PAID_CREDIT_VALIDITY_DAYS
            if kind == PAID
            else settings.BONUS_CREDIT_VALIDITY_DAYS
        )
    if isinstance(validity_days, bool) or not isinstance(validity_days, int) or validity_days <= 0:
        raise AntidoteError(
            f"Credits must stay valid for at least one day; got {validity_days!r} days."
        )
    expires_at = now + timedelta(days=validity_days)
    _check_not_too_late(expires_at, now)
    return expires_at


def grant_credits(
    *,
    clinic,
    credits: int,
    idempotency_key: str,
    kind: str = Kind.PURCHASE,
    actor=None,
    memo="",
    paid: bool = False,
    paid_paise: int | None = None,
    validity_days: int | None = None,
    expires_at=None,
) -> CreditTransaction:
    """Add purchased or bonus credits; the caller derives the key (``purchase:order:42``).

    ``paid`` says the credits settle money Razorpay already captured: they are posted even to
    a clinic deactivated since it started paying (staff grants to it are still refused).

    A purchase makes a paid lot worth ``paid_paise`` (taxable, after discount, excluding GST)
    for its credits; without it, ₹1 a credit (the custom top-up rate). Bonus kinds make a
    bonus lot. Expiry: ``expires_at``, else ``validity_days``, else the settings.
    """
    if kind not in GRANT_KINDS:
        raise AntidoteError(f"{kind!r} is not a kind of grant.")
    _check_credits(credits)
    if credits < 0:
        raise AntidoteError("A grant adds credits; use an adjustment to remove them.")
    lot_kind = PAID if kind == Kind.PURCHASE else BONUS
    value = 0
    if lot_kind == PAID:
        value = credits * 100 if paid_paise is None else paid_paise
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise AntidoteError(f"Paid paise must be a whole number ≥ 0, got {value!r}.")
    terms = LotTerms(
        kind=lot_kind,
        expires_at=lot_expiry(kind=lot_kind, validity_days=validity_days, expires_at=expires_at),
        value_paise=value,
        memo=memo,
    )
    return post_entry(
        clinic_id=clinic.pk,
        kind=kind,
        credits=credits,
        idempotency_key=idempotency_key,
        actor_id=getattr(actor, "pk", None),
        memo=memo,
        real_money=paid,
        lot=terms,
    )


def reverse_credits(
    *,
    clinic,
    credits: int,
    idempotency_key: str,
    memo: str = "",
    source_key: str | None = None,
) -> CreditTransaction:
    """Take back credits for money that left: a refund or chargeback made at Razorpay.

    Never refused for the floor or the clinic's state, because money that really left is
    always recorded; what the clinic had already spent becomes debt (see ``post_entry``).
    The caller derives the key from Razorpay's refund or dispute id. ``source_key`` is the
    reversed order's purchase entry key: its lot is drawn first.
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
        draw_first_from_key=source_key,
    )


def refund_lead_charge(
    *, lead, idempotency_key: str, credits: int | None = None, actor=None, memo=""
) -> CreditTransaction:
    """Give back all or part of what a lead was charged; never more than was charged in all.

    The credits return to the lots the charge drew from (see ``_restore_to_lots``). The
    caller derives the key from its reason (``refund:dispute:7``).
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
    *,
    clinic,
    credits: int,
    actor,
    reason: str,
    idempotency_key: str | None = None,
    validity_days: int | None = None,
    expires_at=None,
    draw_first_from_key: str | None = None,
) -> CreditTransaction:
    """A staff correction, up or down, with the reason on record.

    Up makes a bonus lot (expiring as chosen, else after BONUS_CREDIT_VALIDITY_DAYS); down
    draws on the lots in the order a charge does, first from the lot the entry keyed
    ``draw_first_from_key`` created if given (a refund payout's own order).
    """
    if actor is None or not getattr(actor, "is_staff", False):
        raise AntidoteError("Only a staff member can adjust credits.")
    reason = (reason or "").strip()
    if not reason:
        raise AntidoteError("Give a reason for the adjustment; it is kept on the ledger.")
    terms = None
    if isinstance(credits, int) and credits > 0:
        terms = LotTerms(
            kind=BONUS,
            expires_at=lot_expiry(kind=BONUS, validity_days=validity_days, expires_at=expires_at),
            memo=reason,
        )
    return post_entry(
        clinic_id=clinic.pk,
        kind=Kind.ADMIN_ADJUSTMENT,
        credits=credits,
        idempotency_key=idempotency_key or f"adjust:{uuid.uuid4()}",
        actor_id=actor.pk,
        memo=reason,
        lot=terms,
        draw_first_from_key=draw_first_from_key,
    )


def restore_paid_credits(
    *, clinic, credits: int, source_key: str, actor, reason: str, idempotency_key: str
) -> CreditTransaction:
    """Give back paid credits a refund payout took, when the refund failed: a paid lot at the
    value per credit of the lot keyed ``source_key``, restored from it, expiring when it did
    (at least ``REFUND_GRACE_DAYS`` from now), so they are refundable again."""
    reason = (reason or "").strip()
    if not reason:
        raise AntidoteError("Give a reason for the restore; it is kept on the ledger.")
    _check_credits(credits)
    if credits < 0:
        raise AntidoteError("A restore gives back a positive number of credits.")
    source = CreditLot.objects.filter(source__idempotency_key=source_key, kind=PAID).first()
    if source is None:
        raise AntidoteError(f"No paid lot came from {source_key!r}; nothing to restore to.")
    grace = timezone.now() + timedelta(days=settings.REFUND_GRACE_DAYS)
    value = credits * source.value_paise // source.value_credits if source.value_credits else 0
    return post_entry(
        clinic_id=clinic.pk,
        kind=Kind.ADMIN_ADJUSTMENT,
        credits=credits,
        idempotency_key=idempotency_key,
        actor_id=getattr(actor, "pk", None),
        memo=reason,
        lot=LotTerms(
            kind=PAID,
            expires_at=max(source.expires_at, grace),
            value_paise=value,
            memo=reason,
            restored_from_id=source.pk,
        ),
    )


# Transfers between the locations of an organisation ----------------------------------------


def may_transfer(actor, organisation) -> bool:
    """Staff who may adjust credits, or an owner of the organisation."""
    if actor is None or not actor.is_authenticated or not actor.is_active:
        return False
    if actor.is_staff:
        return actor.has_perm("billing.adjust_credits")
    return organisation.owned_by(actor)


def transfer_credits(
    *, source, target, credits: int, idempotency_key: str, actor, memo: str = ""
) -> tuple[CreditTransaction, CreditTransaction]:
    """Move credits from one location of an organisation to another, lots and all.

    The credits leave ``source``'s lots in the order a charge draws them and arrive at
    ``target`` as lots of the same kind, value per credit and expiry. Both entries post in one
    transaction, keyed ``transfer:<key>:out`` and ``transfer:<key>:in``: a repeat returns the
    same pair, and the same key for another transfer is refused. Only credits the source holds
    can move: an overdraft is no credit to give, so the source may not go below zero.
    """
    _check_credits(credits)
    if credits < 0:
        raise AntidoteError("A transfer moves a positive number of credits.")
    if not idempotency_key or len(idempotency_key) > 100:
        raise AntidoteError("A transfer needs an idempotency key of at most 100 characters.")
    if source.pk == target.pk:
        raise AntidoteError("Credits move between two different locations.")
    organisation = source.organisation
    if organisation is None:
        raise AntidoteError(f"{source} belongs to no organisation; it has no one to move to.")
    if target.organisation_id != organisation.pk:
        raise AntidoteError(
            f"{target} is not a location of {organisation}; credits move only within one."
        )
    if not may_transfer(actor, organisation):
        raise AntidoteError(f"Only an owner of {organisation} or staff can move its credits.")
    memo = (memo or "").strip()
    # Scoped by the source: a key is the caller's (a form's token), and keys are global.
    key = f"transfer:{source.pk}:{idempotency_key}"
    now = timezone.now()  # one time for both halves: they fall in the same month
    with transaction.atomic():
        # Both accounts are locked in id order first, so transfers between the same two
        # locations in opposite directions wait for each other instead of deadlocking.
        list(
            CreditAccount.objects.select_for_update()
            .filter(clinic_id__in=[source.pk, target.pk])
            .order_by("pk")
            .values_list("pk")
        )
        # Under the lock, both are still locations of the organisation (staff may have just
        # moved one out).
        still = type(source).objects.filter(
            pk__in=[source.pk, target.pk], organisation=organisation
        )
        if still.count() != 2:
            raise AntidoteError(f"{source} and {target} are no longer both in {organisation}.")
        out = post_entry(
            clinic_id=source.pk,
            kind=Kind.TRANSFER_OUT,
            credits=-credits,
            idempotency_key=f"{key}:out",
            actor_id=actor.pk,
            memo=(memo or f"Transfer to {target}")[:255],
            at=now,
        )
        parts = list(out.allocations.select_related("lot").order_by("id"))
        if any(part.lot is None for part in parts):  # lots hold the whole positive balance
            raise AntidoteError(f"{source}'s lots do not cover its balance; run reconcile_ledger.")
        pieces = [
            LotTerms(
                kind=part.lot.kind,
                expires_at=part.lot.expires_at,
                value_paise=part.lot.value_paise,
                value_credits=part.lot.value_credits or None,
                credits=part.credits,
                memo=f"From lot #{part.lot_id} of {source}"[:255],
            )
            for part in parts
        ]
        received = post_entry(
            clinic_id=target.pk,
            kind=Kind.TRANSFER_IN,
            credits=credits,
            idempotency_key=f"{key}:in",
            actor_id=actor.pk,
            memo=(memo or f"Transfer from {source}")[:255],
            lot=pieces,
            at=now,
        )
    return out, received


# Expiry -------------------------------------------------------------------------------------


def _expiry_entries(lots, *, balances: dict[int, int], now) -> int:
    """Post one expiry entry per lot (``expiry:lot:<id>``), in bulk; the accounts are locked.

    ``lots`` are (lot id, account id, remaining) rows read after the lock, in account then
    expiry order; ``balances`` the accounts' balances, updated here. The idempotency key's
    unique constraint keeps each expiry to one entry even if the lock discipline failed.
    """
    if not lots:
        return 0
    entries = []
    for lot_id, account_id, remaining in lots:
        balances[account_id] -= remaining
        entries.append(
            CreditTransaction(
                account_id=account_id,
                kind=Kind.EXPIRY,
                credits=-remaining,
                balance_after=balances[account_id],
                memo=f"Lot #{lot_id} expired with {remaining:,} credits left",
                idempotency_key=f"expiry:lot:{lot_id}",
                created_at=now,
            )
        )
    CreditTransaction.objects.bulk_create(entries)
    LotAllocation.objects.bulk_create(
        LotAllocation(entry_id=entry.pk, lot_id=lot_id, credits=remaining)
        for entry, (lot_id, _, remaining) in zip(entries, lots, strict=True)
    )
    CreditLot.objects.filter(pk__in=[lot_id for lot_id, _, _ in lots]).update(remaining=0)
    touched = {account_id for _, account_id, _ in lots}
    CreditAccount.objects.bulk_update(
        [CreditAccount(pk=pk, balance=balances[pk], updated_at=now) for pk in touched],
        ["balance", "updated_at"],
    )
    return len(lots)


def _due_lots(*, account_ids, now):
    return list(
        CreditLot.objects.filter(account_id__in=account_ids, has_credits=True, expires_at__lte=now)
        .order_by("account_id", *LOT_ORDER)
        .values_list("pk", "account_id", "remaining")
    )


@dataclass(frozen=True)
class ExpiryRun:
    lots: int
    credits: int
    accounts: int


def expire_credits(
    *,
    now=None,
    dry_run: bool = False,
    batch_size: int = 2_000,
    progress: Callable[[int], None] | None = None,
) -> ExpiryRun:
    """Post an expiry for every lot past its expiry with credits left; safe to run twice.

    Works in batches of due lots: lock their accounts in id order, re-read what is due
    (another run or a charge may have expired it meanwhile) and post in bulk.
    """
    now = now or timezone.now()
    due = CreditLot.objects.filter(has_credits=True, expires_at__lte=now)
    if dry_run:
        lots = list(due.values_list("account_id", "remaining"))
        return ExpiryRun(len(lots), sum(r for _, r in lots), len({a for a, _ in lots}))
    done = credits = 0
    accounts = set()
    after_id = 0
    while True:
        batch = list(
            due.filter(pk__gt=after_id).order_by("pk").values_list("pk", "account_id")[:batch_size]
        )
        if not batch:
            break
        after_id = batch[-1][0]
        account_ids = sorted({account_id for _, account_id in batch})
        with transaction.atomic():
            balances = dict(
                CreditAccount.objects.select_for_update()
                .filter(pk__in=account_ids)
                .order_by("pk")
                .values_list("pk", "balance")
            )
            lots = _due_lots(account_ids=account_ids, now=now)
            done += _expiry_entries(lots, balances=balances, now=now)
            credits += sum(remaining for _, _, remaining in lots)
            accounts.update(account_id for _, account_id, _ in lots)
        if progress:
            progress(done)
    return ExpiryRun(done, credits, len(accounts))


def extend_lot_expiry(*, lot: CreditLot, expires_at, actor, reason: str) -> CreditLot:
    """Move a live lot's expiry later, audited with who and why."""
    if actor is None or not getattr(actor, "is_staff", False):
        raise AntidoteError("Only a staff member can extend a lot's expiry.")
    reason = (reason or "").strip()
    if not reason:
        raise AntidoteError("Give a reason for extending the expiry; it is kept on record.")
    now = timezone.now()
    with transaction.atomic():
        CreditAccount.objects.select_for_update().filter(pk=lot.account_id).first()
        locked = CreditLot.objects.get(pk=lot.pk)
        if locked.expires_at <= now or locked.remaining == 0:
            raise AntidoteError(
                f"Lot #{locked.pk} has expired or is used up; its credits cannot be revived. "
                "Grant new credits instead."
            )
        if expires_at <= locked.expires_at:
            raise AntidoteError(
                f"Lot #{locked.pk} already expires on {locked.expires_at:%Y-%m-%d}; "
                "an extension must be later."
            )
        _check_not_too_late(expires_at, now)
        LotExpiryChange.objects.create(
            lot=locked,
            old_expires_at=locked.expires_at,
            new_expires_at=expires_at,
            actor=actor,
            reason=reason[:255],
        )
        CreditLot.objects.filter(pk=locked.pk).update(expires_at=expires_at, expiry_warned_at=None)
    lot.refresh_from_db()
    return lot


def claim_expiry_warning(*, lot_id: int, now=None) -> bool:
    """Claim one lot's "credits about to expire" warning before sending it; True if ours.

    One conditional UPDATE: of two runs at once exactly one sets ``expiry_warned_at``, so a
    lot is warned once (an extension re-arms it).
    """
    return bool(
        CreditLot.objects.filter(pk=lot_id, expiry_warned_at__isnull=True).update(
            expiry_warned_at=now or timezone.now()
        )
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


# The largest cap a clinic may set: far above any real week, still a whole number of credits.
MAX_BUDGET_CAP = 1_000_000_000


def check_budget_cap(name: str, cap) -> None:
    """A cap is empty (no cap) or a whole number of credits from 1 to ``MAX_BUDGET_CAP``."""
    if cap is None:
        return
    if isinstance(cap, bool) or not isinstance(cap, int):
        raise AntidoteError(f"The {name} must be a whole number of credits, got {cap!r}.")
    if cap <= 0:
        raise AntidoteError(
            f"A {name} must be at least 1 credit (got {cap}). Leave it empty for no cap, "
            "or pause to stop leads."
        )
    if cap > MAX_BUDGET_CAP:
        raise AntidoteError(f"A {name} is at most {format_number(MAX_BUDGET_CAP)} credits.")


def set_budget(
    *,
    account: CreditAccount,
    actor,
    weekly_cap: int | None,
    monthly_cap: int | None,
    paused: bool,
    pause_until: date | None = None,
    reason: str = "",
    now=None,
) -> CreditAccount:
    """Set a clinic's weekly and monthly caps (None: no cap) and its pause, all at once.

    ``paused`` with a ``pause_until`` date pauses until 00:00 IST that day; without one, until
    resumed. Who changed it (``actor``) and ``reason`` go to the account's history. When the
    budget leaves more room than before (a cap raised or removed, a pause ended), waiting leads
    are released after commit through ``budget_raised``, as after a top-up. A cap lowered
    below what was already spent stands: the period's next charges are over budget.
    """
    check_budget_cap("weekly cap", weekly_cap)
    check_budget_cap("monthly cap", monthly_cap)
    if not isinstance(paused, bool):
        raise AntidoteError("Say whether the clinic is paused (yes or no).")
    now = now or timezone.now()
    pause_ends_at = None
    if pause_until is not None:
        if not paused:
            raise AntidoteError("A pause end date needs a pause; leave it empty to run leads.")
        if isinstance(pause_until, datetime) or not isinstance(pause_until, date):
            raise AntidoteError(f"A pause ends on a date, got {pause_until!r}.")
        if pause_until <= now.astimezone(IST).date():
            raise AntidoteError(
                "A pause must end on a later day than today (IST); to end it now, resume."
            )
        pause_ends_at = ist_midnight(pause_until)
    wanted = {
        "weekly_cap": weekly_cap,
        "monthly_cap": monthly_cap,
        "paused": paused,
        "pause_ends_at": pause_ends_at,
    }
    with transaction.atomic():
        locked = CreditAccount.objects.select_for_update().get(pk=account.pk)
        before = _budget_room(locked, now)
        changed = [name for name, value in wanted.items() if getattr(locked, name) != value]
        if changed:
            for name in changed:
                setattr(locked, name, wanted[name])
            locked._history_user = actor  # the change history names who did it
            locked._change_reason = reason[:100]
            locked.save(update_fields=[*changed, "updated_at"])
            if _budget_room(locked, now) > before:
                clinic_id = locked.clinic_id
                transaction.on_commit(
                    lambda: budget_raised.send(sender=CreditAccount, clinic_id=clinic_id),
                    robust=True,
                )
    for name in wanted:
        setattr(account, name, getattr(locked, name))
    return locked


def _budget_room(account: CreditAccount, now) -> tuple[bool, int]:
    """(running, credits the caps still allow now); ordered, so more room compares greater."""
    week_spent, month_spent = account.spent_at(now)
    caps = [(account.weekly_cap, week_spent), (account.monthly_cap, month_spent)]
    room = min((cap - spent for cap, spent in caps if cap is not None), default=MAX_BUDGET_CAP)
    return not account.is_paused_at(now), room
