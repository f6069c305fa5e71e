"""The back office admin site. The admin pieces every app shares are in ``admin_bases``."""

from django.contrib import admin


class BackOfficeSite(admin.AdminSite):
    site_header = "Antidote Billing — back office"
    site_title = "Antidote Billing"
    index_title = "Credits, clinics, leads and disputes"
    index_template = "admin/backoffice_index.html"

    def index(self, request, extra_context=None):
        from antidote.dashboard import dashboard_figures

        return super().index(request, {**(extra_context or {}), "figures": dashboard_figures()})
