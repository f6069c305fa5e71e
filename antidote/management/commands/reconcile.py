"""Run both reconciliations and print one summary."""

from io import StringIO

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from antidote.logs import logged_command


@logged_command
class Command(BaseCommand):
    help = (
        "Run reconcile_ledger and reconcile_payments (passing --dry-run to the latter), print "
        "each one's findings and one summary line, and exit 1 if either found a problem."
    )

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="Payments: report only.")

    def handle(self, *args, dry_run, **options):
        failed = []
        for name, extra in (
            ("reconcile_ledger", []),
            ("reconcile_payments", ["--dry-run"] if dry_run else []),
        ):
            out = StringIO()
            try:
                call_command(name, *extra, stdout=out, stderr=StringIO())
                verdict = "OK"
            except CommandError as error:
                out.write(f"{error}\n")
                verdict = "FAILED"
                failed.append(name)
            self.stdout.write(f"== {name}: {verdict}")
            self.stdout.write(out.getvalue().rstrip())
        if failed:
            raise CommandError(f"Reconciliation FAILED: {', '.join(failed)}.", returncode=1)
        self.stdout.write(self.style.SUCCESS("Reconciliation OK: ledger and payments agree."))
