"""Settle payments that neither the browser nor a webhook reported; expire stale orders."""

from django.core.management.base import BaseCommand, CommandError

from antidote.arguments import bounded_int
from antidote.logs import logged_command
from billing.services import record_reconciliation
from payments.services import reconcile_payments

# A year: far beyond any lookback, and well inside what a datetime can subtract.
MAX_OLDER_THAN_MINUTES = 366 * 24 * 60


@logged_command
class Command(BaseCommand):
    help = (
        "For every uncredited order older than --older-than minutes (and younger than "
        "PAYMENT_RECONCILE_LOOKBACK_DAYS), whatever its status, ask Razorpay for its payments: "
        "credit a captured one exactly once (capturing an authorised one), expire pending "
        "orders past PAYMENT_ORDER_EXPIRY_MINUTES, list paid orders without a purchase entry, "
        "purchase entries without a paid order, and promo overruns. The dry run applies the "
        "same checks. Exits 1 if it found a problem it could not settle. Safe to run twice."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--older-than",
            type=bounded_int(minimum=0, maximum=MAX_OLDER_THAN_MINUTES, unit="minutes"),
            default=15,
            help="Minutes (default 15, at most a year).",
        )
        parser.add_argument("--dry-run", action="store_true", help="Report only; change nothing.")

    def handle(self, *args, older_than, dry_run, **options):
        report = reconcile_payments(older_than_minutes=older_than, dry_run=dry_run)
        verb = "would settle" if dry_run else "settled"
        for order in report.settled:
            self.stdout.write(
                f"{verb} order #{order.pk} ({order.clinic}): {order.total_credits} credits"
            )
        for order in report.expired:
            self.stdout.write(f"{'would expire' if dry_run else 'expired'} order #{order.pk}")
        for line in report.reversed:
            self.stdout.write(line)
        for problem in report.problems:
            self.stdout.write(self.style.ERROR(problem))
        summary = (
            f"{len(report.settled)} {verb}, {len(report.reversed)} refunds reversed, "
            f"{len(report.expired)} expired, "
            f"{len(report.problems)} problems ({len(report.overruns)} promo overruns to review)"
        )
        if not dry_run:
            record_reconciliation(name="payments", ok=not report.problems, summary=summary)
        if report.problems:
            raise CommandError(f"Payments check FAILED: {summary}.", returncode=1)
        self.stdout.write(self.style.SUCCESS(f"Payments OK: {summary}."))
