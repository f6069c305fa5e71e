"""Deploy checks (`manage.py check --deploy`) for the settings that guard the edges.

One function per setting it guards, each registered for the deploy run only.
"""

from django.conf import settings
from django.core.checks import Error, Tags, register

LOCKOUT_BACKEND = "axes.backends.AxesStandaloneBackend"


@register(Tags.security, deploy=True)
def check_login_lockout(app_configs, **kwargs):
    """Failed logins must be counted: django-axes on, and its backend asked first."""
    backends = list(getattr(settings, "AUTHENTICATION_BACKENDS", []))
    if getattr(settings, "AXES_ENABLED", True) and backends[:1] == [LOCKOUT_BACKEND]:
        return []
    return [
        Error(
            "Failed logins are not limited.",
            hint=f"Keep AXES_ENABLED on and {LOCKOUT_BACKEND} first in AUTHENTICATION_BACKENDS.",
            id="antidote.E101",
        )
    ]
