"""The month's deferred revenue, revenue recognised, breakage and bonus credits, in rupees."""

from django.core.management.base import CommandError

from antidote.arguments import file_path, year_month
from antidote.csv import csv_writer
from billing.finance import finance_report, report_rows
from billing.management.commands import export_ledger


class Command(export_ledger.Command):
    help = (
        "Print (or write as CSV with --out) one month's finance report: opening deferred "
        "revenue, paid credits sold, revenue recognised, refunds restored, breakage, closing "
        "deferred revenue, and bonus credits issued, consumed and expired. Rupees exclude GST "
        "and are rounded once per line to the paisa. Exits 1 if the identity opening + sold "
        "+ … = closing does not hold."
    )

    def add_arguments(self, parser):
        parser.add_argument("--month", required=True, type=year_month, help="The month, YYYY-MM.")
        parser.add_argument("--out", type=file_path, help="CSV file to write ('-' for stdout).")
        parser.add_argument(
            "--force", action="store_true", help="Replace the file if it already exists."
        )

    def handle(self, *args, month, out, force, verbosity, **options):
        report = finance_report(month=month)
        rows = report_rows(report)
        if out is None or out == "-":
            if out is None:
                width = max(len(label) for label, _ in rows)
                self.stdout.write(f"Finance report for {month:%Y-%m} (rupees, excl. GST)")
                for label, figure in rows:
                    self.stdout.write(f"  {label:<{width}}  {figure:>14}")
            else:
                self._write(rows, self.stdout, verbosity)
        else:
            self._check_target(out, force)
            self._write_then_rename(rows, self._target, force=force, verbosity=verbosity)
            self.stdout.write(self.style.SUCCESS(f"Wrote the {month:%Y-%m} report to {out}."))
        if report.identity_gap():
            raise CommandError(
                f"The finance identity does not hold for {month:%Y-%m}: off by "
                f"{report.identity_gap()} paise (an exact fraction).",
                returncode=1,
            )

    def _write(self, rows, stream, verbosity) -> int:
        writer = csv_writer(stream)
        writer.writerow(["line", "value"])
        for row in rows:
            writer.writerow(row)
        return len(rows)
