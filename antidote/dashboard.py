"""The figures on the admin index: one read across the apps, for staff at a glance."""

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from statistics import median

from django.db.models import Count, F, Min, Sum
from django.utils import timezone

from billing.models import CreditAccount, CreditTransaction, Kind, ReconciliationRun
from disputes.models import Dispute
from leads.models import Lead
from payments.models import PaymentOrder


@dataclass(frozen=True)
class MonthFigures:
    """000's admin figures for one calendar month (IST)."""

    month: date
    orders_created: int  # orders that reached Razorpay
    orders_paid: int
    average_topup_paise: int | None  # of the orders paid in the month
    promo_discount_paise: int  # given on the orders paid in the month
    disputes_decided: int
    median_resolution_hours: int | None  # opened → decided, for disputes decided in the month
    credits_paid: int
    credits_bonus: int

    @property
    def success_rate_percent(self) -> int | None:
        """Paid ÷ created, as a whole percentage rounded down (None without orders)."""
        if not self.orders_created:
            return None
        return self.orders_paid * 100 // self.orders_created

    @property
    def credits_total(self) -> int:
        return self.credits_paid + self.credits_bonus


def _month_starts(count: int) -> list[datetime]:
    """The first instants of this month and the ``count - 1`` before it, newest first."""
    start = timezone.localtime().replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    starts = [start]
    for _ in range(count - 1):
        previous = (starts[-1] - timedelta(days=1)).replace(day=1)
        starts.append(timezone.make_aware(previous.replace(tzinfo=None)))
    return starts


def month_figures(*, start: datetime, end: datetime) -> MonthFigures:
    created = PaymentOrder.objects.filter(
        created_at__gte=start, created_at__lt=end, razorpay_order_id__isnull=False
    )
    paid = PaymentOrder.objects.filter(
        status=PaymentOrder.Status.PAID, paid_at__gte=start, paid_at__lt=end
    )
    money = paid.aggregate(
        count=Count("pk"), total=Sum("amount_paise"), discount=Sum("discount_paise")
    )
    decided = Dispute.objects.filter(decided_at__gte=start, decided_at__lt=end).exclude(
        decided_at=None
    )
    seconds = [
        (decided_at - created_at).total_seconds()
        for created_at, decided_at in decided.values_list("created_at", "decided_at")
    ]
    kinds = dict(
        CreditTransaction.objects.filter(created_at__gte=start, created_at__lt=end)
        .values_list("kind")
        .annotate(total=Sum("credits"))
    )
    return MonthFigures(
        month=timezone.localtime(start).date(),
        orders_created=created.count(),
        orders_paid=created.filter(status=PaymentOrder.Status.PAID).count(),
        # Rupees are whole paise: the average rounds down to a paisa.
        average_topup_paise=money["total"] // money["count"] if money["count"] else None,
        promo_discount_paise=money["discount"] or 0,
        disputes_decided=len(seconds),
        median_resolution_hours=round(median(seconds) / 3600) if seconds else None,
        credits_paid=kinds.get(Kind.PURCHASE, 0),
        credits_bonus=kinds.get(Kind.BONUS, 0) + kinds.get(Kind.PROMO_BONUS, 0),
    )


def monthly_figures(*, months: int = 6) -> list[MonthFigures]:
    """000's figures for each of the last ``months`` months, newest first."""
    starts = _month_starts(months)
    ends = [timezone.now() + timedelta(seconds=1), *starts[:-1]]
    return [month_figures(start=s, end=e) for s, e in zip(starts, ends, strict=True)]


@dataclass(frozen=True)
class Figures:
    credits_sold: int
    credits_bonus: int
    credits_spent: int
    open_disputes: int
    oldest_open_dispute_days: int | None
    held_leads: int
    clinics_below_threshold: int
    clinics_in_debt: int
    overruns_to_review: int
    last_runs: list

    @property
    def credits_sold_total(self) -> int:
        return self.credits_sold + self.credits_bonus


def dashboard_figures() -> Figures:
    now = timezone.now()
    month = timezone.localtime(now).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    this_month = CreditTransaction.objects.filter(created_at__gte=month)
    sold = this_month.filter(kind=Kind.PURCHASE).aggregate(total=Sum("credits"))["total"] or 0
    bonus = (
        this_month.filter(kind__in=[Kind.BONUS, Kind.PROMO_BONUS]).aggregate(total=Sum("credits"))[
            "total"
        ]
        or 0
    )
    spent = this_month.filter(kind=Kind.LEAD_CHARGE).aggregate(total=Sum("credits"))["total"] or 0
    pending = Dispute.objects.filter(status=Dispute.Status.PENDING)
    oldest = pending.aggregate(oldest=Min("created_at"))["oldest"]
    last_runs = [
        ReconciliationRun.objects.filter(name=name).first() for name in ("ledger", "payments")
    ]
    return Figures(
        credits_sold=sold,
        credits_bonus=bonus,
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
