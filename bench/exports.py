"""Exports and reconciliation benchmark: the ledger CSV at 1,000,000 rows, and
``reconcile_ledger`` over 5,000,000 rows against hand-written SQL that checks the same things.

    .venv/bin/python bench/exports.py [--clinics 10000] [--rows-each 400] [--big 1000000]
                                      [--skip-all]

Needs PostgreSQL (BENCH_DATABASE_URL, default
postgres://postgres@127.0.0.1:5432/antidote_bench_exports; created and migrated if missing,
and kept between runs: the data is written once, see bench/scale_data.py). By default one
clinic has 1,000,000 ledger rows and 10,000 more have 400 each: 5,000,000 in all, with lots
and allocations.

It times, each with its peak resident memory (the process's high-water mark, reset before
each run):
- the clinic's CSV through the portal (Django's test client, streaming content read through);
- ``export_ledger --clinic`` for that clinic and for a 400-row clinic, written to /dev/null
  (the same peak for both is what "constant memory" means), and for the whole ledger;
- ``reconcile_ledger``, then the hand-written SQL (bench/reconcile.sql's queries, run one
  after the other on one connection), and their ratio.
It exits 1 if a CSV runs below 200,000 rows/s, if reconcile takes more than 1.5× the SQL,
or if either finds a problem. Not a test: it measures.
"""

import argparse
import os
import subprocess
import sys
import time
from io import StringIO
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.database import ensure_database  # noqa: E402

DB_URL = os.environ.get(
    "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/antidote_bench_exports"
)
os.environ["DATABASE_URL"] = DB_URL
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "antidote.settings")
os.environ.setdefault("PAYMENT_MODE", "test")
os.environ["EMAIL_URL"] = "dummymail://"
os.environ.setdefault("ALLOWED_HOSTS", "testserver,127.0.0.1,localhost")

CSV_TARGET = 200_000  # rows per second
RECONCILE_TARGET = 1.5  # at most this many times the hand-written SQL
HAND_SQL = Path(__file__).with_name("reconcile.sql")


def _status(field: str) -> int:
    """A /proc/self/status figure in kB (VmRSS now, VmHWM the peak)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise LookupError(field)


def measured(label: str, rows: int, run) -> float:
    """Run ``run()``, print rows/s and peak RSS; returns rows/s."""
    Path("/proc/self/clear_refs").write_text("5")  # the peak starts again from now
    before = _status("VmRSS")
    start = time.perf_counter()
    counted = run()
    elapsed = time.perf_counter() - start
    assert counted == rows, (label, counted, rows)
    rate = rows / elapsed
    print(
        f"  {label}: {rows:,} rows in {elapsed:,.2f} s = {rate:,.0f} rows/s; "
        f"peak RSS {_status('VmHWM') / 1024:,.0f} MB (before {before / 1024:,.0f} MB)",
        flush=True,
    )
    return rate


def portal_csv(user) -> int:
    from django.test import Client

    client = Client()
    client.force_login(user)
    response = client.get("/clinic/credits/history?format=csv", secure=True)
    assert response.status_code == 200, response.status_code
    lines = sum(chunk.count(b"\r\n") for chunk in response.streaming_content)
    response.close()
    return lines - 1  # the header


def export_ledger(*args: str) -> None:
    from django.core.management import call_command

    with open(os.devnull, "w") as sink:
        call_command("export_ledger", "--out", "-", *args, stdout=sink, stderr=StringIO())


def psql_copy() -> int:
    from django.db import connection

    from billing.models import CreditAccount

    account = CreditAccount.objects.get(clinic__slug="bench-big").pk
    query = (
        "\\copy (SELECT * FROM billing_credittransaction WHERE account_id = "
        f"{account} ORDER BY id DESC) TO /dev/null WITH (FORMAT csv)"
    )
    settings = connection.settings_dict
    command = ["psql", "-h", settings["HOST"], "-p", str(settings["PORT"] or 5432)]
    command += ["-U", settings["USER"], "-d", settings["NAME"], "-c", query]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return int(out.split()[-1])


def timed(run) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def hand_sql() -> list[tuple]:
    """The hand-written checks, each returning the rows it finds wrong."""
    from django.db import connection

    found = []
    with connection.cursor() as cursor:
        for statement in HAND_SQL.read_text().split(";"):
            if statement.strip():
                cursor.execute(statement)
                found += cursor.fetchall()
    return found


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clinics", type=int, default=10_000)
    parser.add_argument("--rows-each", type=int, default=400)
    parser.add_argument("--big", type=int, default=1_000_000)
    parser.add_argument("--skip-all", action="store_true", help="skip the whole-ledger export")
    parser.add_argument("--skip-csv", action="store_true", help="time reconciliation only")
    args = parser.parse_args()

    ensure_database(DB_URL)
    import django

    django.setup()
    from django.core.management import call_command

    from bench import scale_data
    from billing.models import CreditTransaction

    call_command("migrate", verbosity=0)
    scale_data.spread_clinics(clinics=args.clinics, rows_each=args.rows_each)
    _, user = scale_data.big_clinic(rows=args.big)
    small = CreditTransaction.objects.filter(account__clinic__slug="bench-spread-1").count()
    total = CreditTransaction.objects.count()
    print(f"Ledger: {total:,} rows; the big clinic {args.big:,}, the others {small:,} each")

    slow = []
    if not args.skip_csv:
        slow = csv_exports(args, user, small, total)
    reconciliation(slow)


def csv_exports(args, user, small, total) -> list[float]:
    """Each CSV's rate; returns those below the target."""
    slow = []
    print("CSV exports (PostgreSQL COPY, formula-safe cells):")
    # The floor on this machine now: psql (C, no Python) copying the same rows of the big
    # clinic, every column as stored, to /dev/null.
    floor = measured("reference: psql \\copy of the same rows", args.big, psql_copy)
    rate = measured("portal CSV, big clinic", args.big, lambda: portal_csv(user))
    print(f"    {rate / floor:.2f}x the psql reference")
    slow += [rate] if rate < CSV_TARGET else []

    def exported(rows, *selector):
        return lambda: export_ledger(*selector) or rows

    rate = measured(
        "export_ledger --clinic big", args.big, exported(args.big, "--clinic", "bench-big")
    )
    print(f"    {rate / floor:.2f}x the psql reference")
    slow += [rate] if rate < CSV_TARGET else []
    measured("export_ledger --clinic small", small, exported(small, "--clinic", "bench-spread-1"))
    if not args.skip_all:
        rate = measured("export_ledger, whole ledger", total, exported(total))
        slow += [rate] if rate < CSV_TARGET else []
    return slow


def reconciliation(slow) -> None:
    from django.core.management import CommandError, call_command

    print("Reconciliation:")
    failed = []

    def reconcile():
        try:
            call_command("reconcile_ledger", stdout=StringIO(), stderr=StringIO())
        except CommandError as error:
            failed.append(str(error))

    hand_rows = []
    command = timed(reconcile)
    hand = timed(lambda: hand_rows.extend(hand_sql()))
    # Twice each, interleaved: the second of each pair runs on a warm cache.
    command = min(command, timed(reconcile))
    hand = min(hand, timed(hand_sql))
    ratio = command / hand
    print(
        f"  reconcile_ledger: {command:,.2f} s; hand-written SQL: {hand:,.2f} s; "
        f"ratio {ratio:.2f}x (the better of two runs each, interleaved)"
    )
    if failed or hand_rows:
        sys.exit(f"problems found: {failed} {hand_rows[:5]}")
    if slow or ratio > RECONCILE_TARGET:
        sys.exit(f"below target: CSV rates {slow}, reconcile ratio {ratio:.2f}")


if __name__ == "__main__":
    main()
