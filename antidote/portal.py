"""Which clinic a portal request acts for, and the portal's shared page context.

A clinic user sees only the clinic chosen in their session (default: their first
membership); every portal query is filtered by ``request.clinic``.
"""

from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.shortcuts import render
from rest_framework.permissions import BasePermission

from billing.models import CreditAccount
from leads.models import ClinicMember

SESSION_KEY = "clinic_id"


def resolve_clinic(request):
    """Set ``request.clinic`` and ``request.memberships``; the clinic is None for non-members."""
    if not request.user.is_authenticated:
        request.clinic, request.memberships = None, []
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
    request.clinic = membership.clinic if membership else None
    return request.clinic


def clinic_member_required(view):
    """Portal pages: log in first; a user with no clinic gets a clear 403 page."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if resolve_clinic(request) is None:
            return render(request, "portal/no_clinic.html", status=403)
        return view(request, *args, **kwargs)

    return wrapped


def portal_context(request):
    clinic = getattr(request, "clinic", None)
    if clinic is None:
        return {}
    account = CreditAccount.objects.get(clinic=clinic)
    return {"clinic": clinic, "account": account, "memberships": request.memberships}


class IsClinicMember(BasePermission):
    """DRF: a session-authenticated member of a clinic; sets ``request.clinic``."""

    message = "Log in as a member of a clinic to see this."

    def has_permission(self, request, view):
        return resolve_clinic(request._request) is not None
