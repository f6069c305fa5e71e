"""The finance view of credit lots: deferred revenue, revenue recognised and breakage.

Read-only. Every rupee figure is worked out as an exact fraction (a paid lot is worth
``value_paise / value_credits`` a credit) and rounded once, per report line, to the nearest
paisa. The identity

    opening + sold + carried in + restored − recognised − breakage − reversed − adjusted
        − paid out ± transferred = closing

holds exactly on the fractions; ``identity_problems`` checks it for every clinic and month,
and that the closing figure of the current month matches what the lots hold now.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time
from fractions import Fraction

from django.db.models import Case, Sum, Value, When
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
        if row["kind"] == BONUS:
            if new:
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
        if row["lot__kind"] == BONUS:
            if row["in_month"] and not row["given_back"]:
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


def identity_problems(*, months=None) -> list[str]:
    """Every clinic and month where the identity fails, and any current lot that differs
    from what the allocations say it should hold."""
    first = CreditLot.objects.order_by("created_at").values_list("created_at", flat=True).first()
    if first is None:
        return []
    if months is None:
        months = []
        cursor = timezone.localtime(first).date().replace(day=1)
        last = timezone.localdate().replace(day=1)
        while cursor <= last:
            months.append(cursor)
            cursor = date(cursor.year + cursor.month // 12, cursor.month % 12 + 1, 1)
    problems = [
        f"lot #{pk} holds {remaining:,} credits but its allocations leave {expected:,}"
        for pk, remaining, expected in _lot_drift()
    ]
    for month in months:
        for account_id, figures in finance_months(month=month).items():
            gap = figures.identity_gap()
            if gap:
                problems.append(
                    f"account #{account_id}, {month:%Y-%m}: the finance identity is off by "
                    f"{gap} paise (an exact fraction)"
                )
    return problems


def _lot_drift():
    """Lots whose ``remaining`` differs from granted − Σ allocations."""
    drawn = dict(
        LotAllocation.objects.filter(lot__isnull=False)
        .values_list("lot_id")
        .annotate(total=Sum("credits"))
    )
    for pk, granted, remaining in CreditLot.objects.values_list("pk", "granted", "remaining"):
        expected = granted - drawn.get(pk, 0)
        if expected != remaining:
            yield pk, remaining, expected
