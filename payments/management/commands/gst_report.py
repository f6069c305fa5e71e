"""The month's GST documents for the accountant, as one CSV."""

from django.core.management.base import BaseCommand, CommandError

from antidote.arguments import file_path, iso_month
from antidote.csv import csv_writer
from antidote.money import format_paise
from payments.selectors import gst_report, gst_report_rows


class Command(BaseCommand):
    help = (
        "Write the tax invoices and credit notes issued in --month (YYYY-MM) to --out as CSV: "
        "B2B invoices one per row with the recipient's GSTIN, B2C invoices summed by place of "
        "supply and rate, credit notes one per row, then totals. Amounts are integer paise. "
        "Reads only; safe to run twice."
    )

    def add_arguments(self, parser):
        parser.add_argument("--month", type=iso_month, required=True, help="YYYY-MM")
        parser.add_argument("--out", type=file_path, required=True, help="CSV file to write.")

    def handle(self, *args, month, out, **options):
        report = gst_report(month=month)
        try:
            # "x": a report never replaces a file, a pipe or a device that is already there.
            with open(out, "x", newline="", encoding="utf-8") as stream:
                csv_writer(stream).writerows(gst_report_rows(report))
        except FileExistsError:
            raise CommandError(f"{out} already exists; choose a new file.", returncode=2) from None
        except OSError as error:
            raise CommandError(f"cannot write {out}: {error.strerror}.", returncode=2) from None
        totals = report.invoice_totals
        self.stdout.write(
            self.style.SUCCESS(
                f"{month:%Y-%m}: {len(report.b2b)} B2B invoices, {len(report.b2c)} B2C groups, "
                f"{len(report.credit_notes)} credit notes; invoiced "
                f"{format_paise(totals['taxable_paise'])} + "
                f"{format_paise(totals['total_paise'] - totals['taxable_paise'])} GST. "
                f"Written to {out}."
            )
        )
