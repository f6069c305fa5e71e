from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class AntidoteConfig(AppConfig):
    default = True
    name = "antidote"
    verbose_name = "Antidote back office"

    def ready(self):
        from antidote import checks  # noqa: F401  (registers the deploy checks)


class BackOfficeAdminConfig(admin_apps.AdminConfig):
    """The Django admin with the back office's dashboard on its index page."""

    default = False
    default_site = "antidote.admin_site.BackOfficeSite"
