"""Reads of the ledger: balances, history, and the reconciliation checks."""

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from fractions import Fraction

from django.conf import settings
from django.db import connection
from django.db.models import BigIntegerField, Count, F, OuterRef, Q, Subquery, Sum
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


_SUM_MISMATCH = f"""
    SELECT a.id, a.clinic_id, a.balance, COALESCE(SUM(t.credits), 0) AS total
    FROM {CreditAccount._meta.db_table} a
    LEFT JOIN {CreditTransaction._meta.db_table} t ON t.account_id = a.id
    WHERE a.id BETWEEN %s AND %s
    GROUP BY a.id, a.clinic_id, a.balance
    HAVING a.balance <> COALESCE(SUM(t.credits), 0)"""
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

_LOT = CreditLot._meta.db_table
_ALLOCATION = LotAllocation._meta.db_table
# Lots hold max(balance, 0): what is below zero (overdraft or debt) is unallocated.
_LOTS_MISMATCH = f"""
    SELECT a.id, a.balance, COALESCE(SUM(l.remaining), 0) AS held
    FROM {CreditAccount._meta.db_table} a
    LEFT JOIN {_LOT} l ON l.account_id = a.id
    WHERE a.id BETWEEN %s AND %s
    GROUP BY a.id, a.balance
    HAVING COALESCE(SUM(l.remaining), 0) <> CASE WHEN a.balance > 0 THEN a.balance ELSE 0 END"""
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
    *, batch_size: int = 500, progress: Callable[[int, int], None] | None = None
) -> Iterator[Discrepancy]:
    """Every account whose balance differs from Σ entries, or whose chain is broken.

    Works through accounts in id batches so memory stays flat on a large ledger;
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
            cursor.execute(_SUM_MISMATCH, [low, high])
            problems = [
                (
                    account_id,
                    f"balance {format_number(balance)} but entries sum to {format_number(total)} "
                    f"(difference {format_signed(balance - total)})",
                )
                for account_id, _clinic_id, balance, total in cursor.fetchall()
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
            cursor.execute(_LOTS_MISMATCH, [low, high])
            problems += [
                (
                    account_id,
                    f"lots hold {held:,} credits but the balance is {balance:,} "
                    f"(lots must hold {max(balance, 0):,}; below zero is unallocated)",
                )
                for account_id, balance, held in cursor.fetchall()
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
      leads are never charged, so neither is named.
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
    account_id = CreditAccount.objects.filter(clinic=clinic).values_list("id", flat=True).first()
    return CreditTransaction.objects.filter(account_id=account_id)


def transactions_for(*, clinic, kind=None, date_from=None, date_to=None):
    """A clinic's ledger entries, newest first."""
    entries = (
        entries_of(clinic=clinic)
        .select_related("lead")
        .prefetch_related("allocations")  # each row says which lots it drew from
    )
    if kind:
        entries = entries.filter(kind=kind)
    # Local days as a range of instants, which the (account, created_at) index serves.
    if date_from:
        entries = entries.filter(created_at__gte=local_midnight(date_from))
    if date_to:
        entries = entries.filter(created_at__lt=local_midnight(date_to + timedelta(days=1)))
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
    return _summary(entries_of(clinic=clinic).filter(created_at__gte=month_start()))


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
        entries_of(clinic=clinic)
        .filter(kind=Kind.LEAD_CHARGE, created_at__gte=local_midnight(first))
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
    """Ledger entries oldest first for export, as plain tuples (no model instances)."""
    entries = CreditTransaction.objects.all()
    if clinic is not None:
        entries = entries.filter(account__clinic=clinic)
    if date_from:
        entries = entries.filter(created_at__date__gte=date_from)
    if date_to:
        entries = entries.filter(created_at__date__lte=date_to)
    return entries.order_by("id").values_list(
        "id",
        "created_at",
        "account__clinic_id",
        "account__clinic__name",
        "kind",
        "credits",
        "balance_after",
        "lead_id",
        "actor__username",
        "idempotency_key",
        "memo",
    )


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

# The rupees a credit spent on a lead is worth, until credit lots record what each credit was
# paid: the top-up price of 1 credit = ₹1 (100 paise). Every page that shows it says
# "estimate". The one place to change when lots land.
SPEND_IS_ESTIMATE = True
ESTIMATED_PAISE_PER_CREDIT = 100


def spent_value_paise(*, credits: int) -> Fraction:
    """The rupee value (in paise, exact) of ``credits`` spent on leads: see above."""
    return Fraction(credits * ESTIMATED_PAISE_PER_CREDIT)


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
        CreditLot.objects.filter(account__clinic=clinic, remaining__gt=0)
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
    live = CreditLot.objects.filter(account__clinic=clinic, remaining__gt=0, expires_at__gt=now)
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
            remaining__gt=0,
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
