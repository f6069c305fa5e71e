"""The figures on the admin index: one read across the apps, for staff at a glance."""

from dataclasses import dataclass

from django.db.models import F, Min, Sum
from django.utils import timezone

from billing.models import CreditAccount, CreditTransaction, Kind, ReconciliationRun
from disputes.models import Dispute
from leads.models import Lead
from payments.models import PaymentOrder


@dataclass(frozen=True)
class Figures:
    credits_sold: int
    credits_spent: int
    open_disputes: int
    oldest_open_dispute_days: int | None
    held_leads: int
    clinics_below_threshold: int
    clinics_in_debt: int
    overruns_to_review: int
    last_runs: list


def dashboard_figures() -> Figures:
    now = timezone.now()
    month = timezone.localtime(now).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    this_month = CreditTransaction.objects.filter(created_at__gte=month)
    sold = this_month.filter(kind=Kind.PURCHASE).aggregate(total=Sum("credits"))["total"] or 0
    spent = this_month.filter(kind=Kind.LEAD_CHARGE).aggregate(total=Sum("credits"))["total"] or 0
    pending = Dispute.objects.filter(status=Dispute.Status.PENDING)
    oldest = pending.aggregate(oldest=Min("created_at"))["oldest"]
    last_runs = [
        ReconciliationRun.objects.filter(name=name).first() for name in ("ledger", "payments")
    ]
    return Figures(
        credits_sold=sold,
        credits_spent=-spent,
        open_disputes=pending.count(),
        oldest_open_dispute_days=(now - oldest).days if oldest else None,
        held_leads=Lead.objects.filter(billing_state=Lead.Billing.HELD).count(),
        clinics_below_threshold=CreditAccount.objects.filter(
            balance__lt=F("low_balance_threshold")
        ).count(),
        clinics_in_debt=CreditAccount.objects.filter(in_debt=True).count(),
        overruns_to_review=PaymentOrder.objects.filter(
            promo_overrun_paise__gt=0, overrun_acknowledged_at=None
        ).count(),
        last_runs=[run for run in last_runs if run is not None],
    )
