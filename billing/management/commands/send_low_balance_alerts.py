"""Email clinics whose balance fell below their alert level since they were last told."""

import logging

from django.conf import settings
from django.core.mail import send_mail
from django.core.management.base import BaseCommand, CommandError

from antidote.logs import logged_command
from billing import services
from billing.selectors import accounts_to_alert

logger = logging.getLogger(__name__)


@logged_command
class Command(BaseCommand):
    help = (
        "Email each active clinic whose balance is below its low-balance threshold and that has "
        "not been told since it crossed it; a clinic back above its threshold is re-armed. "
        "Safe to run as often as you like: nobody is emailed twice for one crossing."
    )

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="List, send nothing.")

    def handle(self, *args, dry_run, **options):
        rearmed = 0 if dry_run else services.rearm_low_balance_alerts()
        sent = failed = 0
        for account in accounts_to_alert():
            clinic = account.clinic
            self.stdout.write(
                f"{'would alert' if dry_run else 'alerting'} {clinic.name}: {account.balance:,} "
                f"credits (alert level {account.low_balance_threshold:,})"
            )
            if dry_run:
                continue
            # Claimed in the database before sending: another run at the same time gets
            # nothing here and moves on, so one crossing is one email.
            claimed_at = services.claim_low_balance_alert(account=account)
            if claimed_at is None:
                self.stdout.write(f"  {clinic.name}: already alerted by another run")
                continue
            try:
                _send_alert(account)
            except Exception as error:
                # One clinic's bad address or a mail-server hiccup must not stop the others;
                # the claim is given back, so the next run tries it again.
                services.release_low_balance_alert(account=account, claimed_at=claimed_at)
                logger.exception("Low-balance alert to clinic #%s failed", clinic.pk)
                self.stderr.write(self.style.ERROR(f"  could not email {clinic.name}: {error}"))
                failed += 1
                continue
            sent += 1
        self.stdout.write(self.style.SUCCESS(f"{sent} alert(s) sent, {rearmed} re-armed."))
        if failed:
            raise CommandError(f"{failed} alert(s) could not be sent; run again to retry them.")


def _send_alert(account) -> None:
    clinic = account.clinic
    send_mail(
        f"{clinic.name}: {account.balance:,} credits left",
        f"Your Antidote balance is {account.balance:,} credits, below your alert level of "
        f"{account.low_balance_threshold:,}. New leads are held when credits run out.\n\n"
        f"Top up: {settings.SITE_URL}/clinic/credits/topup",
        settings.DEFAULT_FROM_EMAIL,
        [clinic.contact_email],
    )
