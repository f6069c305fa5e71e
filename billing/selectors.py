"""Reads of the ledger: balances, history, and the reconciliation checks."""

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from fractions import Fraction

from django.conf import settings
from django.db import connection
from django.db.models import BigIntegerField, Count, F, OuterRef, Q, Subquery, Sum, Value
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone

from antidote.money import format_number, format_signed
from billing.models import (
    CreditAccount,
    CreditLot,
    CreditTransaction,
    Kind,
    LotAllocation,
    PricingTier,
    ist_midnight,
    ist_periods,
)
from leads.models import Lead


def account_balance(*, clinic) -> int:
    """O(1): the balance is kept on the account row, never summed on read."""
    return CreditAccount.objects.values_list("balance", flat=True).get(clinic=clinic)


def account_of(*, clinic) -> CreditAccount:
    return CreditAccount.objects.get(clinic=clinic)


def lead_net_charge():
    """Annotation for a lead queryset: credits its clinic paid for it, net of refunds.

    0 for a lead never charged or refunded in full; a partial refund leaves the rest.
    """
    entries = (
        CreditTransaction.objects.filter(
            lead=OuterRef("pk"), kind__in=[Kind.LEAD_CHARGE, Kind.DISPUTE_REFUND]
        )
        .order_by()
        .values("lead")
        .annotate(total=Sum("credits"))
        .values("total")
    )
    return Coalesce(Subquery(entries), 0, output_field=BigIntegerField()) * -1


def lead_net_charged(*, lead) -> int:
    """Credits a lead's clinic has paid for it, net of refunds (0 if none or all refunded)."""
    return (
        type(lead)
        .objects.filter(pk=lead.pk)
        .annotate(net=lead_net_charge())
        .values_list("net", flat=True)
        .get()
    )


def accounts_in_debt():
    """Accounts a reversal took below their floor: their new leads wait, staff must act."""
    return CreditAccount.objects.filter(in_debt=True).select_related("clinic").order_by("id")


@dataclass(frozen=True)
class Discrepancy:
    account_id: int
    clinic_id: int
    clinic_name: str
    problem: str


_LOT = CreditLot._meta.db_table
_ALLOCATION = LotAllocation._meta.db_table
# One pass over the entries and one over the lots of a batch of accounts: the balance must be
# the sum of the entries, and the lots hold max(balance, 0) (what is below zero, an overdraft
# or debt, is unallocated).
_ACCOUNT_MISMATCH = f"""
    SELECT a.id, a.balance, COALESCE(e.total, 0) AS total, COALESCE(l.held, 0) AS held
    FROM {CreditAccount._meta.db_table} a
    LEFT JOIN (SELECT account_id, SUM(credits) AS total FROM {CreditTransaction._meta.db_table}
               WHERE account_id BETWEEN %s AND %s GROUP BY account_id) e
           ON e.account_id = a.id
    LEFT JOIN (SELECT account_id, SUM(remaining) AS held FROM {_LOT}
               WHERE account_id BETWEEN %s AND %s GROUP BY account_id) l
           ON l.account_id = a.id
    WHERE a.id BETWEEN %s AND %s
      AND (a.balance <> COALESCE(e.total, 0)
           OR COALESCE(l.held, 0) <> CASE WHEN a.balance > 0 THEN a.balance ELSE 0 END)
    ORDER BY a.id"""
# Entries of one account are serialised by its row lock, so id order is posting order.
_CHAIN_BREAKS = f"""
    SELECT account_id, id, balance_after, running FROM (
        SELECT account_id, id, balance_after,
               SUM(credits) OVER (PARTITION BY account_id ORDER BY id) AS running
        FROM {CreditTransaction._meta.db_table}
        WHERE account_id BETWEEN %s AND %s
    ) chain
    WHERE balance_after <> running
    ORDER BY account_id, id"""

# Every debit since lots exist is allocated in full (lots drawn + overdraft); older ones have
# no allocations, and none are invented.
_UNALLOCATED = f"""
    SELECT t.account_id, t.id, t.credits, COALESCE(SUM(al.credits), 0) AS allocated
    FROM {CreditTransaction._meta.db_table} t
    LEFT JOIN {_ALLOCATION} al ON al.entry_id = t.id
    WHERE t.account_id BETWEEN %s AND %s AND t.credits < 0
      AND t.created_at >= (SELECT MIN(created_at) FROM {_LOT})
    GROUP BY t.account_id, t.id, t.credits
    HAVING COALESCE(SUM(al.credits), 0) <> -t.credits"""
_AFTER_EXPIRY = f"""
    SELECT t.account_id, t.id, l.id
    FROM {_ALLOCATION} al
    JOIN {CreditTransaction._meta.db_table} t ON t.id = al.entry_id
    JOIN {_LOT} l ON l.id = al.lot_id
    WHERE t.account_id BETWEEN %s AND %s AND t.kind <> 'expiry'
      AND t.created_at >= l.expires_at"""


def ledger_discrepancies(
    *, batch_size: int = 100_000, progress: Callable[[int, int], None] | None = None
) -> Iterator[Discrepancy]:
    """Every account whose balance differs from Σ entries, or whose chain is broken, or whose
    lots and their allocations disagree with its entries.

    Each check is one set-based query per batch of accounts (by id range), so a batch as
    large as the ledger is one pass over each table; smaller batches bound what the database
    holds at once.
    ``progress(done, total)`` is called after each batch.
    """
    ids = list(CreditAccount.objects.order_by("id").values_list("id", flat=True))
    clinics = {
        account_id: (clinic_id, name)
        for account_id, clinic_id, name in CreditAccount.objects.values_list(
            "id", "clinic_id", "clinic__name"
        )
    }
    for start in range(0, len(ids), batch_size):
        low, high = ids[start], ids[min(start + batch_size, len(ids)) - 1]
        with connection.cursor() as cursor:
            cursor.execute(_ACCOUNT_MISMATCH, [low, high] * 3)
            accounts = cursor.fetchall()
            problems = [
                (
                    account_id,
                    f"balance {format_number(balance)} but entries sum to {format_number(total)} "
                    f"(difference {format_signed(balance - total)})",
                )
                for account_id, balance, total, _held in accounts
                if balance != total
            ]
            cursor.execute(_CHAIN_BREAKS, [low, high])
            problems += [
                (
                    account_id,
                    f"entry #{entry_id} says balance_after {format_number(balance_after)} "
                    f"but the entries up to it sum to {format_number(running)}",
                )
                for account_id, entry_id, balance_after, running in cursor.fetchall()
            ]
            problems += [
                (
                    account_id,
                    f"lots hold {held:,} credits but the balance is {balance:,} "
                    f"(lots must hold {max(balance, 0):,}; below zero is unallocated)",
                )
                for account_id, balance, _total, held in accounts
                if held != max(balance, 0)
            ]
            cursor.execute(_UNALLOCATED, [low, high])
            problems += [
                (
                    account_id,
                    f"entry #{entry_id} takes {-credits:,} credits but its lot allocations "
                    f"add up to {allocated:,}",
                )
                for account_id, entry_id, credits, allocated in cursor.fetchall()
            ]
            cursor.execute(_AFTER_EXPIRY, [low, high])
            problems += [
                (account_id, f"entry #{entry_id} touched lot #{lot_id} after it expired")
                for account_id, entry_id, lot_id in cursor.fetchall()
            ]
        for account_id, problem in problems:
            yield Discrepancy(account_id, *clinics[account_id], problem)
        if progress:
            progress(min(start + batch_size, len(ids)), len(ids))


@dataclass(frozen=True)
class LeadProblem:
    lead_id: int
    clinic_id: int
    clinic_name: str
    problem: str


def lead_problems(*, now=None) -> list[LeadProblem]:
    """Money wrong on leads while every sum still balances, for reconcile_ledger.

    - A lead flagged as a technical error that is still charged (net of refunds): it must
      never cost anything.
    - A clinic's oldest waiting lead, older than ``HELD_LEAD_ALERT_MINUTES``, that the clinic
      could pay for (balance + overdraft limit ≥ its price): the release after a top-up and
      the safety net both missed it. Only the head of the queue counts, because release never
      charges a lead ahead of an older one. Clinics in debt cannot pay; an inactive clinic's
      leads are never charged, and a lead its clinic's budget (cap or pause) does not allow
      yet waits rightly, so none of them is named.
    """
    now = now or timezone.now()
    problems = [
        LeadProblem(
            lead.pk,
            lead.clinic_id,
            lead.clinic.name,
            f"lead #{lead.pk} is flagged as a technical error but still charged "
            f"{format_number(lead.net_charge)} credits (flag it again in the admin to refund them)",
        )
        for lead in Lead.objects.filter(technical_error=True)
        .annotate(net_charge=lead_net_charge())
        .filter(net_charge__gt=0)
        .select_related("clinic")
        .order_by("clinic_id", "pk")
    ]
    head_of_queue = (
        Lead.objects.filter(clinic_id=OuterRef("clinic_id"), billing_state__in=Lead.WAITING_STATES)
        .order_by("created_at", "pk")
        .values("pk")[:1]
    )
    cutoff = now - timedelta(minutes=settings.HELD_LEAD_ALERT_MINUTES)
    overdue = (
        Lead.objects.filter(
            billing_state__in=Lead.WAITING_STATES,
            created_at__lt=cutoff,
            clinic__is_active=True,
            clinic__credit_account__balance__gte=F("price_credits")
            - F("clinic__credit_account__overdraft_limit"),
        )
        .filter(pk=Subquery(head_of_queue))
        .select_related("clinic__credit_account")
        .order_by("clinic_id")
    )
    for lead in overdue:
        account = lead.clinic.credit_account
        if account.budget_refusal(credits=lead.price_credits, now=now):
            continue
        waited = int((now - lead.created_at).total_seconds() // 60)
        problems.append(
            LeadProblem(
                lead.pk,
                lead.clinic_id,
                lead.clinic.name,
                f"lead #{lead.pk} has been waiting {format_number(waited)} minutes at the head "
                "of the queue "
                f"though the clinic could pay its {format_number(lead.price_credits)} credits "
                "(balance "
                f"{format_number(account.balance)}, overdraft limit "
                f"{format_number(account.overdraft_limit)}); run "
                "release_held_leads",
            )
        )
    return problems


def pricing_tiers():
    return list(PricingTier.objects.order_by("min_price_paise"))


def entries_of(*, clinic):
    """A clinic's ledger entries, by its account's id as a literal.

    Filtering through a join to the account hides which account it is from PostgreSQL's
    planner: it then guesses a few hundred rows, reads all of a big clinic's entries and sorts
    them (1.5 s for a page of 20 with a million). With the id it walks the (account, id) index
    from the right end and stops, and knows from its statistics how many rows there are.
    """
    return entries_between(clinic=clinic)


def entries_between(*, clinic, since=None, until=None):
    """A clinic's ledger entries created in [``since``, ``until``), either end open if None."""
    account_id = CreditAccount.objects.filter(clinic=clinic).values_list("id", flat=True).first()
    return CreditTransaction.objects.created_between(
        account_id=account_id, since=since, until=until
    )


def transactions_for(*, clinic, kind=None, date_from=None, date_to=None):
    """A clinic's ledger entries, newest first."""
    # Local days as a range of instants, which become a range of ids (created_between).
    entries = (
        entries_between(
            clinic=clinic,
            since=date_from and local_midnight(date_from),
            until=date_to and local_midnight(date_to + timedelta(days=1)),
        )
        .select_related("lead")
        .prefetch_related("allocations")  # each row says which lots it drew from
    )
    if kind:
        entries = entries.filter(kind=kind)
    return entries.order_by("-id")


def local_midnight(day: date):
    """The instant ``day`` starts in the project's time zone."""
    return timezone.make_aware(datetime.combine(day, time.min))


def is_own_entry(*, clinic, entry_id: int) -> bool:
    """Whether ``entry_id`` is one of the clinic's ledger entries (a cursor must be)."""
    return entries_of(clinic=clinic).filter(pk=entry_id).exists()


@dataclass(frozen=True)
class MonthSummary:
    spent: int
    paid: int  # bought with money, 1 credit per rupee
    bonus: int  # package, custom-amount and promo bonuses
    refunded: int

    @property
    def purchased(self) -> int:
        """Paid and bonus credits together."""
        return self.paid + self.bonus


def month_start():
    return timezone.localtime().replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def month_summary(*, clinic) -> MonthSummary:
    """Credits spent on leads, bought (paid and bonus apart) and refunded this month."""
    return _summary(entries_between(clinic=clinic, since=month_start()))


def _summary(entries) -> MonthSummary:
    totals = dict(entries.order_by().values_list("kind").annotate(total=Sum("credits")))
    return MonthSummary(
        spent=-totals.get(Kind.LEAD_CHARGE, 0),
        paid=totals.get(Kind.PURCHASE, 0),
        bonus=totals.get(Kind.BONUS, 0) + totals.get(Kind.PROMO_BONUS, 0),
        refunded=totals.get(Kind.DISPUTE_REFUND, 0),
    )


@dataclass(frozen=True)
class TierRow:
    min_price_paise: int
    leads: int
    credits: int  # net of dispute refunds is not counted here: the price charged


def leads_by_tier(*, clinic) -> list[TierRow]:
    """This month's charged leads and the credits they cost, by the pricing tier they used."""
    rows = (
        clinic.leads.filter(created_at__gte=month_start(), billing_state="charged")
        .values("tier_min_price_paise")
        .annotate(leads=Count("pk"), credits=Sum("price_credits"))
        .order_by("tier_min_price_paise")
    )
    return [TierRow(row["tier_min_price_paise"], row["leads"], row["credits"] or 0) for row in rows]


def spend_per_day(*, clinic, days: int = 30) -> list[tuple[date, int]]:
    """Credits charged for leads on each of the last ``days`` days (oldest first, zeros kept)."""
    today = timezone.localdate()
    first = today - timedelta(days=days - 1)
    rows = dict(
        entries_between(clinic=clinic, since=local_midnight(first))
        .filter(kind=Kind.LEAD_CHARGE)
        .annotate(day=TruncDate("created_at"))
        .values_list("day")
        .annotate(total=Sum("credits"))
    )
    return [
        (first + timedelta(days=i), -rows.get(first + timedelta(days=i), 0)) for i in range(days)
    ]


def accounts_to_alert():
    """Below their alert level and not yet told since they crossed it."""
    return CreditAccount.objects.filter(
        balance__lt=F("low_balance_threshold"),
        low_balance_alerted_at__isnull=True,
        clinic__is_active=True,
    ).select_related("clinic")


def ledger_rows(*, date_from=None, date_to=None, clinic=None):
    """Ledger entries oldest first, for export (the caller picks the columns)."""
    since = date_from and local_midnight(date_from)
    until = date_to and local_midnight(date_to + timedelta(days=1))
    if clinic is not None:
        # By account id, not through a join: the (account, id) index then yields the rows in
        # order, with no sort of a million rows.
        return entries_between(clinic=clinic, since=since, until=until).order_by("id")
    entries = CreditTransaction.objects.all()
    if since:
        entries = entries.filter(created_at__gte=since)
    if until:
        entries = entries.filter(created_at__lt=until)
    return entries.order_by("id")


def entry_exists(*, idempotency_key: str) -> bool:
    """Whether something was already posted under this key (a form sent twice, a replay)."""
    return CreditTransaction.objects.filter(idempotency_key=idempotency_key).exists()


def refundable_credits(*, lead_ids) -> dict[int, int]:
    """What is left to refund of each lead's charge (charged minus refunded; 0 if never
    charged): the amount ``services.refund_lead_charge`` gives back when none is named."""
    rows = (
        CreditTransaction.objects.filter(
            lead_id__in=lead_ids, kind__in=[Kind.LEAD_CHARGE, Kind.DISPUTE_REFUND]
        )
        .values("lead_id")
        .annotate(
            charged=Sum("credits", filter=Q(kind=Kind.LEAD_CHARGE), default=0),
            refunded=Sum("credits", filter=Q(kind=Kind.DISPUTE_REFUND), default=0),
        )
    )
    left = {row["lead_id"]: max(0, -row["charged"] - row["refunded"]) for row in rows}
    return {lead_id: left.get(lead_id, 0) for lead_id in lead_ids}


# Outcomes and return on spend (leads.analytics reads these; billing stays the money's source).


def lead_spend_paise(
    *, lead_filter: Callable[[str], Q], group: Callable[[str], dict]
) -> Iterator[dict]:
    """The rupees (paise, exact fractions) leads' charges spent and their refunds gave back:
    rows of the group's keys with ``charged_paise`` and ``refunded_paise``, one per group and
    lot value (a group may come more than once: add them up).

    A charge spends each paid lot it drew at that lot's value, ``value_paise / value_credits``
    a credit; bonus credits are worth nothing, and so is the part drawn into overdraft (no lot
    yet: the credit that later covers it is not tied to a lead) or charged before lots existed
    (no allocations). A refund gives back at the value of the lot it returns to, or of the new
    lot made when that one had expired; what it returns to a charge's overdraft part is worth
    nothing either. ``lead_filter(prefix)`` and ``group(prefix)`` name the lead's fields
    through ``prefix`` (``"entry__lead__"``, ``"source__lead__"``).
    """
    draws = (
        LotAllocation.objects.filter(
            Q(entry__kind=Kind.LEAD_CHARGE) | Q(entry__kind=Kind.DISPUTE_REFUND, credits__lt=0),
            lead_filter("entry__lead__"),
            lot__kind=CreditLot.LotKind.PAID,
        )
        .order_by()
        .values(**group("entry__lead__"), vp=F("lot__value_paise"), vc=F("lot__value_credits"))
        .annotate(
            charged=Sum("credits", filter=Q(entry__kind=Kind.LEAD_CHARGE), default=0),
            refunded=Sum("credits", filter=Q(entry__kind=Kind.DISPUTE_REFUND), default=0) * -1,
        )
    )
    restored = (
        CreditLot.objects.filter(
            lead_filter("source__lead__"),
            source__kind=Kind.DISPUTE_REFUND,
            kind=CreditLot.LotKind.PAID,
        )
        .order_by()
        .values(**group("source__lead__"), vp=F("value_paise"), vc=F("value_credits"))
        .annotate(charged=Value(0), refunded=Sum("granted"))
    )
    for rows in (draws, restored):
        for row in rows:
            per_credit = Fraction(row.pop("vp"), row.pop("vc"))
            row["charged_paise"] = row.pop("charged") * per_credit
            row["refunded_paise"] = row.pop("refunded") * per_credit
            yield row


def lead_credit_totals(*, lead_filter: Q, group: dict) -> list[dict]:
    """Credits charged and refunded for leads, grouped by expressions over the lead.

    ``lead_filter`` and ``group`` name the lead's fields through ``lead__``; each row has the
    group's keys plus ``charged`` and ``refunded`` (both positive).
    """
    return list(
        CreditTransaction.objects.filter(
            lead_filter, kind__in=[Kind.LEAD_CHARGE, Kind.DISPUTE_REFUND]
        )
        .order_by()
        .values(**group)
        .annotate(
            charged=Sum("credits", filter=Q(kind=Kind.LEAD_CHARGE), default=0) * -1,
            refunded=Sum("credits", filter=Q(kind=Kind.DISPUTE_REFUND), default=0),
        )
    )


def credits_sold_and_spent(*, start, end) -> MonthSummary:
    """The marketplace's credits between ``start`` and ``end``: bought (bonuses included),
    spent on leads and refunded."""
    return _summary(CreditTransaction.objects.filter(created_at__gte=start, created_at__lt=end))


def low_balance_clinic_ids() -> set[int]:
    """Clinics whose balance is below their alert level."""
    return set(
        CreditAccount.objects.filter(balance__lt=F("low_balance_threshold")).values_list(
            "clinic_id", flat=True
        )
    )


# Credit lots ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class LotSplit:
    paid: int
    bonus: int


def lot_split(*, clinic) -> LotSplit:
    """Credits left in paid and in bonus lots (expired ones not yet posted included)."""
    totals = dict(
        CreditLot.objects.filter(account__clinic=clinic, has_credits=True)
        .values_list("kind")
        .annotate(total=Sum("remaining"))
    )
    return LotSplit(
        paid=totals.get(CreditLot.LotKind.PAID, 0), bonus=totals.get(CreditLot.LotKind.BONUS, 0)
    )


def credit_lots(*, clinic):
    """A clinic's lots, soonest expiry first, with their source entry."""
    return (
        CreditLot.objects.filter(account__clinic=clinic)
        .select_related("source")
        .order_by("expires_at", "kind", "id")
    )


@dataclass(frozen=True)
class NextExpiry:
    credits: int
    expires_at: object  # datetime


def next_expiry(*, clinic, now=None) -> NextExpiry | None:
    """The soonest expiry of a live lot with credits left, and how many credits expire then
    (every lot due on that same local day)."""
    now = now or timezone.now()
    live = CreditLot.objects.filter(account__clinic=clinic, has_credits=True, expires_at__gt=now)
    first = live.order_by("expires_at").values_list("expires_at", flat=True).first()
    if first is None:
        return None
    day = timezone.localtime(first).date()
    credits = sum(
        remaining
        for remaining, expires_at in live.values_list("remaining", "expires_at")
        if timezone.localtime(expires_at).date() == day
    )
    return NextExpiry(credits=credits, expires_at=first)


def allocations_by_entry(*, entry_ids) -> dict[int, list[LotAllocation]]:
    """Each entry's lot allocations, for the ledger's "drawn from" column."""
    rows: dict[int, list[LotAllocation]] = {}
    for allocation in LotAllocation.objects.filter(entry_id__in=list(entry_ids)).select_related(
        "lot"
    ):
        rows.setdefault(allocation.entry_id, []).append(allocation)
    return rows


def lot_consumption(*, lot):
    """What touched a lot, oldest first: draws (> 0) and refunds given back (< 0)."""
    return lot.allocations.select_related("entry", "entry__lead").order_by("id")


def lots_to_warn(*, now=None):
    """Live lots with credits left expiring within EXPIRY_WARNING_DAYS, not yet warned."""
    now = now or timezone.now()
    return (
        CreditLot.objects.filter(
            has_credits=True,
            expires_at__gt=now,
            expires_at__lte=now + timedelta(days=settings.EXPIRY_WARNING_DAYS),
            expiry_warned_at__isnull=True,
        )
        .select_related("account__clinic")
        .order_by("expires_at", "id")
    )


def paid_credits_left(*, source_key: str, now=None) -> int:
    """Unexpired credits left in the paid lot the entry keyed ``source_key`` created (an
    order's purchase, ``purchase:order:<id>``), and in paid lots restored from it; else 0."""
    now = now or timezone.now()
    lots = CreditLot.objects.filter(kind=CreditLot.LotKind.PAID, expires_at__gt=now).filter(
        Q(source__idempotency_key=source_key) | Q(restored_from__source__idempotency_key=source_key)
    )
    return sum(lots.values_list("remaining", flat=True))


@dataclass(frozen=True)
class BudgetSummary:
    weekly_cap: int | None
    monthly_cap: int | None
    week_spent: int
    month_spent: int
    paused: bool  # paused now (a pause whose end date has come is over)
    pause_ends_at: object  # datetime or None
    week_resets_on: date  # the IST Monday the weekly spend starts again from zero
    month_resets_on: date  # the 1st of next month (IST)
    taking_enquiries: bool  # not paused and room for at least the cheapest lead

    @property
    def week_left(self) -> int | None:
        return None if self.weekly_cap is None else max(self.weekly_cap - self.week_spent, 0)

    @property
    def month_left(self) -> int | None:
        return None if self.monthly_cap is None else max(self.monthly_cap - self.month_spent, 0)


def _summary_of(account: CreditAccount, *, now, cheapest: int) -> BudgetSummary:
    week, month = ist_periods(now)
    week_spent, month_spent = account.spent_at(now)
    paused = account.is_paused_at(now)
    room = [
        cap - spent
        for cap, spent in [(account.weekly_cap, week_spent), (account.monthly_cap, month_spent)]
        if cap is not None
    ]
    return BudgetSummary(
        weekly_cap=account.weekly_cap,
        monthly_cap=account.monthly_cap,
        week_spent=week_spent,
        month_spent=month_spent,
        paused=paused,
        pause_ends_at=account.pause_ends_at if paused else None,
        week_resets_on=week + timedelta(days=7),
        month_resets_on=(month + timedelta(days=32)).replace(day=1),
        taking_enquiries=not paused and min(room, default=cheapest) >= cheapest,
    )


def _cheapest_lead() -> int:
    return PricingTier.objects.order_by("credits").values_list("credits", flat=True).first() or 1


def budget_summary(*, clinic, now=None) -> BudgetSummary:
    """The clinic's caps, its spend this IST week and month (the counters: no SUM), its pause,
    the next resets, and whether it takes new enquiries (the public pages' rule)."""
    account = CreditAccount.objects.get(clinic=clinic)
    return _summary_of(account, now=now or timezone.now(), cheapest=_cheapest_lead())


def clinics_not_taking_enquiries(*, clinic_ids, now=None) -> set[int]:
    """Of ``clinic_ids``, those paused or without room under a cap for the cheapest lead."""
    now, cheapest = now or timezone.now(), _cheapest_lead()
    budgeted = CreditAccount.objects.filter(clinic_id__in=clinic_ids).filter(
        Q(paused=True) | Q(weekly_cap__isnull=False) | Q(monthly_cap__isnull=False)
    )
    return {
        account.clinic_id
        for account in budgeted
        if not _summary_of(account, now=now, cheapest=cheapest).taking_enquiries
    }


@dataclass(frozen=True)
class LocationFigures:
    """One location of an organisation, for its owners' overview."""

    clinic: object
    balance: int
    month_spent: int
    monthly_cap: int | None
    waiting_leads: int  # held for credits or over the budget


def organisation_locations(*, organisation, now=None) -> list[LocationFigures]:
    """Every location of ``organisation`` with its balance, this IST month's lead charges
    against its cap (the counters: no SUM) and its leads waiting to be charged."""
    now = now or timezone.now()
    waiting = (
        Lead.objects.filter(
            clinic=OuterRef("pk"),
            billing_state__in=[Lead.Billing.HELD, Lead.Billing.OVER_BUDGET],
        )
        .order_by()
        .values("clinic")
        .annotate(n=Count("pk"))
        .values("n")
    )
    clinics = (
        organisation.clinics.select_related("credit_account")
        .annotate(waiting=Coalesce(Subquery(waiting), 0))
        .order_by("name")
    )
    return [
        LocationFigures(
            clinic=clinic,
            balance=clinic.credit_account.balance,
            month_spent=clinic.credit_account.spent_at(now)[1],
            monthly_cap=clinic.credit_account.monthly_cap,
            waiting_leads=clinic.waiting,
        )
        for clinic in clinics
    ]


def tier_price_range(*, price_paise: int | None) -> tuple[int, int | None]:
    """The package prices (paise, [low, high)) of the tier ``price_paise`` falls in."""
    bounds = list(PricingTier.objects.values_list("min_price_paise", flat=True))
    low = max((b for b in bounds if price_paise is not None and b <= price_paise), default=0)
    high = min((b for b in bounds if b > low), default=None)
    return low, high


def budget_problems(*, now=None) -> list[str]:
    """Charges that passed the budget in force when they were posted, and spend counters of
    the current IST week and month that differ from the ledger.

    For every clinic that ever had a cap or a pause (its history), its lead charges are walked
    in order with the caps and pause of the history version in force at each charge: the
    gross charges of each IST week and month may never pass that cap, and nothing may be
    charged while paused. Only those clinics' charges are read.
    """
    now = now or timezone.now()
    history = CreditAccount.history.model.objects.filter(
        Q(weekly_cap__isnull=False) | Q(monthly_cap__isnull=False) | Q(paused=True)
    )
    problems = []
    for account in CreditAccount.objects.filter(
        pk__in=history.values("id").distinct()
    ).select_related("clinic"):
        versions = list(
            CreditAccount.history.model.objects.filter(id=account.pk)
            .order_by("history_date", "history_id")
            .values_list("history_date", "weekly_cap", "monthly_cap", "paused", "pause_ends_at")
        )
        spent: dict[tuple, int] = {}
        at = -1
        charges = (
            CreditTransaction.objects.filter(account=account, kind=Kind.LEAD_CHARGE)
            .order_by("id")
            .values_list("id", "created_at", "credits")
        )
        for entry_id, created_at, credits in charges.iterator():
            while at + 1 < len(versions) and versions[at + 1][0] <= created_at:
                at += 1
            week, month = ist_periods(created_at)
            for key in (("week", week), ("month", month)):
                spent[key] = spent.get(key, 0) - credits
            if at < 0:
                continue
            _, weekly_cap, monthly_cap, paused, pause_ends_at = versions[at]
            if paused and (pause_ends_at is None or created_at < pause_ends_at):
                problems.append(f"{account.clinic}: entry #{entry_id} was charged while paused")
            for name, cap, key in [
                ("week", weekly_cap, ("week", week)),
                ("month", monthly_cap, ("month", month)),
            ]:
                if cap is not None and spent[key] > cap:
                    problems.append(
                        f"{account.clinic}: entry #{entry_id} took the {name} of {key[1]} to "
                        f"{format_number(spent[key])} credits, past its cap of "
                        f"{format_number(cap)}"
                    )
    problems.extend(_counter_problems(now=now))
    return problems


def _counter_problems(*, now) -> list[str]:
    """The current week's and month's counters against the ledger, for every account that
    has a counter in the current period (a stale one counts as nothing spent)."""
    week, month = ist_periods(now)
    problems = []
    next_month = (month + timedelta(days=32)).replace(day=1)
    for period, start, end in [
        ("week", week, week + timedelta(days=7)),
        ("month", month, next_month),
    ]:
        since, until = ist_midnight(start), ist_midnight(end)
        counted = dict(
            CreditAccount.objects.filter(**{f"{period}_start": start}).values_list(
                "pk", f"{period}_spent"
            )
        )
        ledger = dict(
            CreditTransaction.objects.filter(
                kind=Kind.LEAD_CHARGE, created_at__gte=since, created_at__lt=until
            )
            .values("account_id")
            .annotate(total=Sum("credits"))
            .values_list("account_id", "total")
        )
        for account_id in counted.keys() | ledger.keys():
            want, have = -ledger.get(account_id, 0), counted.get(account_id, 0)
            if want != have:
                problems.append(
                    f"Account #{account_id}: this {period}'s spend counter is "
                    f"{format_number(have)} credits, its lead charges {format_number(want)}"
                )
    return problems
