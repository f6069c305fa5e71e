"""Owners' second factor in the portal: the login that asks for it, and the page that turns it
on and off.

An owner may turn on an authenticator app for their own login. The seed is shown to them only
while their device is unconfirmed; a code from the app confirms it, and from then on the
portal's login asks for a code, as it does for anyone with a confirmed device (staff included).
Turning it off needs a current code. django-otp throttles guesses per device. Apart from
antidote.accounts (which django-axes loads with the settings) because it needs the models.
"""

from base64 import b32encode

from django import forms
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm
from django.db import transaction
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.models import TOTPDevice

from antidote.errors import AntidoteError
from antidote.portal import clinic_member_required

PORTAL_DEVICE_NAME = "portal authenticator"


def _code_field(**extra) -> forms.RegexField:
    return forms.RegexField(
        regex=r"^[0-9]{6}$",
        required=False,
        max_length=6,
        label="Authenticator code",
        error_messages={"invalid": "Enter the 6-digit code from your authenticator app."},
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
        **extra,
    )


def _verified(devices, token: str | None):
    """The device this code verifies, or None (no code, a wrong one, or throttled)."""
    if not token:
        return None
    return next((device for device in devices if device.verify_token(token)), None)


class PortalLoginForm(AuthenticationForm):
    """Username and password, and the authenticator code once the user has turned one on."""

    otp_token = _code_field(help_text="Only if you turned on an authenticator app.")
    otp_error = ""
    otp_device = None

    def clean(self):
        cleaned = super().clean()
        devices = list(TOTPDevice.objects.filter(user=self.user_cache, confirmed=True))
        if devices:
            self.otp_device = _verified(devices, cleaned.get("otp_token"))
            if self.otp_device is None:
                self.otp_error = (
                    "This login needs the 6-digit code from its authenticator app. A wrong code "
                    "counts as a guess; after a few, wait a little before trying again."
                )
                raise forms.ValidationError(self.otp_error, code="otp")
        return cleaned


class PortalLoginView(auth_views.LoginView):
    authentication_form = PortalLoginForm

    def form_valid(self, form):
        response = super().form_valid(form)
        if form.otp_device is not None:
            otp_login(self.request, form.otp_device)
        return response


class TwoFactorForm(forms.Form):
    action = forms.ChoiceField(choices=[("start", "start"), ("confirm", "confirm"), ("off", "off")])
    otp_token = _code_field()


def start_authenticator(*, user) -> TOTPDevice:
    """A new unconfirmed device for the user (replacing an unconfirmed one)."""
    with transaction.atomic():
        if TOTPDevice.objects.filter(user=user, confirmed=True).exists():
            raise AntidoteError("Your authenticator app is already on.")
        TOTPDevice.objects.filter(user=user, confirmed=False).delete()
        return TOTPDevice.objects.create(user=user, name=PORTAL_DEVICE_NAME, confirmed=False)


def confirm_authenticator(*, user, token: str | None) -> TOTPDevice:
    with transaction.atomic():
        device = TOTPDevice.objects.select_for_update().filter(user=user, confirmed=False).first()
        if device is None:
            raise AntidoteError("Start again: there is no authenticator waiting to be confirmed.")
        if _verified([device], token) is None:
            raise AntidoteError(
                "That code did not match. Check the app shows Antidote's code, then try again."
            )
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        return device


def turn_off_authenticator(*, user, token: str | None) -> None:
    with transaction.atomic():
        devices = list(
            TOTPDevice.objects.select_for_update().filter(
                user=user, confirmed=True, name=PORTAL_DEVICE_NAME
            )
        )
        if not devices:
            raise AntidoteError("Your login has no authenticator app you can turn off here.")
        if _verified(devices, token) is None:
            raise AntidoteError("Enter a current code from the app to turn it off.")
        TOTPDevice.objects.filter(pk__in=[d.pk for d in devices]).delete()


@require_http_methods(["GET", "POST"])
@clinic_member_required
def two_factor(request):
    """Owners turn an authenticator app on or off for their own login (antidote.portal)."""
    form = TwoFactorForm(request.POST if request.method == "POST" else None)
    status, error = 200, None
    if request.method == "POST":
        if not form.is_valid():
            status, error = 400, "The request could not be read; use the buttons on this page."
        else:
            action, token = form.cleaned_data["action"], form.cleaned_data["otp_token"]
            try:
                if action == "start":
                    start_authenticator(user=request.user)
                elif action == "confirm":
                    confirm_authenticator(user=request.user, token=token)
                    messages.success(request, "Your login now asks for the app's code.")
                    return redirect("two-factor")
                else:
                    turn_off_authenticator(user=request.user, token=token)
                    messages.success(request, "Your login no longer asks for a code.")
                    return redirect("two-factor")
            except AntidoteError as refusal:
                status, error = 400, refusal.message
    devices = TOTPDevice.objects.filter(user=request.user)
    confirmed = devices.filter(confirmed=True).first()
    pending = None if confirmed else devices.filter(confirmed=False).first()
    context = {
        "confirmed": confirmed,
        "removable": confirmed is not None and confirmed.name == PORTAL_DEVICE_NAME,
        "pending": pending,
        "seed": b32encode(pending.bin_key).decode() if pending else "",
        "uri": pending.config_url if pending else "",
        "error": error,
    }
    return render(request, "registration/two_factor.html", context, status=status)
