"""Post the expiry of every credit lot past its expiry date with credits left."""

from django.core.management.base import BaseCommand

from antidote.arguments import bounded_int
from billing import services


class Command(BaseCommand):
    help = (
        "Post one 'expiry' ledger entry per credit lot that has passed its expiry with credits "
        "left (key expiry:lot:<id>), and lower the balance accordingly. Run it from cron, e.g. "
        "hourly; safe to run twice or two at once: each lot expires once. Charges never draw "
        "an expired lot even before this runs."
    )

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="Count, post nothing.")
        parser.add_argument(
            "--batch-size",
            type=bounded_int(minimum=1, maximum=50_000),
            default=2_000,
            help="Lots posted per transaction (default 2,000).",
        )

    def handle(self, *args, dry_run, batch_size, verbosity, **options):
        def progress(done):
            if verbosity >= 2:
                self.stderr.write(f"  {done:,} lots expired")

        run = services.expire_credits(dry_run=dry_run, batch_size=batch_size, progress=progress)
        verb = "Would expire" if dry_run else "Expired"
        self.stdout.write(
            self.style.SUCCESS(
                f"{verb} {run.lots:,} lot(s): {run.credits:,} credits in {run.accounts:,} "
                "account(s)."
            )
        )
