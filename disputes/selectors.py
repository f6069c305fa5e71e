"""Reads for disputes: lists, eligibility, quality scores and dispute rates."""

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db.models import Count, Q
from django.utils import timezone

from disputes.models import Dispute
from leads.models import Lead


def disputes_for(*, clinic, status=None, dispute_type=None):
    disputes = Dispute.objects.filter(clinic=clinic).select_related("lead", "refund_entry")
    if status:
        disputes = disputes.filter(status=status)
    if dispute_type:
        disputes = disputes.filter(dispute_type=dispute_type)
    return disputes


@dataclass(frozen=True)
class QualityScore:
    leads: int
    disputes: int

    @property
    def rating(self) -> str:
        """Disputes per 10 leads: 0 → Good, up to 2 → Average, 3 or more → Poor."""
        if not self.leads:
            return "No leads yet"
        ten_x = self.disputes * 10  # compare disputes/leads*10 with integers only
        if ten_x == 0:
            return "Good"
        return "Average" if ten_x < 3 * self.leads else "Poor"

    @property
    def rate_percent(self) -> int:
        return 0 if not self.leads else self.disputes * 100 // self.leads


def _recent_charged(clinic_ids=None):
    since = timezone.now() - timedelta(days=settings.QUALITY_WINDOW_DAYS)
    leads = Lead.objects.filter(billing_state=Lead.Billing.CHARGED, created_at__gte=since)
    return leads if clinic_ids is None else leads.filter(clinic_id__in=clinic_ids)


_DISPUTED = Count("disputes", filter=~Q(disputes__status=Dispute.Status.CANCELLED), distinct=True)


def quality_score(*, clinic) -> QualityScore:
    """Over the clinic's charged leads of the last QUALITY_WINDOW_DAYS days."""
    totals = _recent_charged([clinic.pk]).aggregate(leads=Count("id"), disputes=_DISPUTED)
    return QualityScore(leads=totals["leads"], disputes=totals["disputes"])


def quality_scores(*, clinic_ids) -> dict[int, QualityScore]:
    rows = (
        _recent_charged(clinic_ids)
        .values("clinic_id")
        .annotate(leads=Count("id"), disputes=_DISPUTED)
    )
    scores = {row["clinic_id"]: QualityScore(row["leads"], row["disputes"]) for row in rows}
    return {pk: scores.get(pk, QualityScore(0, 0)) for pk in clinic_ids}


def dispute_rate_by_package(*, clinic=None):
    """Which offers produce bad leads: leads and live disputes per package, worst first."""
    leads = _recent_charged(None if clinic is None else [clinic.pk]).exclude(package=None)
    rows = leads.values("package_id", "package__name", "clinic__name").annotate(
        leads=Count("id"), disputes=_DISPUTED
    )
    return sorted(
        ({**row, "score": QualityScore(row["leads"], row["disputes"])} for row in rows),
        key=lambda row: (-row["disputes"] * 1000 // row["leads"], row["package__name"]),
    )
