"""Public enquiry pages and the clinic portal's lead pages."""

from datetime import timedelta

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model, login
from django.core.paginator import Paginator
from django.http import Http404, HttpResponseBadRequest, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from antidote.errors import AntidoteError
from antidote.portal import SESSION_KEY, clinic_member_required
from billing import selectors as billing
from leads import services, throttle
from leads.forms import (
    EnquiryForm,
    InvitedAccountForm,
    InviteForm,
    LeadFilterForm,
    LeadStatusForm,
    MemberRoleForm,
    SwitchClinicForm,
)
from leads.models import Clinic, ClinicMember, Lead, Package
from leads.selectors import (
    lead_contact,
    leads_for,
    leads_this_month,
    open_invitations,
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


@require_GET
def package_detail(request, pk):
    package = get_object_or_404(
        Package.objects.select_related("clinic"), pk=pk, is_active=True, clinic__is_active=True
    )
    form = EnquiryForm(initial={"package": package.pk})
    return render(request, "leads/package_detail.html", {"package": package, "form": form})


@require_GET
def clinic_page(request, slug):
    clinic = get_object_or_404(Clinic, slug=slug, is_active=True)
    form = EnquiryForm(initial={"clinic": clinic.pk})
    packages = clinic.packages.filter(is_active=True)
    return render(
        request,
        "leads/clinic_page.html",
        {"page_clinic": clinic, "packages": packages, "form": form},
    )


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
        return render(request, "leads/package_detail.html", context, status=status)
    if clinic is not None:
        context = {
            "page_clinic": clinic,
            "packages": clinic.packages.filter(is_active=True),
            "form": form,
        }
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
        "held_count": Lead.objects.filter(
            clinic=clinic, billing_state__in=Lead.WAITING_STATES
        ).count(),
    }
    return render(request, "leads/dashboard.html", context)


def _dispute_cutoff():
    """Leads charged after this may still be disputed (the dispute page has the full rules)."""
    return timezone.now() - timedelta(days=settings.DISPUTE_WINDOW_DAYS)


@require_GET
@clinic_member_required
def inbox(request):
    form = LeadFilterForm(request.GET or None, clinic=request.clinic)
    filters = form.cleaned_data if form.is_valid() else {}
    page = Paginator(leads_for(clinic=request.clinic, filters=filters), 20).get_page(
        request.GET.get("page")
    )
    rows = [(lead, lead_contact(lead)) for lead in page]
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "form": form,
        "page": page,
        "rows": rows,
        "query": query.urlencode(),
        "statuses": Lead.Status.choices,
        "dispute_cutoff": _dispute_cutoff(),
    }
    template = "leads/inbox.html#lead-table" if request.htmx else "leads/inbox.html"
    return render(request, template, context)


@require_GET
@clinic_member_required
def lead_detail(request, pk):
    lead = get_object_or_404(
        Lead.objects.select_related("package").with_contact_rule(), pk=pk, clinic=request.clinic
    )
    context = {"lead": lead, "contact": lead_contact(lead), "statuses": Lead.Status.choices}
    return render(request, "leads/lead_detail.html", context)


@require_POST
@clinic_member_required
def update_status(request):
    form = LeadStatusForm(request.POST)
    form.is_valid()
    lead_id = form.cleaned_data.get("lead_id")
    if lead_id is None:
        return HttpResponseBadRequest("lead_id must be a lead number.")
    lead = get_object_or_404(
        Lead.objects.select_related("package").with_contact_rule(),
        pk=lead_id,
        clinic=request.clinic,
    )
    error = None
    try:
        services.update_lead_status(lead=lead, status=form.cleaned_data.get("status", ""))
    except AntidoteError as refusal:
        error = refusal.message
    if request.htmx:
        context = {
            "lead": lead,
            "contact": lead_contact(lead),
            "statuses": Lead.Status.choices,
            "error": error,
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
