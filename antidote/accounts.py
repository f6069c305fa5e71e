"""The account edges: the throttled password-reset form and the staff-only view guard.

Failed-login lockouts are django-axes' (settings AXES_*); the staff second factor is the admin
site's (antidote.admin_site).
"""

import hashlib
import ipaddress
import logging

from axes.handlers.database import AxesDatabaseHandler
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import user_passes_test
from django.contrib.auth.forms import PasswordResetForm
from django.core.cache import cache

log = logging.getLogger(__name__)


_MAX_FORWARDED = 1_000  # a forwarded-for chain longer than this is not one our proxies wrote


def client_ip(request) -> str | None:
    """The client's address, for the login lockout (AXES_CLIENT_IP_CALLABLE) and the enquiry
    rate limit alike.

    Behind TRUSTED_PROXY_COUNT proxies, each of which appends the address it was reached from
    to X-Forwarded-For, the client is the entry that many places from the end, and every entry
    our proxies wrote must be an address. Without the setting the header is the client's own
    to forge, so only REMOTE_ADDR counts; so it does when the header is malformed.
    """
    peer = request.META.get("REMOTE_ADDR")
    trusted = settings.TRUSTED_PROXY_COUNT
    header = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if trusted <= 0 or not header or len(header) > _MAX_FORWARDED:
        return peer
    hops = [hop.strip() for hop in header.split(",")]
    if len(hops) < trusted:
        return peer
    try:
        ours = [ipaddress.ip_address(hop) for hop in hops[-trusted:]]
    except ValueError:
        return peer
    return str(ours[0])


class LoginAttemptHandler(AxesDatabaseHandler):
    """axes' database handler, minus the NUL bytes PostgreSQL refuses in the client's headers.

    axes already replaces them in the GET and POST data it records, but not in the user agent,
    Accept header or path, so one crafted header turned a failed login into a 500.
    """

    @staticmethod
    def _scrub(request):
        for name in ("axes_user_agent", "axes_http_accept", "axes_path_info"):
            value = getattr(request, name, None)
            if isinstance(value, str):
                setattr(request, name, value.replace("\0", ""))  # never longer than axes cut it

    def user_login_failed(self, sender, credentials, request=None, **kwargs):
        self._scrub(request)
        # The login forms do not bound the username; its column does (PostgreSQL refused a
        # 300-character guess with a 500). No account's name is longer than the user model's.
        longest = get_user_model()._meta.get_field("username").max_length
        username = credentials.get("username")
        if isinstance(username, str) and len(username) > longest:
            credentials = {**credentials, "username": username[:longest]}
        return super().user_login_failed(sender, credentials, request, **kwargs)

    def user_logged_in(self, sender, request, user, **kwargs):
        self._scrub(request)
        return super().user_logged_in(sender, request, user, **kwargs)

    def user_logged_out(self, sender, request, user, **kwargs):
        self._scrub(request)
        return super().user_logged_out(sender, request, user, **kwargs)


def reset_email_allowed(email: str) -> bool:
    """Count one reset request for this address; False once the hour's allowance is spent."""
    digest = hashlib.sha256(email.strip().casefold().encode()).hexdigest()
    key = f"password-reset:{digest}"
    cache.add(key, 0, timeout=settings.PASSWORD_RESET_EMAIL_WINDOW_SECONDS)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr: this request starts a new window
        cache.add(key, 1, timeout=settings.PASSWORD_RESET_EMAIL_WINDOW_SECONDS)
        count = 1
    return count <= settings.PASSWORD_RESET_EMAIL_LIMIT


class ThrottledPasswordResetForm(PasswordResetForm):
    """Sends at most PASSWORD_RESET_EMAIL_LIMIT emails per address per window.

    Over the limit the form still validates and the view still answers "check your inbox", so
    the answer never tells whether the address has an account or has been throttled.
    """

    def get_users(self, email):
        if not reset_email_allowed(email):
            log.warning("Password-reset email throttled for one address.")
            return iter(())
        return super().get_users(email)


class PasswordResetView(auth_views.PasswordResetView):
    form_class = ThrottledPasswordResetForm


def verified_staff_required(view):
    """staff_member_required, plus the second factor the admin site asks for.

    For the staff paths that live beside the admin (disputes' documented URLs): a staff session
    without a verified TOTP device is sent to the admin login, as the admin itself does.
    """
    return user_passes_test(
        lambda user: user.is_active and user.is_staff and user.is_verified(),
        login_url="admin:login",
    )(view)
