"""Check that every balance equals the sum of its entries and every chain is unbroken."""

from django.core.management.base import BaseCommand, CommandError

from billing import services
from billing.models import CreditAccount, CreditTransaction
from billing.selectors import ledger_discrepancies


class Command(BaseCommand):
    help = (
        "Verify the credit ledger: for every account, balance == sum of its entries and each "
        "entry's balance_after chains from the previous one. Lists each discrepancy and exits "
        "1 if there is any. Read-only: it never changes money."
    )

    def add_arguments(self, parser):
        from antidote.arguments import bounded_int

        parser.add_argument(
            "--batch-size",
            type=bounded_int(minimum=1, maximum=100_000),
            default=500,
            help="Accounts checked per query (default 500, at most 100,000).",
        )

    def handle(self, *args, batch_size, verbosity, **options):
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")

        def progress(done, total):
            if verbosity >= 1 and total > batch_size:
                self.stderr.write(f"  checked {done:,}/{total:,} accounts")

        problems = list(ledger_discrepancies(batch_size=batch_size, progress=progress))
        for problem in problems:
            self.stdout.write(
                self.style.ERROR(
                    f"{problem.clinic_name} (clinic #{problem.clinic_id}, account "
                    f"#{problem.account_id}): {problem.problem}"
                )
            )
        if problems:
            accounts = len({p.account_id for p in problems})
            services.record_reconciliation(
                name="ledger",
                ok=False,
                summary=f"{len(problems)} discrepancies in {accounts} accounts",
            )
            raise CommandError(
                f"Ledger check FAILED: {len(problems)} discrepancies in {accounts} accounts.",
                returncode=1,
            )
        accounts = CreditAccount.objects.count()
        entries = CreditTransaction.objects.count()
        services.record_reconciliation(
            name="ledger", ok=True, summary=f"{accounts:,} accounts, {entries:,} entries"
        )
        self.stdout.write(
            self.style.SUCCESS(
                f"Ledger OK: {accounts:,} accounts, {entries:,} entries; every balance equals "
                "the sum of its entries and every chain is unbroken."
            )
        )
