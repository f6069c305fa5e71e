"""Enrol a staff member's authenticator app (TOTP) for the admin's second factor."""

from base64 import b32encode

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from antidote import arguments
from antidote.logs import logged_command


def enrol(user) -> tuple[TOTPDevice, bool]:
    """The user's TOTP device, created (confirmed) if they have none. Safe to run twice."""
    device = TOTPDevice.objects.filter(user=user, confirmed=True).order_by("pk").first()
    if device is not None:
        return device, False
    return TOTPDevice.objects.create(user=user, name="authenticator", confirmed=True), True


def current_code(device: TOTPDevice) -> str:
    code = totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits)
    return f"{code:0{device.digits}d}"


@logged_command
class Command(BaseCommand):
    help = (
        "Create a TOTP device for a staff user (if they have none) and print the seed and the "
        "otpauth:// URI to add to an authenticator app. The admin login asks for its code. "
        "--reset replaces the device; --code prints the current code (DEBUG only, for the demo)."
    )

    def add_arguments(self, parser):
        parser.add_argument("username", type=arguments.username)
        parser.add_argument("--reset", action="store_true", help="Replace the existing device.")
        parser.add_argument(
            "--code", action="store_true", help="Print only the current code (DEBUG only)."
        )

    def handle(self, *args, username, reset, code, **options):
        user = get_user_model().objects.filter(username=username, is_staff=True).first()
        if user is None:
            raise CommandError(f"No staff user named {username!r}.")
        if code:
            if not settings.DEBUG:
                raise CommandError("--code is for the local demo only (DEBUG on).")
            device = TOTPDevice.objects.filter(user=user, confirmed=True).order_by("pk").first()
            if device is None:
                raise CommandError(f"{username} has no TOTP device; run without --code first.")
            self.stdout.write(current_code(device))
            return
        if reset:
            TOTPDevice.objects.filter(user=user).delete()
        device, created = enrol(user)
        state = "new device" if created else "enrolled device"
        self.stdout.write(self.style.SUCCESS(f"{username}'s authenticator app ({state}):"))
        self.stdout.write(f"  Seed (base32): {b32encode(device.bin_key).decode()}")
        self.stdout.write(f"  URI: {device.config_url}")
