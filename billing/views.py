"""Billing pages of the clinic portal."""

from django.core.paginator import Paginator
from django.http import StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from antidote.csv import csv_lines  # memos are user text: no cell may start a formula
from antidote.filters import bad_filters_csv
from antidote.portal import clinic_member_required
from billing import api
from billing.forms import HistoryFilterForm
from billing.selectors import credit_lots, lot_split, spend_per_day, transactions_for

CHART_HEIGHT = 120


@require_GET
@clinic_member_required
def billing_dashboard(request):
    days = spend_per_day(clinic=request.clinic, days=30)
    peak = max((credits for _, credits in days), default=0) or 1
    bars = []
    for i, (day, credits) in enumerate(days):
        height = credits * CHART_HEIGHT // peak
        bars.append(
            {
                "day": day,
                "credits": credits,
                "x": i * 20 + 2,
                "y": CHART_HEIGHT - height,
                "height": height,
            }
        )
    context = {
        "bars": bars,
        "chart_height": CHART_HEIGHT,
        "spent_30_days": sum(credits for _, credits in days),
        "recent": transactions_for(clinic=request.clinic)[:20],
        "split": lot_split(clinic=request.clinic),
        "lots": credit_lots(clinic=request.clinic)[:50],
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
    page = Paginator(entries, 20).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {"form": form, "page": page, "query": query.urlencode()}
    template = "billing/history.html#history-table" if request.htmx else "billing/history.html"
    return render(request, template, context, status=200 if valid else 400)
