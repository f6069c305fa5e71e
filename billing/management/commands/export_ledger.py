"""Stream ledger entries to CSV in constant memory."""

import re
from datetime import date

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from antidote.csv import csv_writer
from billing.selectors import ledger_rows
from leads.models import Clinic

HEADER = [
    "id",
    "created_at",
    "clinic_id",
    "clinic",
    "kind",
    "credits",
    "balance_after",
    "lead_id",
    "actor",
    "idempotency_key",
    "memo",
]


def _date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as error:
        raise CommandError(f"{value!r} is not a date (YYYY-MM-DD).") from error


class Command(BaseCommand):
    help = (
        "Write ledger entries (oldest first) to a CSV file, streaming in chunks so memory stays "
        "flat on millions of rows. Dates are inclusive, in the business time zone."
    )

    def add_arguments(self, parser):
        parser.add_argument("--from", dest="date_from", type=_date, help="First day, YYYY-MM-DD.")
        parser.add_argument("--to", dest="date_to", type=_date, help="Last day, YYYY-MM-DD.")
        parser.add_argument("--clinic", help="Only this clinic (slug or id).")
        parser.add_argument("--out", required=True, help="CSV file to write ('-' for stdout).")

    def handle(self, *args, date_from, date_to, clinic, out, verbosity, **options):
        if date_from and date_to and date_from > date_to:
            raise CommandError("--from is after --to.")
        selected = None
        if clinic is not None:
            # An id is plain ASCII digits (str.isdigit() also takes '²' and other scripts).
            is_id = re.fullmatch(r"[0-9]{1,18}", clinic)
            lookup = {"pk": int(clinic)} if is_id else {"slug": clinic}
            selected = Clinic.objects.filter(**lookup).first()
            if selected is None:
                raise CommandError(f"No clinic {clinic!r}.")
        rows = ledger_rows(date_from=date_from, date_to=date_to, clinic=selected)
        to_stdout = out == "-"
        stream = self.stdout if to_stdout else open(out, "w", newline="", encoding="utf-8")  # noqa: SIM115
        written = 0
        try:
            # Clinic names, user names, keys and memos are text people typed: no formulas.
            writer = csv_writer(stream)
            writer.writerow(HEADER)
            for row in rows.iterator(chunk_size=2_000):
                created = timezone.localtime(row[1]).isoformat()
                writer.writerow([row[0], created, *row[2:]])
                written += 1
                if verbosity >= 1 and written % 100_000 == 0:
                    self.stderr.write(f"  {written:,} entries written")
        finally:
            if not to_stdout:
                stream.close()
        if not to_stdout:
            self.stdout.write(self.style.SUCCESS(f"Wrote {written:,} ledger entries to {out}."))
