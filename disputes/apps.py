from django.apps import AppConfig


class DisputesConfig(AppConfig):
    name = "disputes"

    def ready(self):
        from disputes import receivers  # noqa: F401  (counts leads' lead_charged)
