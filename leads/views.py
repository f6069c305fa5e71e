"""Public enquiry pages and the clinic portal's lead pages."""

import json
from datetime import timedelta

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model, login
from django.core.paginator import Paginator
from django.http import (
    Http404,
    HttpResponseBadRequest,
    HttpResponseRedirect,
    JsonResponse,
    QueryDict,
    StreamingHttpResponse,
)
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from antidote.csv import csv_lines
from antidote.errors import AntidoteError
from antidote.filters import bad_filters_csv
from antidote.portal import SESSION_KEY, clinic_member_required
from billing import selectors as billing
from leads import analytics as outcomes
from leads import services, throttle
from leads.forms import (
    AnalyticsForm,
    BulkLeadForm,
    EnquiryForm,
    InvitedAccountForm,
    InviteForm,
    LeadAssignForm,
    LeadFilterForm,
    LeadNoteForm,
    LeadStatusForm,
    MemberRoleForm,
    SwitchClinicForm,
)
from leads.models import Clinic, ClinicMember, Lead, Package
from leads.selectors import (
    inbox_default,
    lead_contact,
    lead_events,
    leads_for,
    leads_this_month,
    notes_for,
    open_invitations,
    other_clinics_in_tier,
    team_history,
    team_members,
)

# Public side ---------------------------------------------------------------------------------


@require_GET
def package_list(request):
    packages = Package.objects.filter(is_active=True, clinic__is_active=True).select_related(
        "clinic"
    )
    return render(request, "leads/package_list.html", {"packages": packages})


NOT_TAKING_ENQUIRIES = (
    "{clinic} is not taking new enquiries at the moment. Please try again later, or ask "
    "one of the clinics below."
)


def _budget_context(clinic, prices) -> dict:
    """A paused or capped clinic takes no new enquiries: its pages say so and suggest other
    clinics with packages in the same price tier (empty when it takes enquiries)."""
    if clinic.pk not in billing.clinics_not_taking_enquiries(clinic_ids=[clinic.pk]):
        return {}
    return {
        "not_taking": NOT_TAKING_ENQUIRIES.format(clinic=clinic.name),
        "alternatives": other_clinics_in_tier(clinic=clinic, prices=prices),
    }


@require_GET
def package_detail(request, pk):
    package = get_object_or_404(
        Package.objects.select_related("clinic"), pk=pk, is_active=True, clinic__is_active=True
    )
    form = EnquiryForm(initial={"package": package.pk})
    context = {"package": package, "form": form}
    context.update(_budget_context(package.clinic, [package.price_paise]))
    return render(request, "leads/package_detail.html", context)


@require_GET
def clinic_page(request, slug):
    clinic = get_object_or_404(Clinic, slug=slug, is_active=True)
    form = EnquiryForm(initial={"clinic": clinic.pk})
    packages = clinic.packages.filter(is_active=True)
    context = {"page_clinic": clinic, "packages": packages, "form": form}
    context.update(_budget_context(clinic, [p.price_paise for p in packages]))
    return render(request, "leads/clinic_page.html", context)


@require_POST
def contact_clinic(request):
    form = EnquiryForm(request.POST)
    if not form.is_valid() or form.cleaned_data["website"]:
        refusal = throttle.admit_invalid(request)
        if refusal is not None:
            return _refused(request, form, refusal)
        if form.is_valid():
            return redirect("leads:enquiry-sent")  # a bot: look successful, record nothing
        return _enquiry_page_with_errors(request, form)
    data = form.cleaned_data
    if data["clinic"].pk in billing.clinics_not_taking_enquiries(clinic_ids=[data["clinic"].pk]):
        # Paused or capped when the patient sent it: nothing is recorded, the page says why.
        # (One that races the cap past this point is kept, over budget, by submit_enquiry.)
        form.add_error(None, NOT_TAKING_ENQUIRIES.format(clinic=data["clinic"].name))
        return _enquiry_page_with_errors(request, form, status=409)
    refusal = throttle.admit_enquiry(request, phone=data["phone"])
    if refusal is not None:
        return _refused(request, form, refusal)
    try:
        services.submit_enquiry(
            clinic=data["clinic"],
            package=data["package"],
            name=data["name"],
            phone=data["phone"],
            email=data["email"],
            message=data["message"],
        )
    except AntidoteError as error:
        throttle.give_back_enquiry(request, phone=data["phone"])
        form.add_error(None, error.message)
        return _enquiry_page_with_errors(request, form)
    return redirect("leads:enquiry-sent")


def _refused(request, form, refusal):
    """Too many: the same form with the patient's input kept, saying nothing was sent."""
    form.add_error(None, refusal.message)
    response = _enquiry_page_with_errors(request, form, status=429)
    response["Retry-After"] = str(refusal.retry_after)
    return response


def _enquiry_page_with_errors(request, form, *, status=400):
    """The page the enquiry came from, with the patient's input and what went wrong."""
    parsed = getattr(form, "cleaned_data", {})
    package, clinic = parsed.get("package"), parsed.get("clinic")
    if package is not None:
        context = {"package": package, "form": form}
        context.update(_budget_context(package.clinic, [package.price_paise]))
        return render(request, "leads/package_detail.html", context, status=status)
    if clinic is not None:
        packages = clinic.packages.filter(is_active=True)
        context = {"page_clinic": clinic, "packages": packages, "form": form}
        context.update(_budget_context(clinic, [p.price_paise for p in packages]))
        return render(request, "leads/clinic_page.html", context, status=status)
    return render(request, "leads/enquiry_invalid.html", {"form": form}, status=status)


@require_GET
def enquiry_sent(request):
    return render(request, "leads/enquiry_sent.html")


# Clinic portal -------------------------------------------------------------------------------


@require_GET
@clinic_member_required
def dashboard(request):
    clinic = request.clinic
    context = {
        "leads_this_month": leads_this_month(clinic=clinic),
        "month": billing.month_summary(clinic=clinic),
        "tiers": billing.pricing_tiers(),
        "recent": billing.transactions_for(clinic=clinic)[:8],
        "held_count": Lead.objects.filter(clinic=clinic, billing_state=Lead.Billing.HELD).count(),
        "over_budget_count": Lead.objects.filter(
            clinic=clinic, billing_state=Lead.Billing.OVER_BUDGET
        ).count(),
    }
    return render(request, "leads/dashboard.html", context)


def _csv_download(rows, name: str) -> StreamingHttpResponse:
    response = StreamingHttpResponse(csv_lines(rows), content_type="text/csv; charset=utf-8")
    filename = f"{name}-{timezone.localdate():%Y-%m-%d}.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["X-Content-Type-Options"] = "nosniff"
    return response


@require_GET
@clinic_member_required
def analytics(request):
    """What each rupee of credits brought the clinic, per month, package and price tier; the
    same lines as a CSV with ``?format=csv``."""
    form = AnalyticsForm(request.GET)
    if not form.is_valid():
        if request.GET.get("format") == "csv":
            return bad_filters_csv(form)
        return render(request, "leads/analytics.html", {"form": form}, status=400)
    months = form.cleaned_data["months"] or 12
    organisation = request.clinic.organisation
    # An owner of the clinic's organisation also sees every location, and the chain in all.
    owns_chain = organisation is not None and organisation.owned_by(request.user)
    csv, whole_chain = form.cleaned_data["format"] == "csv", form.cleaned_data["scope"] == "chain"
    if whole_chain and not owns_chain:
        form.add_error("scope", "Only an owner of this clinic's organisation sees every location.")
        if csv:
            return bad_filters_csv(form)
        return render(request, "leads/analytics.html", {"form": form}, status=400)
    chain = None
    if owns_chain and (whole_chain or not csv):
        chain = outcomes.chain_report(organisation=organisation, months=months)
    if csv and whole_chain:
        return _csv_download(outcomes.chain_rows(chain), f"analytics-{organisation.pk}-chain")
    report = outcomes.clinic_report(clinic=request.clinic, months=months)
    if csv:
        return _csv_download(outcomes.report_rows(report), f"analytics-{request.clinic.slug}")
    context = {
        "form": form,
        "chain": chain,
        "report": report,
        "columns": outcomes.COLUMNS,
        "peer_minimum": outcomes.PEER_COHORT_MINIMUM,
        "query": request.GET.urlencode(),
    }
    return render(request, "leads/analytics.html", context)


def _dispute_cutoff():
    """Leads charged after this may still be disputed (the dispute page has the full rules)."""
    return timezone.now() - timedelta(days=settings.DISPUTE_WINDOW_DAYS)


def _membership(request):
    """The signed-in user's membership of the clinic this request acts for."""
    return next(m for m in request.memberships if m.clinic_id == request.clinic.pk)


@require_GET
@clinic_member_required
def inbox(request):
    """The lead inbox; with ``format=csv``, the same leads as a streamed download.

    With no filter in the address (an empty one counts), the member's saved default applies.
    """
    data, using_default = request.GET, False
    if not LeadFilterForm(data, clinic=request.clinic).given():
        saved = inbox_default(member=_membership(request))
        if saved is not None:
            data, using_default = QueryDict(saved.query), True
    form = LeadFilterForm(data or None, clinic=request.clinic)
    valid = not form.is_bound or form.is_valid()
    if request.GET.get("format") == "csv" and not valid:
        return bad_filters_csv(form)
    filters = form.cleaned_data if form.is_bound and valid else {}
    leads = leads_for(clinic=request.clinic, filters=filters, user=request.user)
    if not valid:
        leads = leads.none()  # never the whole list under filters the clinic did not get
    if request.GET.get("format") == "csv":
        return _leads_csv(request, leads)
    page = Paginator(leads, 20).get_page(request.GET.get("page"))
    rows = [(lead, lead_contact(lead)) for lead in page]
    query = data.copy()
    for name in ("page", "format"):
        query.pop(name, None)
    context = {
        "form": form,
        "page": page,
        "rows": rows,
        "query": query.urlencode(),
        "filter_values": [(name, form.data.get(name, "")) for name in form.fields],
        "using_default": using_default,
        "statuses": Lead.Status.choices,
        "lost_reasons": Lead.LostReason.choices,
        "dispute_cutoff": _dispute_cutoff(),
        "bulk_form": BulkLeadForm(clinic=request.clinic),
    }
    template = "leads/inbox.html#lead-table" if request.htmx else "leads/inbox.html"
    return render(request, template, context, status=200 if valid else 400)


LEADS_CSV_HEADER = [
    "lead",
    "received",
    "status",
    "billing",
    "package",
    "patient_name",
    "phone",
    "email",
    "message",
    "credits",
    "assigned_to",
    "archived",
]


def _leads_csv(request, leads):
    """The inbox's leads as CSV: masked exactly as the inbox masks them, formula-safe."""

    def rows():
        yield LEADS_CSV_HEADER
        for lead in leads.iterator(chunk_size=1000):
            contact = lead_contact(lead)  # names and messages are patients' text
            assignee = lead.assigned_to.user.get_username() if lead.assigned_to else ""
            yield [
                lead.pk,
                timezone.localtime(lead.created_at).isoformat(),
                lead.status,
                lead.billing_state,
                lead.package.name if lead.package else "",
                contact.name,
                contact.phone,
                contact.email,
                contact.message,
                lead.price_credits,
                assignee,
                "yes" if lead.archived else "no",
            ]

    return _csv_download(rows(), f"leads-{request.clinic.slug}")


def _lead_or_404(request, pk):
    return get_object_or_404(
        Lead.objects.select_related("package", "assigned_to__user").with_contact_rule(),
        pk=pk,
        clinic=request.clinic,
    )


def _lead_page(request, lead, *, status=200, note_form=None, assign_form=None, notes_only=False):
    """The lead page, or only its notes (what an htmx note post swaps in)."""
    context = {
        "lead": lead,
        "contact": lead_contact(lead),
        "statuses": Lead.Status.choices,
        "lost_reasons": Lead.LostReason.choices,
        "notes": notes_for(lead=lead),
        "events": lead_events(lead=lead),
        "note_form": note_form or LeadNoteForm(),
        "assign_form": assign_form
        or LeadAssignForm(clinic=request.clinic, initial={"assignee": lead.assigned_to_id}),
    }
    template = "leads/lead_detail.html#notes" if notes_only else "leads/lead_detail.html"
    return render(request, template, context, status=status)


@require_GET
@clinic_member_required
def lead_detail(request, pk):
    return _lead_page(request, _lead_or_404(request, pk))


@require_POST
@clinic_member_required
def add_note(request, pk):
    lead = _lead_or_404(request, pk)
    form = LeadNoteForm(request.POST)
    if form.is_valid():
        try:
            services.add_lead_note(lead=lead, author=request.user, body=form.cleaned_data["body"])
        except AntidoteError as refusal:
            form.add_error(None, refusal.message)
    if form.errors:
        return _lead_page(request, lead, status=400, note_form=form, notes_only=request.htmx)
    if request.htmx:
        return _lead_page(request, lead, notes_only=True)
    messages.success(request, "Note added.")
    return redirect("leads:lead-detail", pk=lead.pk)


@require_POST
@clinic_member_required
def assign(request, pk):
    lead = _lead_or_404(request, pk)
    form = LeadAssignForm(request.POST, clinic=request.clinic)
    if form.is_valid():
        try:
            services.assign_lead(lead=lead, member=form.cleaned_data["assignee"])
        except AntidoteError as refusal:
            form.add_error(None, refusal.message)
    if form.errors:
        return _lead_page(request, lead, status=400, assign_form=form)
    who = lead.assigned_to.user.get_username() if lead.assigned_to else "nobody"
    messages.success(request, f"Lead #{lead.pk} is assigned to {who}.")
    return redirect("leads:lead-detail", pk=lead.pk)


@require_POST
@clinic_member_required
def bulk(request):
    """One action on the selected leads; each lead's result is listed, refusals with why."""
    form = BulkLeadForm(request.POST, clinic=request.clinic)
    results = []
    if form.is_valid():
        data = form.cleaned_data
        try:
            results = services.bulk_update_leads(
                clinic=request.clinic,
                lead_ids=data["lead_ids"],
                action=data["action"],
                status=data["status"],
                member=data["assignee"],
                actor=request.user,
            )
        except AntidoteError as refusal:
            form.add_error(None, refusal.message)
    context = {
        "bulk_form": form,
        "results": results,
        "done": sum(result.done for result in results),
        "back": _local_or(request, form.cleaned_data.get("next"), reverse("leads:inbox")),
    }
    status = 400 if form.errors else 200
    if request.htmx:
        response = render(request, "leads/inbox.html#bulk-results", context, status=status)
        if results:
            response["HX-Trigger"] = "leadsChanged"  # the table reloads with its filters
        return response
    return render(request, "leads/bulk_results.html", context, status=status)


@require_POST
@clinic_member_required
def save_default_filter(request):
    """Save the posted inbox filters as this member's default, or forget it (``clear``)."""
    form = LeadFilterForm(request.POST, clinic=request.clinic)
    clearing = "clear" in request.POST
    if not clearing and not form.is_valid():
        messages.error(request, "Those filters are not valid, so they were not saved.")
        return redirect("leads:inbox")
    query = "" if clearing else form.query()
    try:
        services.save_inbox_default(member=_membership(request), query=query)
    except AntidoteError as refusal:
        messages.error(request, refusal.message)
        return redirect("leads:inbox")
    if clearing:
        messages.success(request, "Your default filter is forgotten.")
    else:
        messages.success(request, "Saved as your default: the inbox opens with these filters.")
    return HttpResponseRedirect(reverse("leads:inbox") + (f"?{query}" if query else ""))


def _put_data(request) -> QueryDict | dict:
    """A PUT's body, as 000 documents the call: form-encoded or a JSON object."""
    if request.content_type == "application/json":
        try:
            data = json.loads(request.body or b"{}")
        except (ValueError, RecursionError):
            return {}
        return data if isinstance(data, dict) else {}
    return QueryDict(request.body, encoding=request.encoding)


@require_http_methods(["POST", "PUT"])
@clinic_member_required
def update_status(request):
    """A lead's status. POST from the portal's forms (htmx or plain); PUT as 000 documents it,
    answered in JSON."""
    form = LeadStatusForm(request.POST if request.method == "POST" else _put_data(request))
    form.is_valid()
    lead_id = form.cleaned_data.get("lead_id")
    if lead_id is None:
        if request.method == "PUT":
            return JsonResponse(
                {"success": False, "message": "lead_id must be a lead number."}, status=400
            )
        return HttpResponseBadRequest("lead_id must be a lead number.")
    lead = get_object_or_404(
        Lead.objects.select_related("package", "assigned_to__user")
        .prefetch_related("disputes")
        .with_contact_rule(),
        pk=lead_id,
        clinic=request.clinic,
    )
    error = next(
        (f"{form.fields[name].label}: {errors[0]}" for name, errors in form.errors.items()),
        None,
    )
    if error is None:
        data = form.cleaned_data
        try:
            services.update_lead_status(
                lead=lead,
                status=data.get("status", ""),
                actor=request.user,
                booked_for=data.get("booked_for"),
                revenue_paise=data.get("revenue"),
                lost_reason=data.get("lost_reason", ""),
            )
        except AntidoteError as refusal:
            error = refusal.message
    if request.method == "PUT":
        if error:
            return JsonResponse({"success": False, "message": error}, status=400)
        return JsonResponse(
            {
                "success": True,
                "lead_id": lead.pk,
                "status": lead.status,
                "message": f"Lead #{lead.pk} is now {lead.get_status_display().lower()}.",
            }
        )
    if request.htmx:
        context = {
            "lead": lead,
            "contact": lead_contact(lead),
            "statuses": Lead.Status.choices,
            "lost_reasons": Lead.LostReason.choices,
            # A refused step keeps what was chosen, so its missing detail can be added.
            "chosen": form.cleaned_data.get("status") if error else None,
            "in_row": True,
            "error": error,
            "saved": error is None,
            "dispute_cutoff": _dispute_cutoff(),
        }
        return render(request, "leads/inbox.html#lead-row", context, status=400 if error else 200)
    if error:
        messages.error(request, error)
    else:
        messages.success(request, f"Lead #{lead.pk} is now {lead.get_status_display().lower()}.")
    # A URL, never redirect()'s guess: a "next" without "/" or "." would be reversed as a
    # view name, and "²" was a 500.
    return HttpResponseRedirect(
        _local_or(
            request, form.cleaned_data.get("next"), reverse("leads:lead-detail", args=[lead.pk])
        )
    )


def _local_or(request, target: str | None, fallback: str) -> str:
    """``target`` if it stays on this site (and on https when we are), else ``fallback``."""
    safe = url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    return target if target and safe else fallback


@require_POST
@clinic_member_required
def switch_clinic(request):
    form = SwitchClinicForm(request.POST)
    wanted = form.cleaned_data["clinic_id"] if form.is_valid() else None
    membership = next((m for m in request.memberships if m.clinic_id == wanted), None)
    if membership is None:
        messages.error(request, "You are not a member of that clinic.")
    else:
        request.session[SESSION_KEY] = membership.clinic_id
        messages.success(request, f"Now working as {membership.clinic.name}.")
    return redirect("leads:dashboard")


# The clinic's team (owners only: antidote.portal.PORTAL_ACCESS) ------------------------------


def _team_page(request, *, status=200, error=None, invite_form=None):
    context = {
        "members": team_members(clinic=request.clinic),
        "history": team_history(clinic=request.clinic),
        "invitations": open_invitations(clinic=request.clinic),
        "invite_form": invite_form or InviteForm(),
        "roles": ClinicMember.Role.choices,
        "error": error,
    }
    return render(request, "leads/team.html", context, status=status)


@require_GET
@clinic_member_required
def team(request):
    return _team_page(request)


def _team_refusal(request, error: AntidoteError):
    if error.code == "not_found":
        raise Http404(error.message)
    return _team_page(request, status=400, error=error.message)


@require_POST
@clinic_member_required
def change_role(request, member_id):
    form = MemberRoleForm(request.POST)
    if not form.is_valid():
        return _team_page(request, status=400, error="Choose one of the roles listed.")
    try:
        member = services.change_member_role(
            clinic=request.clinic,
            member_id=member_id,
            role=form.cleaned_data["role"],
            actor=request.user,
        )
    except AntidoteError as error:
        return _team_refusal(request, error)
    messages.success(request, f"{member.user} is now {member.get_role_display().lower()}.")
    return redirect("leads:team")


@require_POST
@clinic_member_required
def remove_member(request, member_id):
    try:
        member = services.remove_member(
            clinic=request.clinic, member_id=member_id, actor=request.user
        )
    except AntidoteError as error:
        return _team_refusal(request, error)
    messages.success(request, f"{member.user} was removed from {request.clinic}.")
    if member.user_id == request.user.pk:
        return redirect("leads:dashboard")
    return redirect("leads:team")


@require_POST
@clinic_member_required
def invite(request):
    form = InviteForm(request.POST)
    if not form.is_valid():
        return _team_page(request, status=400, invite_form=form)
    try:
        invitation = services.invite_member(
            clinic=request.clinic,
            email=form.cleaned_data["email"],
            role=form.cleaned_data["role"],
            actor=request.user,
        )
    except AntidoteError as error:
        form.add_error(None, error.message)
        return _team_page(request, status=400, invite_form=form)
    messages.success(
        request,
        f"Invitation sent to {invitation.email} as {invitation.get_role_display().lower()}; "
        "the link works once, for 7 days.",
    )
    return redirect("leads:team")


@require_POST
@clinic_member_required
def revoke_invitation(request, invitation_id):
    try:
        invitation = services.revoke_invitation(
            clinic=request.clinic, invitation_id=invitation_id, actor=request.user
        )
    except AntidoteError as error:
        return _team_refusal(request, error)
    messages.success(request, f"The invitation to {invitation.email} was withdrawn.")
    return redirect("leads:team")


_INVITATION_STATUS = {"not_found": 404, "wrong_account": 403, "member": 400}


@require_http_methods(["GET", "POST"])
def accept_invitation(request, token):
    """The invitee's side: not a portal page (they are not a member yet).

    Logged in as the invited address: join. Logged in as anyone else: refused, with what to
    do. Not logged in: log in, if the address has an account; otherwise create it here.
    """
    context = {"token": token}
    try:
        invitation = services.invitation_from_token(token)
    except AntidoteError as error:
        context["refusal"] = error.message
        status = _INVITATION_STATUS.get(error.code, 410)
        return render(request, "leads/accept_invitation.html", context, status=status)
    context["invitation"] = invitation
    if request.user.is_authenticated:
        if request.method == "POST":
            try:
                services.accept_invitation(invitation=invitation, user=request.user)
            except AntidoteError as error:
                context["refusal"] = error.message
                status = _INVITATION_STATUS.get(error.code, 410)
                return render(request, "leads/accept_invitation.html", context, status=status)
            return _joined(request, invitation)
        if (request.user.email or "").strip().lower() != invitation.email:
            context["wrong_account"] = True
            return render(request, "leads/accept_invitation.html", context, status=403)
        return render(request, "leads/accept_invitation.html", context)
    if get_user_model().objects.filter(email__iexact=invitation.email).exists():
        context["login_first"] = True
        return render(request, "leads/accept_invitation.html", context)
    data = request.POST if request.method == "POST" else None  # an empty POST is bound too
    form = InvitedAccountForm(data, email=invitation.email)
    if request.method == "POST" and form.is_valid():
        try:
            user = services.create_account_and_accept(
                invitation=invitation,
                username=form.cleaned_data["username"],
                password=form.cleaned_data["password1"],
            )
        except AntidoteError as error:
            form.add_error(None, error.message)
        else:
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            return _joined(request, invitation)
    context["form"] = form
    status = 400 if form.errors else 200
    return render(request, "leads/accept_invitation.html", context, status=status)


def _joined(request, invitation):
    request.session[SESSION_KEY] = invitation.clinic_id
    messages.success(
        request,
        f"Welcome to {invitation.clinic.name}: you joined as "
        f"{invitation.get_role_display().lower()}.",
    )
    return redirect("leads:dashboard")
