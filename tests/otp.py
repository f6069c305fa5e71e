"""Logging staff in with a verified second factor, as the admin's TOTP login leaves them."""

from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice


def login_with_otp(client, user):
    """``client.force_login(user)`` plus a verified TOTP device on the session.

    The admin (and the staff paths beside it) refuse a staff session without one, so tests
    that act as staff log in with this instead of ``force_login``.
    """
    device, _ = TOTPDevice.objects.get_or_create(
        user=user, name="test authenticator", defaults={"confirmed": True}
    )
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return user
