from django.apps import AppConfig


class LeadsConfig(AppConfig):
    name = "leads"
    verbose_name = "Clinics and leads"

    def ready(self):
        from leads import receivers  # noqa: F401  (connects billing's credits_added)
