"""Disputes in the clinic portal, private evidence downloads, and the staff's documented paths."""

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from antidote.accounts import verified_staff_required
from antidote.errors import AntidoteError
from antidote.paging import CursorForm
from antidote.portal import clinic_member_required, role_may_open
from disputes import services
from disputes.forms import DisputeFilterForm, DisputeForm, ResolveForm
from disputes.models import Dispute, Evidence
from disputes.selectors import dispute_rate_by_package, disputes_for, quality_score
from leads.models import ClinicMember, Lead
from leads.selectors import lead_contact

DISPUTES_PAGE_SIZE = 50


@require_GET
@clinic_member_required
def dispute_list(request):
    form = DisputeFilterForm(request.GET or None)
    filters = form.cleaned_data if form.is_valid() else {}
    cursor = CursorForm(request.GET)
    if not cursor.is_valid():
        return render(request, "disputes/list.html", {"form": form, "cursor": cursor}, status=400)
    page = cursor.page_of(disputes_for(clinic=request.clinic, **filters), size=DISPUTES_PAGE_SIZE)
    query = request.GET.copy()
    for name in ("before", "after"):
        query.pop(name, None)
    context = {
        "form": form,
        "disputes": page.rows,
        "page": page,
        "query": query.urlencode(),
        "refunds": disputes_for(clinic=request.clinic, status=Dispute.Status.APPROVED).count(),
        "score": quality_score(clinic=request.clinic),
        "packages": dispute_rate_by_package(clinic=request.clinic),
        "quality_days": settings.QUALITY_WINDOW_DAYS,
    }
    return render(request, "disputes/list.html", context)


@require_http_methods(["GET", "POST"])
@clinic_member_required
def create_dispute(request, lead_id):
    lead = get_object_or_404(
        Lead.objects.select_related("package"), pk=lead_id, clinic=request.clinic
    )
    form = DisputeForm(request.POST or None, request.FILES or None)
    refusal = None
    try:
        services.check_disputable(lead)
    except AntidoteError as error:
        refusal = error.message
    if request.method == "POST" and refusal is None and form.is_valid():
        try:
            dispute = services.open_dispute(
                lead=lead,
                user=request.user,
                dispute_type=form.cleaned_data["dispute_type"],
                description=form.cleaned_data["description"],
                evidence=form.cleaned_data["evidence"],
            )
        except AntidoteError as error:
            form.add_error(None, error.message)
        else:
            if request.htmx:  # opened from the inbox: answer in place, the page stays
                return render(request, "disputes/opened.html", {"dispute": dispute})
            messages.success(request, f"Dispute #{dispute.pk}: {dispute.get_status_display()}.")
            return redirect("disputes:list")
    status = 400 if refusal or form.errors else 200
    context = {"lead": lead, "contact": lead_contact(lead), "form": form, "refusal": refusal}
    template = "disputes/create.html#dispute-panel" if request.htmx else "disputes/create.html"
    return render(request, template, context, status=status)


@require_POST
@clinic_member_required
def cancel_dispute(request, dispute_id):
    dispute = get_object_or_404(Dispute, pk=dispute_id, clinic=request.clinic)
    error = None
    try:
        dispute = services.cancel_dispute(dispute=dispute, user=request.user)
    except AntidoteError as refusal:
        error = refusal.message
    if request.htmx:
        context = {"dispute": dispute, "error": error}
        response = render(
            request, "disputes/list.html#dispute-row", context, status=400 if error else 200
        )
        if error is None:
            response["HX-Trigger"] = "disputesChanged"  # the quality card reloads itself
        return response
    if error:
        messages.error(request, error)
    else:
        messages.success(request, f"Dispute #{dispute.pk} was cancelled.")
    return redirect("disputes:list")


@require_GET
def evidence_file(request, evidence_id):
    """Evidence is private: the clinic that uploaded it and staff who may see disputes.

    Served as a download under our own name, never rendered by the browser as part of our
    site: an attachment, no type sniffing, and a sandbox CSP in case a browser opens it anyway.
    """
    if not request.user.is_authenticated:
        return redirect(f"{reverse('login')}?next={request.path}")
    evidence = get_object_or_404(Evidence.objects.select_related("dispute"), pk=evidence_id)
    staff = (
        request.user.is_staff
        and request.user.is_verified()
        and request.user.has_perm("disputes.view_dispute")
    )
    member = ClinicMember.objects.filter(
        user=request.user, clinic_id=evidence.dispute.clinic_id
    ).first()
    if not (staff or member):
        raise Http404("No such evidence.")  # another clinic cannot learn that it exists
    if not staff and not role_may_open(member.role, "disputes:evidence"):
        raise PermissionDenied("Disputes are not part of your role at this clinic.")
    response = FileResponse(
        evidence.file.open("rb"),
        content_type=evidence.content_type,
        as_attachment=True,
        filename=evidence.download_name,
    )
    response["Content-Security-Policy"] = "sandbox"
    response["X-Content-Type-Options"] = "nosniff"
    return response


# The business's documented staff paths, kept working beside the admin -----------------------


@verified_staff_required
def admin_dispute_queue(request):
    return redirect("admin:disputes_dispute_changelist")


@require_POST
@verified_staff_required
def admin_resolve(request, dispute_id):
    if not request.user.has_perm("disputes.decide_dispute"):
        raise PermissionDenied
    dispute = get_object_or_404(Dispute, pk=dispute_id)
    form = ResolveForm(request.POST)
    if not form.is_valid():
        return HttpResponse(form.first_error(), status=400, content_type="text/plain")
    decision, notes = form.cleaned_data["status"], form.cleaned_data["admin_notes"]
    try:
        if decision == "approved":
            services.approve_dispute(
                dispute=dispute,
                actor=request.user,
                refund_credits=form.cleaned_data["refund_amount"],
                notes=notes,
            )
        else:
            services.reject_dispute(dispute=dispute, actor=request.user, notes=notes)
    except AntidoteError as error:
        return HttpResponse(error.message, status=400, content_type="text/plain")
    messages.success(request, f"Dispute #{dispute.pk} {decision}.")
    return redirect("admin:disputes_dispute_change", dispute.pk)
