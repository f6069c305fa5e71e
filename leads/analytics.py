"""Lead outcomes and return on spend: the analytics page, its CSV and the staff report.

Reads only, except for ``OutcomeMonth``, a pre-aggregate of this module's own direct
computation (``outcome_buckets``) per clinic, month, package and price tier. A saved lead or
dispute marks its (clinic, month) dirty in the writer's transaction (``mark_dirty``, wired in
``leads.receivers``); every reader first rebuilds the dirty buckets it is about to read
(``refresh_outcome_months``) from committed data, under the clinic's row lock, so the
aggregate is exact whenever it is read. Money figures come from billing's selectors: rupees
spent are the paid value of the credit lots each charge drew, net of refunds at the value they
went back at (``billing.selectors.lead_spend_paise``), kept per bucket as exact fractions.

Every rate and amount is computed from integers as an exact fraction and rounded once, where
it is shown (half up): a line's cost per lead is never a sum of rounded parts.
"""

import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from fractions import Fraction
from functools import cached_property

from django.db import connection, transaction
from django.db.models import Aggregate, Count, DurationField, F, Q, Sum, Value
from django.db.models.functions import Coalesce, Greatest, TruncMonth
from django.utils import timezone

from antidote.money import format_number, format_paise
from billing import selectors as billing
from billing.finance import finance_report
from leads.models import Clinic, Lead, OutcomeDirty, OutcomeMonth, Package

# The peer comparison is shown only with at least this many other clinics in the cohort, so it
# never stands for any one clinic.
PEER_COHORT_MINIMUM = 5
SPEED_WINDOW_DAYS = 90
STANDING_DISPUTES = ["pending", "approved", "rejected"]  # a cancelled dispute never counted


def month_of(moment: datetime) -> date:
    """The month (its first day, in the project's time zone) a lead arrived in."""
    return timezone.localtime(moment).date().replace(day=1)


def month_bounds(month: date) -> tuple[datetime, datetime]:
    start = timezone.make_aware(datetime.combine(month, time.min))
    following = (month + timedelta(days=32)).replace(day=1)
    return start, timezone.make_aware(datetime.combine(following, time.min))


def mark_dirty(*, clinic_id: int, created_at: datetime) -> None:
    """The lead arriving at ``created_at`` changed: rebuild its month before the next read."""
    OutcomeDirty.objects.create(clinic_id=clinic_id, month=month_of(created_at))


# The counts kept per bucket; each is an integer sum, so buckets add up to any line.
COUNTS = (
    "leads",
    "duplicates",
    "held",
    "charged",
    "contacted",
    "booked",
    "treated",
    "lost",
    "revenue_paise",
    "credits_charged",
    "credits_refunded",
    "disputes",
)
# The rupees kept per bucket: exact fractions of paise (stored as "n/d" text), which add up.
AMOUNTS = ("charged_paise", "refunded_paise")


def _group(prefix: str) -> dict:
    """A bucket's keys, as seen through ``prefix`` from a row that names the lead."""
    return {
        "c": F(f"{prefix}clinic_id"),
        "m": TruncMonth(f"{prefix}created_at"),
        "p": Coalesce(f"{prefix}package_id", 0),
        "t": F(f"{prefix}tier_min_price_paise"),
    }


def _empty_bucket() -> dict:
    return dict.fromkeys(COUNTS, 0) | dict.fromkeys(AMOUNTS, Fraction(0))


def outcome_buckets(*, clinic_ids, months=None) -> dict[tuple, dict]:
    """The direct computation: counts per (clinic, month, package id or 0, tier), from the
    leads, their standing disputes and the ledger. ``months`` (first days) narrows it."""
    where = _lead_where("", clinic_ids, months)
    group = _group("")
    buckets: dict[tuple, dict] = defaultdict(_empty_bucket)

    def key(row):
        return (row["c"], timezone.localtime(row["m"]).date(), row["p"], row["t"])

    leads = Lead.objects.filter(where).order_by().values(**group)
    for row in leads.annotate(
        leads=Count("id"),
        duplicates=Count("id", filter=Q(billing_state=Lead.Billing.DUPLICATE)),
        held=Count("id", filter=Q(billing_state__in=Lead.WAITING_STATES)),
        charged=Count("id", filter=Q(billing_state=Lead.Billing.CHARGED)),
        contacted=Count("id", filter=Q(first_contacted_at__isnull=False)),
        booked=Count("id", filter=Q(status__in=[Lead.Status.BOOKED, Lead.Status.TREATED])),
        treated=Count("id", filter=Q(status=Lead.Status.TREATED)),
        lost=Count("id", filter=Q(status=Lead.Status.LOST)),
        revenue_paise=Sum("revenue_paise", default=0),
    ):
        buckets[key(row)].update({name: row[name] for name in COUNTS if name in row})
    disputed = (
        Lead.objects.filter(where, disputes__status__in=STANDING_DISPUTES)
        .order_by()
        .values(**group)
        .annotate(n=Count("disputes"))
    )
    for row in disputed:
        buckets[key(row)]["disputes"] = row["n"]
    ledger_filter = _lead_where("lead__", clinic_ids, months)
    for row in billing.lead_credit_totals(lead_filter=ledger_filter, group=_group("lead__")):
        buckets[key(row)]["credits_charged"] = row["charged"]
        buckets[key(row)]["credits_refunded"] = row["refunded"]
    for row in billing.lead_spend_paise(
        lead_filter=lambda prefix: _lead_where(prefix, clinic_ids, months), group=_group
    ):
        for name in AMOUNTS:
            buckets[key(row)][name] += row[name]
    return dict(buckets)


def _lead_where(prefix: str, clinic_ids, months) -> Q:
    """Leads of ``clinic_ids`` that arrived in ``months`` (all months if None), as seen from
    a lead (``prefix=""``) or from its ledger entries (``"lead__"``)."""
    where = Q(**{f"{prefix}clinic_id__in": list(clinic_ids)})
    if months is not None:
        spans = Q()
        for month in months:
            start, end = month_bounds(month)
            spans |= Q(**{f"{prefix}created_at__gte": start, f"{prefix}created_at__lt": end})
        where &= spans
    return where


def refresh_outcome_months(*, clinic_ids=None) -> int:
    """Rebuild every dirty bucket (of ``clinic_ids``, or all); the number of months rebuilt.

    One clinic at a time, under its row lock (the first lock, as everywhere), so two readers
    never interleave a rebuild; only the markers seen are deleted, so a change committed
    meanwhile leaves its own marker for the next read.
    """
    markers = OutcomeDirty.objects.all()
    if clinic_ids is not None:
        markers = markers.filter(clinic_id__in=list(clinic_ids))
    by_clinic = defaultdict(list)
    for pk, clinic_id in markers.values_list("pk", "clinic_id"):
        by_clinic[clinic_id].append(pk)
    rebuilt = 0
    for clinic_id, marker_ids in by_clinic.items():
        with transaction.atomic():
            Clinic.objects.select_for_update().filter(pk=clinic_id).exists()
            seen = OutcomeDirty.objects.filter(pk__in=marker_ids)
            months = sorted(set(seen.values_list("month", flat=True)))
            if not months:
                continue  # another reader rebuilt them first
            _write_buckets(
                clinic_id, months, outcome_buckets(clinic_ids=[clinic_id], months=months)
            )
            seen.delete()
            rebuilt += len(months)
    return rebuilt


def rebuild_outcome_months(*, clinic_id: int) -> None:
    """Rebuild a clinic's every month from scratch (after a bulk load that bypassed saves)."""
    with transaction.atomic():
        Clinic.objects.select_for_update().filter(pk=clinic_id).exists()
        OutcomeMonth.objects.filter(clinic_id=clinic_id).delete()
        OutcomeDirty.objects.filter(clinic_id=clinic_id).delete()
        _write_buckets(clinic_id, [], outcome_buckets(clinic_ids=[clinic_id]))


def _write_buckets(clinic_id: int, months: list[date], buckets: dict) -> None:
    OutcomeMonth.objects.filter(clinic_id=clinic_id, month__in=months).delete()
    names = dict(
        Package.objects.filter(pk__in={key[2] for key in buckets}).values_list("pk", "name")
    )
    OutcomeMonth.objects.bulk_create(
        OutcomeMonth(
            clinic_id=clinic,
            month=month,
            package_id=package or None,
            package_key=package,
            package_name=names.get(package, ""),
            tier_min_price_paise=tier,
            **{name: str(value) for name, value in counts.items()},
        )
        for (clinic, month, package, tier), counts in sorted(buckets.items())
    )


# Lines and their metrics ---------------------------------------------------------------------


def _ratio(numerator, denominator) -> Fraction | None:
    return Fraction(numerator) / denominator if denominator else None


def round_half_up(value: Fraction) -> int:
    return int((value * 2 + 1) // 2)


@dataclass
class OutcomeLine:
    """One line of the report: a month, or a month's package and tier, or a total."""

    month: date | None = None
    package_name: str = ""
    tier_min_price_paise: int | None = None
    leads: int = 0
    duplicates: int = 0
    held: int = 0
    charged: int = 0
    contacted: int = 0
    booked: int = 0
    treated: int = 0
    lost: int = 0
    revenue_paise: int = 0
    credits_charged: int = 0
    credits_refunded: int = 0
    disputes: int = 0
    charged_paise: Fraction = Fraction(0)
    refunded_paise: Fraction = Fraction(0)
    children: list = field(default_factory=list, repr=False)

    def add(self, counts) -> None:
        """Add another line's, or an ``OutcomeMonth`` row's, figures (its amounts are text)."""
        for name in COUNTS:
            setattr(self, name, getattr(self, name) + getattr(counts, name))
        for name in AMOUNTS:
            setattr(self, name, getattr(self, name) + Fraction(getattr(counts, name)))

    # What a clinic paid for and worked: leads whose contact it saw (not waiting for credits).
    @property
    def worked(self) -> int:
        return self.leads - self.held

    @property
    def credits_spent(self) -> int:
        return self.credits_charged - self.credits_refunded

    @property
    def spent_paise(self) -> Fraction:
        """At the paid value of the lots drawn, net of refunds (see the module docstring)."""
        return self.charged_paise - self.refunded_paise

    @property
    def cost_per_lead(self) -> Fraction | None:
        return _ratio(self.spent_paise, self.charged)

    @property
    def contact_rate(self) -> Fraction | None:
        return _ratio(self.contacted, self.worked)

    @property
    def booking_rate(self) -> Fraction | None:
        return _ratio(self.booked, self.worked)

    @property
    def cost_per_booking(self) -> Fraction | None:
        return _ratio(self.spent_paise, self.booked)

    @property
    def return_on_spend(self) -> Fraction | None:
        return _ratio(self.revenue_paise, self.spent_paise)

    @property
    def dispute_rate(self) -> Fraction | None:
        return _ratio(self.disputes, self.charged)

    @cached_property
    def cells(self) -> list[str]:
        """The line's values as the page and the CSV show them."""
        return [show(value(self), kind) for _, value, kind in COLUMNS]

    @property
    def spent_rupees(self) -> int:
        """For the chart: whole rupees spent."""
        return round_half_up(self.spent_paise / 100)


# The page's and the CSV's columns, in order: (heading, how to show the line's value).
def _paise(value) -> int | None:
    return None if value is None else round_half_up(value)


def _percent(value) -> Fraction | None:
    return None if value is None else value * 100


COLUMNS = [
    ("Leads delivered", lambda line: line.leads, "num"),
    ("Duplicates", lambda line: line.duplicates, "num"),
    ("Held", lambda line: line.held, "num"),
    ("Credits spent", lambda line: line.credits_spent, "num"),
    ("Rupees spent", lambda line: _paise(line.spent_paise), "paise"),
    ("Cost per lead", lambda line: _paise(line.cost_per_lead), "paise"),
    ("Contact rate", lambda line: _percent(line.contact_rate), "percent"),
    ("Booking rate", lambda line: _percent(line.booking_rate), "percent"),
    ("Cost per booked patient", lambda line: _paise(line.cost_per_booking), "paise"),
    ("Revenue reported", lambda line: line.revenue_paise, "paise"),
    ("Return on spend", lambda line: line.return_on_spend, "times"),
    ("Dispute rate", lambda line: _percent(line.dispute_rate), "percent"),
    ("Credits refunded", lambda line: line.credits_refunded, "num"),
    ("Rupees refunded", lambda line: _paise(line.refunded_paise), "paise"),
]


def show(value, kind: str) -> str:
    """A column's value for the page and the CSV alike: rounded once, here."""
    if value is None:
        return "—"
    if kind == "num":
        return format_number(value)
    if kind == "paise":
        return format_paise(value)
    if kind == "percent":
        return f"{round_half_up(value * 10) / 10:.1f}%"
    return f"{round_half_up(value * 100) / 100:.2f}×"


def show_duration(seconds: int | None) -> str:
    if seconds is None:
        return "—"
    minutes = round_half_up(Fraction(seconds, 60))
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{round_half_up(Fraction(hours, 24))} days"


@dataclass
class ClinicReport:
    months: list[OutcomeLine]  # oldest first, each with its package and tier lines
    total: OutcomeLine
    median_response_seconds: int | None
    peer_booking_rate: Fraction | None
    peer_cohort_size: int

    @property
    def median_response(self) -> str:
        return show_duration(self.median_response_seconds)

    @property
    def peer_booking_percent(self) -> str:
        return show(_percent(self.peer_booking_rate), "percent")

    @property
    def headings(self) -> list[str]:
        return [heading for heading, _, _ in COLUMNS]


def last_months(count: int, today: date | None = None) -> list[date]:
    month = (today or timezone.localdate()).replace(day=1)
    months = [month]
    for _ in range(count - 1):
        month = (month - timedelta(days=1)).replace(day=1)
        months.append(month)
    return months[::-1]


def _lines(rows, months) -> tuple[list[OutcomeLine], OutcomeLine]:
    by_month = {month: OutcomeLine(month=month) for month in months}
    total = OutcomeLine()
    for row in rows:
        line = OutcomeLine(
            month=row.month,
            package_name=row.package_name or "General enquiry",
            tier_min_price_paise=row.tier_min_price_paise,
        )
        line.add(row)
        by_month[row.month].add(line)
        by_month[row.month].children.append(line)
        total.add(line)
    return list(by_month.values()), total


def clinic_report(*, clinic, months: int = 12) -> ClinicReport:
    """The analytics page: the last ``months`` months, with speed to lead and the peers."""
    span = last_months(months)
    refresh_outcome_months(clinic_ids=[clinic.pk])
    rows = OutcomeMonth.objects.filter(clinic=clinic, month__gte=span[0]).order_by(
        "month", "tier_min_price_paise", "package_name"
    )
    lines, total = _lines(rows, span)
    peer_rate, cohort = peer_booking_rate(clinic=clinic, since=span[0])
    return ClinicReport(
        months=lines,
        total=total,
        median_response_seconds=median_response_seconds(clinic_ids=[clinic.pk]),
        peer_booking_rate=peer_rate,
        peer_cohort_size=cohort,
    )


@dataclass
class ChainReport:
    """Each location's figures over the months shown, and the whole chain's."""

    organisation: object
    locations: list[tuple[Clinic, OutcomeLine]]
    total: OutcomeLine

    @property
    def headings(self) -> list[str]:
        return [heading for heading, _, _ in COLUMNS]


def chain_report(*, organisation, months: int = 12) -> ChainReport:
    """The last ``months`` months of every location of ``organisation``, from the same
    buckets as each location's own report, so a location's line is its report's total."""
    since = last_months(months)[0]
    clinics = list(organisation.clinics.order_by("name"))
    refresh_outcome_months(clinic_ids=[clinic.pk for clinic in clinics])
    lines = {clinic.pk: OutcomeLine() for clinic in clinics}
    for row in OutcomeMonth.objects.filter(clinic__in=clinics, month__gte=since):
        lines[row.clinic_id].add(row)
    total = OutcomeLine()
    for line in lines.values():
        total.add(line)
    return ChainReport(
        organisation=organisation,
        locations=[(clinic, lines[clinic.pk]) for clinic in clinics],
        total=total,
    )


def median_response_seconds(*, clinic_ids=None, since=None, until=None) -> int | None:
    """Speed to lead: the median time from a lead's contact being shown to the clinic (when it
    was charged, or arrived if never charged) to its first contact, over leads first contacted
    in the window (the last ``SPEED_WINDOW_DAYS`` days by default). Whole seconds."""
    since = since or timezone.now() - timedelta(days=SPEED_WINDOW_DAYS)
    leads = Lead.objects.filter(first_contacted_at__gte=since)
    if until is not None:
        leads = leads.filter(first_contacted_at__lt=until)
    if clinic_ids is not None:
        leads = leads.filter(clinic_id__in=list(clinic_ids))
    if connection.vendor == "postgresql":
        # In the database: the rows never travel (thousands for a busy clinic's 90 days).
        wait = Greatest(
            F("first_contacted_at") - Coalesce("charged_at", "created_at"),
            Value(timedelta(0)),
            output_field=DurationField(),
        )
        median = leads.aggregate(median=MedianLow(wait))["median"]
        return None if median is None else int(median.total_seconds())
    waits = [
        max(0, int((contacted - shown).total_seconds()))
        for contacted, shown in leads.annotate(shown=Coalesce("charged_at", "created_at"))
        .order_by()
        .values_list("first_contacted_at", "shown")
        .iterator()
    ]
    return int(statistics.median_low(waits)) if waits else None


class MedianLow(Aggregate):
    """PostgreSQL's ``percentile_disc(0.5)``: the lower middle value, as ``median_low``."""

    function = "PERCENTILE_DISC"
    template = "%(function)s(0.5) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = DurationField()


def main_tier(rows) -> dict[int, int]:
    """Each clinic's tier: the price tier most of its charged leads came in (lowest on a tie)."""
    per_clinic = defaultdict(lambda: defaultdict(int))
    for clinic_id, tier, charged in rows:
        per_clinic[clinic_id][tier] += charged
    return {
        clinic_id: min(tiers, key=lambda tier: (-tiers[tier], tier))
        for clinic_id, tiers in per_clinic.items()
        if any(tiers.values())
    }


def peer_booking_rate(*, clinic, since: date) -> tuple[Fraction | None, int]:
    """ "Clinics in your city and tier book X% of leads": the pooled booking rate of the other
    active clinics in the same city whose main tier is this clinic's, and how many they are.
    None unless there are at least ``PEER_COHORT_MINIMUM`` of them."""
    city = Clinic.objects.filter(city__iexact=clinic.city, is_active=True)
    city_ids = list(city.values_list("pk", flat=True))
    refresh_outcome_months(clinic_ids=city_ids)
    recent = OutcomeMonth.objects.filter(clinic_id__in=city_ids, month__gte=since)
    tiers = main_tier(recent.values_list("clinic_id", "tier_min_price_paise", "charged"))
    mine = tiers.get(clinic.pk)
    cohort = [pk for pk, tier in tiers.items() if tier == mine and pk != clinic.pk]
    if mine is None or len(cohort) < PEER_COHORT_MINIMUM:
        return None, len(cohort)
    totals = recent.filter(clinic_id__in=cohort).aggregate(
        booked=Sum("booked", default=0),
        leads=Sum("leads", default=0),
        held=Sum("held", default=0),
    )
    return _ratio(totals["booked"], totals["leads"] - totals["held"]), len(cohort)


def report_rows(report: ClinicReport):
    """The CSV: one row per month, package and tier, then the month's total, then the total."""
    yield ["Month", "Package", "Price tier from", *(heading for heading, _, _ in COLUMNS)]

    for month in report.months:
        for line in month.children:
            yield [
                f"{line.month:%Y-%m}",
                line.package_name,
                format_paise(line.tier_min_price_paise),
                *line.cells,
            ]
        yield [f"{month.month:%Y-%m}", "All", "All", *month.cells]
    yield ["Total", "All", "All", *report.total.cells]


def chain_rows(report: ChainReport):
    """The chain's CSV: one row per location, then all locations."""
    yield ["Location", *report.headings]
    for clinic, line in report.locations:
        yield [clinic.name, *line.cells]
    yield [f"All locations of {report.organisation}", *report.total.cells]


# The staff report -----------------------------------------------------------------------------


@dataclass
class AtRisk:
    clinic: Clinic
    reasons: list[str]


@dataclass
class MarketplaceReport:
    month: date
    credits_sold: int
    credits_spent: int
    revenue_recognised_paise: int
    median_response_seconds: int | None
    by_tier: list[OutcomeLine]
    total: OutcomeLine
    at_risk: list[AtRisk]

    @property
    def median_response(self) -> str:
        return show_duration(self.median_response_seconds)


AT_RISK_HELD = 3  # held leads with a low balance
AT_RISK_DISPUTE_RATE = Fraction(1, 5)  # disputes per charged lead over the window
AT_RISK_SLOW_SHARE = Fraction(1, 2)  # "most leads" not contacted within a day
AT_RISK_MINIMUM_LEADS = 5  # fewer than this says nothing about a rate


def marketplace_report(*, month: date) -> MarketplaceReport:
    """The staff's monthly report, from the same aggregate as the clinics' pages; revenue
    recognised is the finance report's line for the month (paid credits that charges consumed
    in the month, at each lot's value), so the two never disagree."""
    start, end = month_bounds(month)
    refresh_outcome_months()
    credits = billing.credits_sold_and_spent(start=start, end=end)
    rows = OutcomeMonth.objects.filter(month=month)
    tiers: dict[int, OutcomeLine] = {}
    total = OutcomeLine(month=month)
    for row in rows:
        line = tiers.setdefault(
            row.tier_min_price_paise,
            OutcomeLine(month=month, tier_min_price_paise=row.tier_min_price_paise),
        )
        line.add(row)
        total.add(row)
    spent = credits.spent - credits.refunded
    return MarketplaceReport(
        month=month,
        credits_sold=credits.purchased,
        credits_spent=spent,
        revenue_recognised_paise=finance_report(month=month).rounded("recognised"),
        median_response_seconds=median_response_seconds(since=start, until=end),
        by_tier=[tiers[tier] for tier in sorted(tiers)],
        total=total,
        at_risk=clinics_at_risk(),
    )


def clinics_at_risk(*, now=None) -> list[AtRisk]:
    """Low balance with held leads waiting, a high dispute rate, or most leads not contacted
    within 24 hours of being shown (over the last ``SPEED_WINDOW_DAYS`` days)."""
    now = now or timezone.now()
    since = now - timedelta(days=SPEED_WINDOW_DAYS)
    reasons = defaultdict(list)
    low = billing.low_balance_clinic_ids()
    held = dict(
        Lead.objects.filter(billing_state=Lead.Billing.HELD, clinic_id__in=low)
        .order_by()
        .values_list("clinic_id")
        .annotate(n=Count("id"))
    )
    for clinic_id, count in held.items():
        if count >= AT_RISK_HELD:
            reasons[clinic_id].append(f"low balance with {count} held leads")
    recent = Lead.objects.filter(created_at__gte=since, billing_state=Lead.Billing.CHARGED)
    per_clinic = (
        recent.order_by()
        .values_list("clinic_id")
        .annotate(
            charged=Count("id"),
            disputes=Count(
                "disputes", filter=Q(disputes__status__in=STANDING_DISPUTES), distinct=True
            ),
            slow=Count(
                "id",
                filter=Q(first_contacted_at__isnull=True, charged_at__lt=now - timedelta(days=1))
                | Q(first_contacted_at__gt=F("charged_at") + timedelta(days=1)),
                distinct=True,
            ),
        )
    )
    for clinic_id, charged, disputes, slow in per_clinic:
        if charged < AT_RISK_MINIMUM_LEADS:
            continue
        if Fraction(disputes, charged) >= AT_RISK_DISPUTE_RATE:
            reasons[clinic_id].append(f"{disputes} disputes on {charged} charged leads")
        if Fraction(slow, charged) > AT_RISK_SLOW_SHARE:
            reasons[clinic_id].append(f"{slow} of {charged} leads not contacted within 24 hours")
    clinics = Clinic.objects.in_bulk(list(reasons))
    return [
        AtRisk(clinics[pk], reasons[pk]) for pk in sorted(reasons, key=lambda pk: clinics[pk].name)
    ]
