"""The back office admin site. The admin pieces every app shares are in ``admin_bases``."""

import functools

from django import forms
from django.contrib import admin
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.options import TO_FIELD_VAR
from django.core.exceptions import ValidationError
from django.http import HttpResponseBadRequest, HttpResponseNotAllowed
from django.utils import timezone
from django_otp import devices_for_user
from django_otp.admin import OTPAdminAuthenticationForm


class StaffLoginForm(OTPAdminAuthenticationForm):
    """Username, password and the authenticator's code, in one step.

    django-otp asks the user to pick a device once the password is known; staff here have one
    authenticator, so it is chosen for them. A posted choice must be one of the user's own
    confirmed devices: django-otp's own lookup loads any model the posted label names (a 500
    for "auth.user/1").
    """

    def _chosen_device(self, user):
        devices = list(devices_for_user(user, confirmed=True, for_verify=True))
        chosen = self.cleaned_data.get("otp_device")
        if chosen:
            return next((d for d in devices if d.persistent_id == chosen), None)
        return devices[0] if len(devices) == 1 else None


class BackOfficeSite(admin.AdminSite):
    site_header = "Antidote Billing — back office"
    site_title = "Antidote Billing"
    index_title = "Credits, clinics, leads and disputes"
    index_template = "admin/backoffice_index.html"
    # Staff reach the admin only with a second factor: the login asks for the TOTP code of a
    # device enrolled with `manage.py staff_totp`, and a session logged in without one (the
    # portal's login, say) is sent back here. This is django-otp's OTPAdminSite, kept under
    # the default "admin" name so every admin URL stays where it was.
    login_form = StaffLoginForm
    login_template = "otp/admin111/login.html"

    def admin_view(self, view, cacheable=False):
        """Every admin view, with an action's selection parsed as row ids first.

        Django's ``response_action`` filters ``pk__in`` on the posted strings, so a selection
        of "abc" or 30 digits was a 500 on every changelist. Our rows all have integer keys.
        """

        @functools.wraps(view)
        def checked(request, *args, **kwargs):
            if request.method == "POST" and not _are_row_ids(
                request.POST.getlist(ACTION_CHECKBOX_NAME)
            ):
                return HttpResponseBadRequest("The selection must be row ids.")
            # The change and delete views look a row up by the field _to_field names when it
            # is given at all, so an empty one was a 500 (FieldDoesNotExist), found by the fuzz.
            if "" in (request.GET.get(TO_FIELD_VAR), request.POST.get(TO_FIELD_VAR)):
                return HttpResponseBadRequest("_to_field must name a field.")
            return view(request, *args, **kwargs)

        return super().admin_view(checked, cacheable)

    def has_permission(self, request):
        return super().has_permission(request) and request.user.is_verified()

    def get_urls(self):
        from django.urls import path

        report = path(
            "marketplace-report/",
            self.admin_view(self.marketplace_report),
            name="marketplace-report",
        )
        return [report, *super().get_urls()]

    def marketplace_report(self, request):
        """Staff's monthly marketplace report (issue 17), from the clinics' own aggregate."""
        from django.core.exceptions import PermissionDenied
        from django.template.response import TemplateResponse

        from leads import analytics

        if request.method != "GET":  # a report: it reads (and brings the aggregate up to date)
            return HttpResponseNotAllowed(["GET"])
        if not request.user.has_perm("leads.view_clinic"):
            raise PermissionDenied
        form = ReportMonthForm(request.GET)
        context = {**self.each_context(request), "title": "Marketplace report", "form": form}
        if not form.is_valid():
            return TemplateResponse(request, "admin/marketplace_report.html", context, status=400)
        month = form.cleaned_data["month"] or timezone.localdate()
        context["report"] = analytics.marketplace_report(month=month.replace(day=1))
        context["columns"] = analytics.COLUMNS
        return TemplateResponse(request, "admin/marketplace_report.html", context)

    def index(self, request, extra_context=None):
        from antidote.dashboard import dashboard_figures

        return super().index(request, {**(extra_context or {}), "figures": dashboard_figures()})


class ReportMonthForm(forms.Form):
    month = forms.DateField(input_formats=["%Y-%m"], required=False, label="Month (YYYY-MM)")


_ROW_ID = forms.IntegerField(min_value=1, max_value=2**63 - 1)


def _are_row_ids(values) -> bool:
    try:
        for value in values:
            if not value.isascii():
                return False
            _ROW_ID.clean(value)
    except ValidationError:
        return False
    return True
