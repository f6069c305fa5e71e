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


@register(Tags.security, deploy=True)
def check_content_security_policy(app_configs, **kwargs):
    """A Content-Security-Policy is sent, and it lets no inline or evaluated script run."""
    policy = getattr(settings, "CONTENT_SECURITY_POLICY", None) or {}
    directives = policy.get("DIRECTIVES") or {}
    scripts = directives.get("script-src") or directives.get("default-src") or []
    unsafe = [s for s in scripts if s in ("'unsafe-inline'", "'unsafe-eval'", "*")]
    if directives and scripts and not unsafe:
        return []
    return [
        Error(
            "The Content-Security-Policy is missing or allows inline or evaluated scripts.",
            hint="Set CONTENT_SECURITY_POLICY with a script-src of 'self' (and trusted origins).",
            id="antidote.E102",
        )
    ]


@register(Tags.security, deploy=True)
def check_background_jobs(app_configs, **kwargs):
    """Production sends from workers: eager tasks or loopback webhooks are for tests and demos."""
    errors = []
    if settings.CELERY_TASK_ALWAYS_EAGER and not settings.DEBUG:
        errors.append(
            Error(
                "CELERY_TASK_ALWAYS_EAGER is on with DEBUG off: requests would wait on mail "
                "servers and clinics' webhooks.",
                hint="Unset it and set CELERY_BROKER_URL; run `celery -A antidote worker`.",
                id="antidote.E103",
            )
        )
    if settings.WEBHOOK_ALLOW_LOOPBACK and not settings.DEBUG:
        errors.append(
            Error(
                "WEBHOOK_ALLOW_LOOPBACK is on: clinics' webhooks could reach this server.",
                hint="Unset WEBHOOK_ALLOW_LOOPBACK outside tests.",
                id="antidote.E104",
            )
        )
    return errors


PER_PROCESS_CACHES = (
    "django.core.cache.backends.locmem.LocMemCache",
    "django.core.cache.backends.dummy.DummyCache",
)


@register(Tags.security, deploy=True)
def check_shared_cache(app_configs, **kwargs):
    """The enquiry rate limit and the API throttles count in the cache: a per-process cache
    lets each web worker grant the whole limit again."""
    backend = settings.CACHES["default"]["BACKEND"]
    if settings.DEBUG or backend not in PER_PROCESS_CACHES:
        return []
    return [
        Error(
            f"The default cache is {backend.rsplit('.', 1)[-1]}, one per process: rate limits "
            "and throttles would be multiplied by the number of web workers.",
            hint="Set CACHE_URL to the shared Redis, e.g. rediscache://127.0.0.1:6379/1.",
            id="antidote.E105",
        )
    ]
