"""Billing pages of the clinic portal."""

from django.http import Http404, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from antidote.csv import csv_lines  # memos are user text: no cell may start a formula
from antidote.filters import bad_filters_csv
from antidote.paging import CursorForm, count_rows
from antidote.portal import clinic_member_required
from billing import api
from billing.forms import HistoryFilterForm
from billing.selectors import (
    credit_lots,
    is_own_entry,
    leads_by_tier,
    lot_split,
    month_start,
    month_summary,
    spend_per_day,
    transactions_for,
)

# The spending chart, in SVG user units: a plot area with a y axis on the left (its values)
# and an x axis below (dates). Heights are attributes, never inline styles (the CSP).
CHART_HEIGHT = 160
CHART_LEFT = 44
BAR_STEP = 14
BAR_WIDTH = 10


def _nice_ceiling(value: int) -> int:
    """The axis maximum: the peak rounded up to 1, 2 or 5 times a power of ten."""
    step = 1
    while True:
        for factor in (1, 2, 5):
            if step * factor >= value:
                return step * factor
        step *= 10


def spending_chart(days) -> dict:
    top = _nice_ceiling(max((credits for _, credits in days), default=0) or 1)
    bars = []
    for i, (day, credits) in enumerate(days):
        height = credits * CHART_HEIGHT // top
        bars.append(
            {
                "day": day,
                "credits": credits,
                "x": CHART_LEFT + i * BAR_STEP + (BAR_STEP - BAR_WIDTH) // 2,
                "y": CHART_HEIGHT - height,
                "height": height,
                "label_x": CHART_LEFT + i * BAR_STEP + BAR_STEP // 2,
                "label_y": max(CHART_HEIGHT - height - 3, 10),
            }
        )
    ticks = [{"value": top * k // 4, "y": CHART_HEIGHT - CHART_HEIGHT * k // 4} for k in range(5)]
    return {
        "bars": bars,
        "ticks": ticks,
        "height": CHART_HEIGHT,
        "left": CHART_LEFT,
        "right": CHART_LEFT + len(days) * BAR_STEP,
        "width": CHART_LEFT + len(days) * BAR_STEP + 8,
        "bar_width": BAR_WIDTH,
    }


@require_GET
@clinic_member_required
def billing_dashboard(request):
    clinic = request.clinic
    days = spend_per_day(clinic=clinic, days=30)
    # The reverse relation, not an import: billing stands below disputes.
    open_disputes = clinic.disputes.filter(status="pending").count()
    context = {
        "chart": spending_chart(days),
        "spent_30_days": sum(credits for _, credits in days),
        "month": month_summary(clinic=clinic),
        "leads_this_month": clinic.leads.filter(created_at__gte=month_start()).count(),
        "tiers": leads_by_tier(clinic=clinic),
        "open_disputes": open_disputes,
        "recent": transactions_for(clinic=clinic)[:20],
        "split": lot_split(clinic=clinic),
        "lots": credit_lots(clinic=clinic)[:50],
    }
    return render(request, "billing/billing_dashboard.html", context)


def _wants_json(request) -> bool:
    return request.GET.get("format") == "json" or "application/json" in request.headers.get(
        "Accept", ""
    )


@require_GET
def credits_history(request):
    """One address, three answers: the HTML page, its CSV download, or JSON for scripts."""
    if _wants_json(request):
        return api.history(request)
    return _history_page(request)


HISTORY_PAGE_SIZE = 20
CSV_HEADER = ["id", "created_at", "kind", "credits", "balance_after", "lead_id", "memo"]


def _csv_rows(entries):
    yield CSV_HEADER
    for e in entries.iterator(chunk_size=2000):
        created = timezone.localtime(e.created_at).isoformat()
        yield [e.pk, created, e.kind, e.credits, e.balance_after, e.lead_id or "", e.memo]


@clinic_member_required
def _history_page(request):
    form = HistoryFilterForm(request.GET or None)
    valid = not form.is_bound or form.is_valid()
    if request.GET.get("format") == "csv" and not valid:
        return bad_filters_csv(form)  # as the JSON answers 400
    filters = form.cleaned_data if form.is_bound and valid else {}
    entries = transactions_for(clinic=request.clinic, **filters)
    if not valid:
        entries = entries.none()
    if request.GET.get("format") == "csv":
        response = StreamingHttpResponse(csv_lines(_csv_rows(entries)), content_type="text/csv")
        stamp = timezone.localdate().isoformat()
        name = f"credits-{request.clinic.slug}-{stamp}.csv"
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response
    cursor = CursorForm(request.GET)
    if not cursor.is_valid():
        form.add_error(None, [e for errors in cursor.errors.values() for e in errors])
        return render(request, _history_template(request), {"form": form}, status=400)
    edge = cursor.cleaned_data["before"] or cursor.cleaned_data["after"]
    if edge and not is_own_entry(clinic=request.clinic, entry_id=edge):
        raise Http404("That page of history is not in this clinic's ledger.")
    page = cursor.page_of(entries, size=HISTORY_PAGE_SIZE)
    query = request.GET.copy()
    for name in ("before", "after", "page"):
        query.pop(name, None)
    context = {
        "form": form,
        "page": page,
        "count": count_rows(entries) if valid else None,
        "query": query.urlencode(),
    }
    return render(request, _history_template(request), context, status=200 if valid else 400)


def _history_template(request) -> str:
    return "billing/history.html#history-table" if request.htmx else "billing/history.html"
