"""The back office admin site and the admin pieces every app shares."""

from django.contrib import admin


class ReadOnlyAdmin(admin.ModelAdmin):
    """Money records, written only by services: staff may look, filter and search, never edit."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class BackOfficeSite(admin.AdminSite):
    site_header = "Antidote Billing — back office"
    site_title = "Antidote Billing"
    index_title = "Credits, clinics, leads and disputes"
    index_template = "admin/backoffice_index.html"

    def index(self, request, extra_context=None):
        from antidote.dashboard import dashboard_figures

        return super().index(request, {**(extra_context or {}), "figures": dashboard_figures()})
