"""Stream ledger entries to CSV in constant memory, never leaving a half-written file."""

import os
import tempfile
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from antidote.arguments import clinic_ref, file_path, iso_date
from antidote.csv import NUMBER, TEXT, TIME, export_csv
from antidote.logs import logged_command
from billing.selectors import ledger_rows
from leads.models import Clinic

COLUMNS = [
    ("id", "id", NUMBER),
    ("created_at", "created_at", TIME),
    ("clinic_id", "account__clinic_id", NUMBER),
    ("clinic", "account__clinic__name", TEXT),
    ("kind", "kind", TEXT),
    ("credits", "credits", NUMBER),
    ("balance_after", "balance_after", NUMBER),
    ("lead_id", "lead_id", NUMBER),
    ("actor", "actor__username", TEXT),
    ("idempotency_key", "idempotency_key", TEXT),
    ("memo", "memo", TEXT),
]


PROGRESS_EVERY = 100_000


def bad_argument(message: str) -> CommandError:
    """A bad argument found after parsing: exit code 2, like argparse's own refusals."""
    return CommandError(message, returncode=2)


@logged_command
class Command(BaseCommand):
    help = (
        "Write ledger entries (oldest first) to a CSV file, streaming in chunks so memory stays "
        "flat on millions of rows. Dates are inclusive, in the business time zone."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--from", dest="date_from", type=iso_date, help="First day, YYYY-MM-DD."
        )
        parser.add_argument("--to", dest="date_to", type=iso_date, help="Last day, YYYY-MM-DD.")
        parser.add_argument("--clinic", type=clinic_ref, help="Only this clinic (slug or id).")
        parser.add_argument(
            "--out", required=True, type=file_path, help="CSV file to write ('-' for stdout)."
        )
        parser.add_argument(
            "--force", action="store_true", help="Replace the file if it already exists."
        )

    def handle(self, *args, date_from, date_to, clinic, out, force, verbosity, **options):
        if date_from and date_to and date_from > date_to:
            raise bad_argument("--from is after --to.")
        selected = None
        if clinic is not None:
            lookup = {"pk": int(clinic)} if clinic.isascii() and clinic.isdigit() else {}
            selected = Clinic.objects.filter(**(lookup or {"slug": clinic})).first()
            if selected is None:
                raise bad_argument(f"No clinic {clinic!r} (give its id or slug).")
        rows = ledger_rows(date_from=date_from, date_to=date_to, clinic=selected)
        if out == "-":
            self._write(rows, self.stdout, verbosity)
            return
        self._check_target(out, force)
        written = self._write_then_rename(rows, self._target, force=force, verbosity=verbosity)
        self.stdout.write(self.style.SUCCESS(f"Wrote {written:,} ledger entries to {out}."))

    def _check_target(self, out: str, force: bool) -> None:
        """Refuse a target that is a folder, missing its folder, taken, or not a plain file."""
        target = self._target = Path(out)
        try:
            if target.is_dir():
                raise bad_argument(f"{out} is a folder; give a file name.")
            if not target.parent.is_dir():
                raise bad_argument(f"The folder {target.parent} does not exist.")
            if target.exists() and not force:
                raise bad_argument(f"{out} already exists; add --force to replace it.")
            if target.exists() and not target.is_file():
                # A device or a pipe (/dev/null run as root) would be swapped for the CSV.
                raise bad_argument(f"{out} is not a regular file; it is never replaced.")
        except OSError as error:
            raise bad_argument(f"cannot write {out}: {error.strerror}.") from None

    def _write_then_rename(self, rows, target: Path, *, force: bool, verbosity: int) -> int:
        """Write a temporary file beside ``target``, then give it the final name in one step:
        a crash or an interrupt leaves no file (and no truncated one) under that name, and an
        existing file stays as it was until the new one is complete."""
        try:
            handle, temporary = tempfile.mkstemp(
                dir=target.parent, prefix=f".{target.name}.", suffix=".partial"
            )
        except OSError as error:  # a name too long for the temporary file, a read-only folder
            raise bad_argument(f"cannot write {target}: {error.strerror}.") from None
        try:
            with os.fdopen(handle, "w", newline="", encoding="utf-8") as stream:
                written = self._write(rows, stream, verbosity)
                stream.flush()
                os.fsync(stream.fileno())
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(temporary, 0o666 & ~umask)  # as open() would have made it
            if force:
                os.replace(temporary, target)
            else:
                # A hard link fails if the name was taken since the check: never overwrite.
                try:
                    os.link(temporary, target)
                except FileExistsError:
                    raise bad_argument(
                        f"{target} already exists; add --force to replace it."
                    ) from None
                os.unlink(temporary)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        return written

    def _write(self, entries, stream, verbosity) -> int:
        # Clinic names, user names, keys and memos are text people typed: no formulas.
        written = reported = 0
        for rows, text in export_csv(entries, COLUMNS):
            stream.write(text)
            written += rows
            if verbosity >= 1 and written >= reported + PROGRESS_EVERY:
                reported = written - written % PROGRESS_EVERY
                self.stderr.write(f"  {written:,} entries written")
        return written
