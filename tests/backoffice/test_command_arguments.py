"""Every management command refuses hostile arguments with a clear message and exit code 2.

The table below lists bad arguments for each of our commands, found from Django's own command
registry: a new command fails ``test_every_command_of_ours_is_in_the_table`` until it has an
entry. ``call_command`` turns argparse's refusal into ``CommandError("Error: …")``; from the
command line the same refusal is exit code 2 (the subprocess tests prove it). Refusals found
after parsing (an unknown clinic, an existing file) raise ``CommandError`` with code 2.
"""

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import get_commands

from billing.models import CreditTransaction, ReconciliationRun
from tests.commands import run_command

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parent.parent.parent
OUR_APPS = {"antidote", "leads", "billing", "payments", "disputes"}

NOT_A_FLAG_VALUE = "ignored explicit argument"
UNKNOWN = "unrecognized arguments"
HOSTILE_NUMBERS = ["²", "٣", "1.5", "1e3", "abc", "", " 7", "9" * 30]

# command -> [(arguments, what the refusal says)]
BAD_ARGUMENTS = {
    "load_demo_data": [(["--clinic", "²"], UNKNOWN), (["extra"], UNKNOWN)],
    "reconcile": [(["--dry-run=yes"], NOT_A_FLAG_VALUE), (["--older-than", "5"], UNKNOWN)],
    "staff_totp": [
        ([], "the following arguments are required: username"),
        ([""], "cannot be empty"),
        (["x" * 151], "at most 150 characters"),
        (["bo\x00ss"], "control characters"),
        (["bo\udcffss"], "control characters"),  # a byte that is not UTF-8 on the line
        (["boss", "--code=now"], NOT_A_FLAG_VALUE),
    ],
    "release_held_leads": [(["--dry-run=1"], NOT_A_FLAG_VALUE), (["--clinic", "²"], UNKNOWN)],
    "reconcile_ledger": [
        *[(["--batch-size", n], "is not a whole number") for n in HOSTILE_NUMBERS],
        (["--batch-size", "0"], "out of range"),
        (["--batch-size", "-1"], "out of range"),
        (["--batch-size", "100001"], "out of range"),
    ],
    "send_low_balance_alerts": [(["--dry-run=no"], NOT_A_FLAG_VALUE), (["--bogus"], UNKNOWN)],
    "export_ledger": [
        ([], "the following arguments are required: --out"),
        (["--out", ""], "cannot be empty"),
        (["--out", "a\x00b.csv"], "control characters"),
        (["--out", "/no/such/folder/ledger.csv"], "does not exist"),
        (["--out", "/"], "is a folder"),
        (["--out", "/tmp/" + "a" * 300 + ".csv"], "cannot write"),
        (["--out", "/tmp/" + "a" * 250 + ".csv"], "cannot write"),
        (["--out", "/proc/ledger.csv"], "cannot write"),
        *[
            (["--out", "-", "--clinic", bad], "neither a clinic id nor a slug")
            for bad in ["²", "٣", "", "glow skin", "x" * 201, "9" * 5000, "'; DROP TABLE"]
        ],
        (["--out", "-", "--clinic", "0"], "is no clinic id"),
        (["--out", "-", "--clinic", "9" * 19], "is no clinic id"),
        (["--out", "-", "--clinic", "nobody"], "No clinic 'nobody'"),
        (["--out", "-", "--clinic", "123456789"], "No clinic '123456789'"),
        (["--out", "-", "--clinic", "-1"], "No clinic '-1'"),
        *[
            (["--out", "-", "--from", bad], "is not a date (YYYY-MM-DD)")
            for bad in ["yesterday", "2026-02-30", "2026W011", "20261201", "٢٠٢٦-٠١-٠١", ""]
        ],
        (["--out", "-", "--to", "99999-01-01"], "is not a date"),
        (["--out", "-", "--from", "2026-02-01", "--to", "2026-01-01"], "--from is after --to"),
    ],
    "expire_credits": [
        (["--dry-run=1"], NOT_A_FLAG_VALUE),
        *[(["--batch-size", n], "is not a whole number") for n in HOSTILE_NUMBERS],
        (["--batch-size", "0"], "out of range"),
        (["--batch-size", "50001"], "out of range"),
    ],
    "warn_expiring_credits": [(["--dry-run=no"], NOT_A_FLAG_VALUE), (["--bogus"], UNKNOWN)],
    "finance_report": [
        ([], "the following arguments are required: --month"),
        *[
            (["--month", bad], "is not a month (YYYY-MM")
            for bad in ["2026-13", "2026-00", "2026-4", "202604", "April", "", "٢٠٢٦-٠٤", "²"]
        ],
        (["--month", "1999-12"], "before the ledger began"),
        (["--month", "2026-04", "--out", ""], "cannot be empty"),
        (["--month", "2026-04", "--out", "/no/such/folder/f.csv"], "does not exist"),
        (["--month", "2026-04", "--out", "/"], "is a folder"),
    ],
    "gst_report": [
        ([], "the following arguments are required: --month, --out"),
        (["--out", "/tmp/x.csv"], "the following arguments are required: --month"),
        *[
            (["--month", bad, "--out", "/tmp/x.csv"], "is not a month (YYYY-MM)")
            for bad in ["2026-13", "2026-00", "2026-1", "26-01", "٢٠٢٦-٠١", "", "2026-01-01"]
        ],
        (["--month", "2026-11", "--out", ""], "cannot be empty"),
        (["--month", "2026-11", "--out", "/"], "already exists"),
        (["--month", "2026-11", "--out", "/no/such/folder/gst.csv"], "cannot write"),
    ],
    "reconcile_payments": [
        *[(["--older-than", n], "is not a whole number") for n in HOSTILE_NUMBERS],
        (["--older-than", "99999999999"], "out of range"),
        (["--older-than", "-1"], "out of range"),
        (["--older-than", str(366 * 24 * 60 + 1)], "out of range"),
        (["--dry-run=1"], NOT_A_FLAG_VALUE),
    ],
}


def test_every_command_of_ours_is_in_the_table():
    ours = {name for name, app in get_commands().items() if app in OUR_APPS}
    assert ours == set(BAD_ARGUMENTS), "add bad arguments for each new command to the table"


@pytest.mark.parametrize(
    ("command", "args", "message"),
    [
        pytest.param(command, args, message, id=f"{command} {' '.join(args)!r}"[:80])
        for command, cases in BAD_ARGUMENTS.items()
        for args, message in cases
    ],
)
def test_bad_arguments_are_refused_clearly_and_change_nothing(command, args, message):
    code, output = run_command(command, *args)
    # argparse's own refusal ("Error: …", exit 2 from the command line), or a refusal the
    # command made after parsing with code 2; never a traceback, never exit 0.
    assert code != 0
    assert output.startswith("Error: ") or code == 2, output
    assert message in output
    assert not CreditTransaction.objects.exists()
    assert not ReconciliationRun.objects.exists()


def manage(*args, cwd=ROOT):
    """manage.py as an operator runs it (test settings: no database is touched here)."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"}
    return subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["reconcile_payments", "--older-than", "99999999999"], "out of range"),
        (["export_ledger", "--out", "-", "--clinic", "²"], "neither a clinic id nor a slug"),
    ],
)
def test_the_command_line_exits_2_with_the_reason_and_no_traceback(args, message):
    result = manage(*args)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert "usage: manage.py" in result.stderr
    assert "Traceback" not in result.stderr


def test_export_never_replaces_what_is_not_a_regular_file_even_with_force(tmp_path):
    # --force on a device or a pipe (/dev/null as root) swapped it for a regular file.
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    code, output = run_command("export_ledger", "--out", str(pipe), "--force")
    assert code == 2 and "not a regular file" in output
    assert stat.S_ISFIFO(pipe.lstat().st_mode)
    assert [p.name for p in tmp_path.iterdir()] == ["pipe"]


def test_export_refusing_to_overwrite_exits_2_from_the_command_line(tmp_path):
    existing = tmp_path / "ledger.csv"
    existing.write_text("last month's export\n")
    result = manage("export_ledger", "--out", str(existing))
    assert result.returncode == 2, result.stderr
    assert "already exists; add --force" in result.stderr
    assert "Traceback" not in result.stderr
    assert existing.read_text() == "last month's export\n"
