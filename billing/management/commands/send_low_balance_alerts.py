"""Email clinics whose balance fell below their alert level since they were last told."""

from django.conf import settings
from django.core.mail import send_mail
from django.core.management.base import BaseCommand

from billing import services
from billing.selectors import accounts_to_alert


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
        sent = 0
        for account in accounts_to_alert():
            clinic = account.clinic
            self.stdout.write(
                f"{'would alert' if dry_run else 'alerting'} {clinic.name}: {account.balance:,} "
                f"credits (alert level {account.low_balance_threshold:,})"
            )
            if dry_run:
                continue
            send_mail(
                f"{clinic.name}: {account.balance:,} credits left",
                f"Your Antidote balance is {account.balance:,} credits, below your alert level of "
                f"{account.low_balance_threshold:,}. New leads are held when credits run out.\n\n"
                f"Top up: {settings.SITE_URL}/clinic/credits/topup",
                settings.DEFAULT_FROM_EMAIL,
                [clinic.contact_email],
            )
            services.mark_low_balance_alerted(account=account)
            sent += 1
        self.stdout.write(self.style.SUCCESS(f"{sent} alert(s) sent, {rearmed} re-armed."))
