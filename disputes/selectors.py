"""Reads for disputes: lists, eligibility, quality scores and dispute rates."""

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.db.models import F, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from billing.models import IST
from disputes.models import Dispute, QualityDay


def disputes_for(*, clinic, status=None, dispute_type=None):
    disputes = Dispute.objects.filter(clinic=clinic).select_related("lead", "refund_entry")
    if status:
        disputes = disputes.filter(status=status)
    if dispute_type:
        disputes = disputes.filter(dispute_type=dispute_type)
    return disputes


@dataclass(frozen=True)
class QualityScore:
    """Disputes per 10 charged leads, rounded half up to a whole number, then rated.

    0 → Good, 1–2 → Average, 3 or more → Poor (the business plan). Only disputes that stand
    count: a rejected dispute means the lead was good, a cancelled one was withdrawn. Rounding
    half up: 1 dispute on 100 leads is 0.1 per 10 → 0 → Good; 1 on 20 is 0.5 → 1 → Average.
    """

    leads: int
    disputes: int

    RULE = "0 per 10 leads is Good, 1–2 Average, 3 or more Poor; the rate is rounded half up"

    @property
    def per_ten_rounded(self) -> int:
        # round(disputes * 10 / leads) half up, in integers: floor((20d + l) / 2l)
        return (self.disputes * 20 + self.leads) // (2 * self.leads) if self.leads else 0

    @property
    def per_ten(self) -> str:
        """The exact rate to one decimal, for showing the working (not money: a ratio)."""
        if not self.leads:
            return "0"
        return str(
            (Decimal(self.disputes * 10) / self.leads).quantize(Decimal("0.1"), ROUND_HALF_UP)
        )

    @property
    def rating(self) -> str:
        if not self.leads:
            return "No leads yet"
        rounded = self.per_ten_rounded
        if rounded == 0:
            return "Good"
        return "Average" if rounded <= 2 else "Poor"

    @property
    def rate_percent(self) -> int:
        return 0 if not self.leads else self.disputes * 100 // self.leads


def quality_window_start() -> date:
    """The first IST day of the score's window: the day that held the instant
    QUALITY_WINDOW_DAYS days ago, and every day since, today included.

    Whole days, because the counts are kept per day (``QualityDay``): the window holds every
    lead of the last QUALITY_WINDOW_DAYS × 24 hours, and the rest of its first day's.
    """
    now = timezone.now().astimezone(IST)
    return now.date() - timedelta(days=settings.QUALITY_WINDOW_DAYS)


def _window(clinic_ids=None):
    """The counters of charged leads that arrived in the window, and of their standing disputes
    (see ``QualityDay``): at most a window's days times the packages per clinic, whatever the
    number of leads."""
    rows = QualityDay.objects.filter(day__gte=quality_window_start()).order_by()
    return rows if clinic_ids is None else rows.filter(clinic_id__in=clinic_ids)


_TOTALS = {
    "leads": Coalesce(Sum("charged_leads"), 0),
    "disputes": Coalesce(Sum("standing_disputes"), 0),
}


def quality_score(*, clinic) -> QualityScore:
    """Over the clinic's charged leads that arrived in the last QUALITY_WINDOW_DAYS days."""
    totals = _window([clinic.pk]).aggregate(**_TOTALS)
    return QualityScore(leads=totals["leads"], disputes=totals["disputes"])


def quality_scores(*, clinic_ids) -> dict[int, QualityScore]:
    rows = _window(clinic_ids).values("clinic_id").annotate(**_TOTALS)
    scores = {row["clinic_id"]: QualityScore(row["leads"], row["disputes"]) for row in rows}
    return {pk: scores.get(pk, QualityScore(0, 0)) for pk in clinic_ids}


def dispute_rate_by_package(*, clinic=None, limit: int | None = None):
    """Which offers produce bad leads: leads and live disputes per package, worst first
    (disputes per 1,000 leads, rounded up), then by name; the first ``limit`` only if given.

    Sorted and cut in the database: the admin's queue shows the worst 10 of every clinic's
    packages, and built a row for each of them first."""
    counters = _window(None if clinic is None else [clinic.pk]).exclude(package=None)
    per_thousand = (F("disputes") * 1000 + F("leads") - 1) / F("leads")
    rows = (
        counters.values("package_id", "package__name", "clinic__name")
        .annotate(**_TOTALS)
        .filter(leads__gt=0)
        .order_by(per_thousand.desc(), "package__name", "package_id")
    )
    if limit is not None:
        rows = rows[:limit]
    return [{**row, "score": QualityScore(row["leads"], row["disputes"])} for row in rows]
