"""Running a management command the way an operator does: its exit code and what it printed."""

from io import StringIO

from django.core.management import CommandError, call_command


def run_command(name, *args) -> tuple[int, str]:
    """(exit code, stdout followed by the error message of a failed run)."""
    out = StringIO()
    try:
        call_command(name, *args, stdout=out, stderr=StringIO())
    except CommandError as error:
        return error.returncode, out.getvalue() + str(error)
    return 0, out.getvalue()
