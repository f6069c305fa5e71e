"""Billing pages of the clinic portal."""

import uuid

from django.contrib import messages
from django.http import Http404, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from antidote.csv import NUMBER, TEXT, TIME, export_csv  # memos are user text: no formulas
from antidote.errors import AntidoteError
from antidote.filters import bad_filters_csv
from antidote.money import format_number
from antidote.paging import CursorForm, count_rows
from antidote.portal import clinic_member_required
from billing import api, services
from billing.forms import BudgetForm, HistoryFilterForm, TransferForm
from billing.selectors import (
    account_of,
    budget_summary,
    credit_lots,
    is_own_entry,
    leads_by_tier,
    lot_split,
    month_start,
    month_summary,
    organisation_locations,
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


CSV_COLUMNS = [
    ("id", "id", NUMBER),
    ("created_at", "created_at", TIME),
    ("kind", "kind", TEXT),
    ("credits", "credits", NUMBER),
    ("balance_after", "balance_after", NUMBER),
    ("lead_id", "lead_id", NUMBER),
    ("memo", "memo", TEXT),
]
HISTORY_PAGE_SIZE = 20


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
        # The account id too, not only the join: the (account, id) index then yields the rows
        # newest first, with no sort of a million rows.
        entries = entries.filter(account=account_of(clinic=request.clinic))
        lines = (text for _, text in export_csv(entries, CSV_COLUMNS))
        response = StreamingHttpResponse(lines, content_type="text/csv")
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


@require_http_methods(["GET", "POST"])
@clinic_member_required
def budget(request):
    """Caps and pause (owners and billing members): spend this IST week and month against
    them and the next resets; changes go through ``services.set_budget``."""
    account = account_of(clinic=request.clinic)
    if account.is_paused_at(timezone.now()):
        pause = BudgetForm.UNTIL_DATE if account.pause_ends_at else BudgetForm.UNTIL_RESUMED
    else:
        pause = BudgetForm.RUNNING
    initial = {
        "weekly_cap": account.weekly_cap,
        "monthly_cap": account.monthly_cap,
        "pause": pause,
        "pause_until": account.pause_ends_at and timezone.localdate(account.pause_ends_at),
    }
    form = BudgetForm(request.POST if request.method == "POST" else None, initial=initial)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            data = form.cleaned_data
            try:
                services.set_budget(
                    account=account,
                    actor=request.user,
                    weekly_cap=data["weekly_cap"],
                    monthly_cap=data["monthly_cap"],
                    paused=data["pause"] != BudgetForm.RUNNING,
                    pause_until=data["pause_until"],
                    reason="Set in the portal",
                )
            except AntidoteError as error:
                form.add_error(None, error.message)
            else:
                messages.success(request, "Budget saved.")
                return redirect("billing:budget")
    context = {
        "form": form,
        "summary": budget_summary(clinic=request.clinic),
        "history": account.history.select_related("history_user").order_by("-history_id")[:10],
    }
    return render(request, "billing/budget.html", context, status=status)


_USED_FORM = "This form was already used for another move; reload the page to make a new one."


@require_http_methods(["GET", "POST"])
@clinic_member_required
def transfer(request):
    """Move credits from this location to another of its organisation (its owners only):
    lots, value and expiry go with them (``services.transfer_credits``). The form's token is
    the transfer's key, so a double submit moves them once."""
    clinic = request.clinic
    organisation = clinic.organisation
    allowed = organisation is not None and services.may_transfer(request.user, organisation)
    locations = (
        organisation.clinics.exclude(pk=clinic.pk).filter(is_active=True).order_by("name")
        if allowed
        else clinic.__class__.objects.none()
    )
    bound = request.method == "POST"
    form = TransferForm(
        request.POST if bound else None, locations=locations, initial={"token": uuid.uuid4()}
    )
    status = 200
    if bound:
        status = 400
        if not allowed:
            form.add_error(None, "Only an owner of this clinic's organisation can move credits.")
        elif form.is_valid():
            data = form.cleaned_data
            try:
                out, _ = services.transfer_credits(
                    source=clinic,
                    target=data["target"],
                    credits=data["credits"],
                    idempotency_key=str(data["token"]),
                    actor=request.user,
                    memo=data["memo"],
                )
            except AntidoteError as error:
                conflict = error.code == "idempotency_conflict"
                form.add_error(None, _USED_FORM if conflict else error.message)
            else:
                messages.success(
                    request,
                    f"Moved {format_number(-out.credits)} credits to {data['target']}. "
                    f"This location has {format_number(out.balance_after)} left.",
                )
                return redirect("billing:history")
    context = {
        "form": form,
        "organisation": organisation,
        "allowed": allowed,
        "account": account_of(clinic=clinic),
        "locations": organisation_locations(organisation=organisation) if allowed else [],
    }
    return render(request, "billing/transfer.html", context, status=status)
