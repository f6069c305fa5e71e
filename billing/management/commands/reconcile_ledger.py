"""Check that every balance equals the sum of its entries and every chain is unbroken."""

from django.core.management.base import BaseCommand, CommandError

from antidote.arguments import bounded_int
from antidote.logs import logged_command
from billing import services
from billing.finance import identity_problems
from billing.models import CreditAccount, CreditTransaction
from billing.selectors import budget_problems, lead_problems, ledger_discrepancies


@logged_command
class Command(BaseCommand):
    help = (
        "Verify the credit ledger: for every account, balance == sum of its entries and each "
        "entry's balance_after chains from the previous one; its lots hold max(balance, 0); "
        "every debit's lot allocations add up to it and none touched an expired lot; each "
        "lot's remaining matches its allocations and the finance identity holds for every "
        "clinic and month; no lead charge passed the weekly or monthly cap (or the pause) "
        "in force when it was posted, and the current week's and month's spend counters "
        "match the ledger. Also lists leads flagged as a "
        "technical error that are still charged, and each clinic's oldest waiting lead older "
        "than HELD_LEAD_ALERT_MINUTES that the clinic could pay for. Exits 1 if it finds any "
        "of these. Read-only: it never changes money."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--batch-size",
            type=bounded_int(minimum=1, maximum=100_000),
            default=100_000,
            help=(
                "Accounts checked per query (default and at most 100,000: every check is one "
                "pass over its table per batch)."
            ),
        )

    def handle(self, *args, batch_size, verbosity, **options):
        def progress(done, total):
            if verbosity >= 1 and total > batch_size:
                self.stderr.write(f"  checked {done:,}/{total:,} accounts")

        problems = list(ledger_discrepancies(batch_size=batch_size, progress=progress))
        on_finance = []
        for problem in problems:
            self.stdout.write(
                self.style.ERROR(
                    f"{problem.clinic_name} (clinic #{problem.clinic_id}, account "
                    f"#{problem.account_id}): {problem.problem}"
                )
            )
        on_leads = lead_problems()
        # Finance: each lot's remaining matches its allocations, and the finance identity
        # holds for every clinic and month since lots began.
        for problem in identity_problems():
            self.stdout.write(self.style.ERROR(problem))
            on_finance.append(problem)
        on_budget = budget_problems()
        for problem in on_budget:
            self.stdout.write(self.style.ERROR(problem))
        for problem in on_leads:
            self.stdout.write(
                self.style.ERROR(
                    f"{problem.clinic_name} (clinic #{problem.clinic_id}): {problem.problem}"
                )
            )
        if problems or on_leads or on_finance or on_budget:
            found = []
            if problems:
                accounts = len({p.account_id for p in problems})
                found.append(f"{len(problems)} discrepancies in {accounts} accounts")
            if on_leads:
                found.append(f"{len(on_leads)} lead(s) with money wrong")
            if on_finance:
                found.append(f"{len(on_finance)} finance problem(s)")
            if on_budget:
                found.append(f"{len(on_budget)} budget problem(s)")
            summary = "; ".join(found)
            services.record_reconciliation(name="ledger", ok=False, summary=summary)
            raise CommandError(f"Ledger check FAILED: {summary}.", returncode=1)
        accounts = CreditAccount.objects.count()
        entries = CreditTransaction.objects.count()
        services.record_reconciliation(
            name="ledger", ok=True, summary=f"{accounts:,} accounts, {entries:,} entries"
        )
        self.stdout.write(
            self.style.SUCCESS(
                f"Ledger OK: {accounts:,} accounts, {entries:,} entries; every balance equals "
                "the sum of its entries and every chain is unbroken; lots and the finance "
                "identity agree; no charge passed a budget; no flagged lead is charged and no "
                "clinic could pay for a lead kept waiting."
            )
        )
