"""The safety sweep behind posting-time alerts: alert clinics below their level that were not
told since they crossed it (a level lowered under the balance, an alert from before), and
re-arm those back above it."""

from django.core.management.base import BaseCommand
from django.db import transaction

from billing import services
from billing.selectors import accounts_to_alert


class Command(BaseCommand):
    help = (
        "Alert each active clinic whose balance is below its low-balance threshold and that has "
        "not been told since it crossed it (the debit that crosses it normally does this); a "
        "clinic back above its threshold is re-armed. Safe to run as often as you like: nobody "
        "is alerted twice for one crossing. The alert goes out through the outbox."
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
            # The claim and the outbox row commit together: another run at the same time gets
            # nothing here, and a send that fails is retried by the outbox, not by this command.
            with transaction.atomic():
                if services.claim_low_balance_alert(account=account) is None:
                    self.stdout.write(f"  {clinic.name}: already alerted by another run")
                    continue
                services.emit_low_balance_alert(account=account)
            sent += 1
        self.stdout.write(self.style.SUCCESS(f"{sent} alert(s) queued, {rearmed} re-armed."))
