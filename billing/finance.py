"""The finance view of credit lots: deferred revenue, revenue recognised and breakage.

Read-only. Every rupee figure is worked out as an exact fraction (a paid lot is worth
``value_paise / value_credits`` a credit) and rounded once, per report line, to the nearest
paisa. The identity

    opening + sold + carried in + restored − recognised − breakage − reversed − adjusted
        − paid out ± transferred = closing

holds exactly on the fractions; ``identity_problems`` checks what it rests on, set-based.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time
from fractions import Fraction

from django.db import connection
from django.db.models import Case, F, Sum, Value, When
from django.db.models.functions import TruncMonth
from django.utils import timezone

from antidote.errors import AntidoteError
from billing.models import CreditLot, Kind, LotAllocation

PAID, BONUS = CreditLot.LotKind.PAID, CreditLot.LotKind.BONUS
MIGRATED = "Migrated"

# Which report line each kind of draw from a paid lot lands in.
_DRAW_LINE = {
    Kind.LEAD_CHARGE: "recognised",
    Kind.EXPIRY: "breakage",
    Kind.REVERSAL: "reversed",
    Kind.ADMIN_ADJUSTMENT: "adjusted",
    # A credit that covers an overdraft draws its own lot for leads already charged.
    Kind.PURCHASE: "recognised",
    Kind.BONUS: "recognised",
    Kind.PROMO_BONUS: "recognised",
    Kind.DISPUTE_REFUND: "recognised",
    Kind.TRANSFER_IN: "recognised",
    # Kind.TRANSFER_OUT: the "transferred" line, signed, in finance_months.
}
LINES = [
    ("opening", "Opening deferred revenue"),
    ("sold", "Paid credits sold"),
    ("carried_in", "Carried in by the lots migration"),
    ("restored", "Refunds restored"),
    ("recognised", "Revenue recognised"),
    ("breakage", "Breakage (paid credits expired)"),
    ("reversed", "Reversed (refunds and chargebacks at Razorpay)"),
    ("adjusted", "Adjusted down by staff"),
    ("paid_out", "Paid out"),
    ("transferred", "Transferred"),
    ("closing", "Closing deferred revenue"),
]
BONUS_LINES = [
    ("bonus_issued", "Bonus credits issued"),
    ("bonus_consumed", "Bonus credits consumed"),
    ("bonus_expired", "Bonus credits expired"),
]


@dataclass
class FinanceMonth:
    """One month's figures: rupee lines as exact fractions of paise, bonus lines in credits."""

    month: date
    paise: dict = field(default_factory=lambda: defaultdict(Fraction))
    bonus: dict = field(default_factory=lambda: defaultdict(int))

    def rounded(self, line: str) -> int:
        """The line in whole paise, rounded half up once."""
        value = self.paise[line]
        return (value.numerator * 2 + value.denominator) // (value.denominator * 2)

    def identity_gap(self) -> Fraction:
        p = self.paise
        return (
            p["opening"]
            + p["sold"]
            + p["carried_in"]
            + p["restored"]
            - p["recognised"]
            - p["breakage"]
            - p["reversed"]
            - p["adjusted"]
            - p["paid_out"]
            + p["transferred"]  # signed: in is positive, out negative
            - p["closing"]
        )


def parse_month(text: str) -> date:
    try:
        parsed = datetime.strptime(text, "%Y-%m")
    except (TypeError, ValueError):
        raise AntidoteError(f"A month is written YYYY-MM, e.g. 2026-04; got {text!r}.") from None
    if parsed.year < 2000:
        raise AntidoteError(f"{text} is before the ledger began.")
    return parsed.date()


def _bounds(month: date):
    tz = timezone.get_current_timezone()
    start = timezone.make_aware(datetime.combine(month, time()), tz)
    following = date(month.year + month.month // 12, month.month % 12 + 1, 1)
    return start, timezone.make_aware(datetime.combine(following, time()), tz)


def finance_months(*, month: date, clinic=None) -> dict[int, FinanceMonth]:
    """The month's figures per account id (a clinic's only, if given)."""
    start, end = _bounds(month)
    lots = CreditLot.objects.filter(created_at__lt=end)
    allocations = LotAllocation.objects.filter(entry__created_at__lt=end, lot__isnull=False)
    if clinic is not None:
        lots = lots.filter(account__clinic=clinic)
        allocations = allocations.filter(lot__account__clinic=clinic)
    report: dict[int, FinanceMonth] = defaultdict(lambda: FinanceMonth(month))
    value = {}
    for row in lots.values(
        "pk",
        "account_id",
        "kind",
        "granted",
        "value_paise",
        "value_credits",
        "created_at",
        "memo",
        "source__kind",
        "restored_from",
    ):
        figures = report[row["account_id"]]
        new = row["created_at"] >= start
        moved_in = row["source__kind"] == Kind.TRANSFER_IN
        if row["kind"] == BONUS:
            if new and not moved_in:  # bonus moved between locations was issued once
                figures.bonus["bonus_issued"] += row["granted"]
            continue
        per_credit = Fraction(row["value_paise"], row["value_credits"])
        value[row["pk"]] = (row["account_id"], per_credit)
        worth = per_credit * row["granted"]
        figures.paise["closing"] += worth
        if not new:
            figures.paise["opening"] += worth
        elif row["memo"].startswith(MIGRATED):
            figures.paise["carried_in"] += worth
        elif moved_in:
            figures.paise["transferred"] += worth
        elif row["source__kind"] == Kind.DISPUTE_REFUND or row["restored_from"] is not None:
            figures.paise["restored"] += worth
        else:
            figures.paise["sold"] += worth
    draws = (
        allocations.annotate(
            in_month=Case(When(entry__created_at__gte=start, then=Value(True)), default=False),
            given_back=Case(When(credits__lt=0, then=Value(True)), default=False),
        )
        .values("lot_id", "lot__kind", "lot__account_id", "entry__kind", "in_month", "given_back")
        .annotate(total=Sum("credits"))
    )
    for row in draws:
        moved_out = row["entry__kind"] == Kind.TRANSFER_OUT
        if row["lot__kind"] == BONUS:
            if row["in_month"] and not row["given_back"] and not moved_out:
                line = "bonus_expired" if row["entry__kind"] == Kind.EXPIRY else "bonus_consumed"
                report[row["lot__account_id"]].bonus[line] += row["total"]
            continue
        account_id, per_credit = value[row["lot_id"]]
        figures = report[account_id]
        worth = per_credit * row["total"]
        figures.paise["closing"] -= worth
        if not row["in_month"]:
            figures.paise["opening"] -= worth
        elif row["given_back"]:
            figures.paise["restored"] -= worth  # given back: a negative draw
        elif moved_out:
            figures.paise["transferred"] -= worth  # signed: out of this location
        else:
            figures.paise[_DRAW_LINE[row["entry__kind"]]] += worth
    return dict(report)


def finance_report(*, month: date, clinic=None) -> FinanceMonth:
    """The month's figures for the whole business (or one clinic)."""
    total = FinanceMonth(month)
    for figures in finance_months(month=month, clinic=clinic).values():
        for line, amount in figures.paise.items():
            total.paise[line] += amount
        for line, credits in figures.bonus.items():
            total.bonus[line] += credits
    return total


def report_rows(report: FinanceMonth) -> list[tuple[str, str]]:
    """(label, figure) rows: rupees to the paisa, then bonus credits."""
    rows = [(label, _rupees(report.rounded(line))) for line, label in LINES]
    rows += [(label, str(report.bonus[line])) for line, label in BONUS_LINES]
    return rows


def _rupees(paise: int) -> str:
    sign = "-" if paise < 0 else ""
    paise = abs(paise)
    return f"{sign}{paise // 100}.{paise % 100:02d}"


def identity_problems() -> list[str]:
    """Every lot whose ``remaining`` differs from what its allocations leave, and every draw
    the report could not place in its month: either leaves a clinic's month off the identity.

    ``finance_months`` counts each lot once in the month it was created and each draw once in
    the month of its entry, with the same exact value on both sides of the identity, so the
    identity holds for every clinic and month exactly when each lot's ``remaining`` is
    ``granted`` minus its allocations (the closing figure is what the lots hold now) and no
    entry drew from a lot created in a later month (every kind of entry has its report line,
    and the database's sign-per-kind constraint admits no other kind). Both are checked
    set-based, one query each, instead of building every month's report (which reads every
    lot once per month)."""
    problems = [
        f"lot #{pk} holds {remaining:,} credits but its allocations leave {expected:,}"
        for pk, remaining, expected in _lot_drift()
    ]
    for entry_id, lot_id in (
        LotAllocation.objects.filter(lot__isnull=False)
        .annotate(
            entry_month=TruncMonth("entry__created_at"), lot_month=TruncMonth("lot__created_at")
        )
        .filter(entry_month__lt=F("lot_month"))
        .values_list("entry_id", "lot_id")
        .order_by("id")
    ):
        problems.append(
            f"entry #{entry_id} drew from lot #{lot_id} in a month before the lot was created: "
            "the finance identity cannot hold for that month"
        )
    return problems


_DRIFT = f"""
    SELECT l.id, l.remaining, l.granted - COALESCE(d.drawn, 0)
    FROM {CreditLot._meta.db_table} l
    LEFT JOIN (SELECT lot_id, SUM(credits) AS drawn FROM {LotAllocation._meta.db_table}
               WHERE lot_id IS NOT NULL GROUP BY lot_id) d ON d.lot_id = l.id
    WHERE l.remaining <> l.granted - COALESCE(d.drawn, 0)
    ORDER BY l.id"""


def _lot_drift():
    """Lots whose ``remaining`` differs from granted − Σ allocations: one pass over each."""
    with connection.cursor() as cursor:
        cursor.execute(_DRIFT)
        return cursor.fetchall()
