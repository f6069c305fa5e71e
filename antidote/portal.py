"""Which clinic a portal request acts for, what the member's role lets them open, and the
portal's shared page context.

A clinic user sees only the clinic chosen in their session (default: their first
membership); every portal query is filtered by ``request.clinic``. What a member may open is
decided here and nowhere else: ``PORTAL_ACCESS`` names, for every portal URL, the roles that
may use it. Page views (``clinic_member_required``), their htmx requests and the JSON API
(``IsClinicMember``) all ask ``role_may_open``, so a refused role gets a 403 whichever way it
asks. A portal URL missing from the map is refused to everyone, and a test fails until it is
classified.
"""

from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.shortcuts import render
from rest_framework.permissions import BasePermission

from billing.models import CreditAccount
from leads.models import ClinicMember

SESSION_KEY = "clinic_id"

Role = ClinicMember.Role
EVERYONE = frozenset(Role.values)
OWNERS = frozenset({Role.OWNER})
# Money: balance, top-ups, payments, receipts and credit history, pages and JSON alike.
MONEY = frozenset({Role.OWNER, Role.BILLING})
# Working leads: the inbox, a lead's status, disputes and their evidence.
FRONT_DESK_WORK = frozenset({Role.OWNER, Role.FRONT_DESK})

PORTAL_ACCESS: dict[str, frozenset] = {
    "leads:dashboard": EVERYONE,  # where a login lands; money figures shown to MONEY only
    "leads:switch-clinic": EVERYONE,
    "leads:inbox": FRONT_DESK_WORK,
    "leads:lead-detail": FRONT_DESK_WORK,
    "leads:update-status": FRONT_DESK_WORK,
    "leads:add-note": FRONT_DESK_WORK,
    "leads:assign": FRONT_DESK_WORK,
    "leads:bulk": FRONT_DESK_WORK,
    "leads:save-default-filter": FRONT_DESK_WORK,
    "disputes:list": FRONT_DESK_WORK,
    "disputes:create": FRONT_DESK_WORK,
    "disputes:cancel": FRONT_DESK_WORK,
    "disputes:evidence": FRONT_DESK_WORK,
    "billing:dashboard": MONEY,
    "leads:analytics": MONEY,  # spend and return on it: money figures
    "billing:history": MONEY,
    "billing:balance": MONEY,
    "billing:budget": MONEY,  # caps and pause: what the clinic spends
    "payments:topup": MONEY,
    "payments:check-promo": MONEY,
    "payments:create-order": MONEY,
    "payments:verify": MONEY,
    "payments:simple-purchase-credits": MONEY,
    "payments:clinic-verify": MONEY,
    "payments:success": MONEY,
    "payments:failure": MONEY,
    "payments:history": MONEY,
    "payments:receipt": MONEY,
    "payments:pay-link": MONEY,
    "payments:link-return": MONEY,
    "payments:test-checkout": MONEY,
    "payments:invoice": MONEY,
    "payments:invoice-pdf": MONEY,
    "payments:credit-note": MONEY,
    "payments:credit-note-pdf": MONEY,
    "payments:tax-details": MONEY,
    "payments:billing-state": MONEY,
    "payments:auto-topup": MONEY,
    "payments:auto-topup-off": MONEY,
    "payments:auto-topup-method": MONEY,
    "payments:auto-topup-method-confirm": MONEY,
    # Moving credits to a sibling location: a clinic owner who also owns the organisation.
    "billing:transfer": OWNERS,
    "leads:team": OWNERS,
    "leads:team-role": OWNERS,
    "leads:team-remove": OWNERS,
    "leads:team-invite": OWNERS,
    "leads:team-revoke": OWNERS,
    "two-factor": OWNERS,
    "api-keys": OWNERS,
    "api-key-revoke": OWNERS,
    # Notifications and webhooks: the clinic's owners decide who is told and where data goes.
    "notifications:preferences": OWNERS,
    "notifications:webhooks": OWNERS,
    "notifications:webhook-create": OWNERS,
    "notifications:webhook": OWNERS,
    "notifications:webhook-test": OWNERS,
    "notifications:webhook-toggle": OWNERS,
    "notifications:webhook-delete": OWNERS,
    "notifications:webhook-redeliver": OWNERS,
}


def role_may_open(role: str | None, view_name: str | None) -> bool:
    """The one answer to "may this role use this portal URL?"; unknown URLs: no one."""
    return role is not None and role in PORTAL_ACCESS.get(view_name or "", ())


def resolve_clinic(request):
    """Set ``request.clinic``, ``request.membership`` and ``request.memberships``.

    The clinic and membership are None for non-members.
    """
    request.clinic, request.membership, request.memberships = None, None, []
    if not request.user.is_authenticated:
        return None
    memberships = list(
        ClinicMember.objects.filter(user=request.user)
        .select_related("clinic")
        .order_by("clinic__name")
    )
    chosen = request.session.get(SESSION_KEY)
    membership = next((m for m in memberships if m.clinic_id == chosen), None)
    if membership is None and memberships:
        membership = memberships[0]
    request.memberships = memberships
    request.membership = membership
    request.clinic = membership.clinic if membership else None
    return request.clinic


def _view_name(request) -> str | None:
    match = getattr(request, "resolver_match", None)
    return match.view_name if match else None


def may_open(request, view_name: str) -> bool:
    """For templates and views: may this request's member use ``view_name``?"""
    membership = getattr(request, "membership", None)
    return role_may_open(membership.role if membership else None, view_name)


def role_refusal(request):
    """The 403 page for a member whose role does not include this URL."""
    return render(request, "portal/forbidden.html", status=403)


def clinic_member_required(view):
    """Portal pages: log in first; a user with no clinic, or whose role at this clinic does
    not include the page, gets a clear 403 page."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if resolve_clinic(request) is None:
            return render(request, "portal/no_clinic.html", status=403)
        if not may_open(request, _view_name(request)):
            return role_refusal(request)
        return view(request, *args, **kwargs)

    return wrapped


def portal_context(request):
    clinic = getattr(request, "clinic", None)
    if clinic is None:
        return {}
    membership = request.membership
    account = CreditAccount.objects.get(clinic=clinic)
    return {
        "clinic": clinic,
        "account": account,
        "memberships": request.memberships,
        "membership": membership,
        # What the layout's links ask: each only if the member's role may open it.
        "can": {
            name.replace(":", "_").replace("-", "_"): True
            for name, roles in PORTAL_ACCESS.items()
            if membership.role in roles
        },
        "sees_money": membership.role in MONEY,
    }


class IsClinicMember(BasePermission):
    """DRF: a session-authenticated member of a clinic whose role includes this endpoint;
    sets ``request.clinic``."""

    message = "Log in as a member of a clinic to see this."

    def has_permission(self, request, view):
        if resolve_clinic(request._request) is None:
            return False
        if not may_open(request._request, _view_name(request._request)):
            role = request._request.membership.get_role_display()
            self.message = (
                f"Your role at {request._request.clinic} ({role}) does not include this. "
                "Ask an owner of the clinic."
            )
            return False
        return True
