"""Ledger benchmark: lead charges per second through the posting service, against pgbench.

    .venv/bin/python bench/ledger.py [--charges 6000] [--seconds 10] [--skip-million] [--workers 4]

Needs PostgreSQL (BENCH_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/antidote_bench;
the database is created if missing). For 1, 2, 4 and 16 worker processes it charges distinct
leads through ``billing.services.charge_lead``, once with every lead on ONE clinic (hot row)
and once spread over 1,000 clinics, then runs pgbench's built-in tpcb-like transaction
(-M prepared, scale 16) with the same client counts on the same server and prints both rates
and their ratio. After every run it checks the whole ledger (balance == Σ entries, chains
unbroken) and exits 1 if anything is off. Finally it times an O(1) balance read on an
account with 1,000,000 ledger rows. Not a test: it measures.
"""

import argparse
import multiprocessing
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.database import ensure_database  # noqa: E402

DB_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/antidote_bench")
os.environ["DATABASE_URL"] = DB_URL
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "antidote.settings")
os.environ["EMAIL_URL"] = "dummymail://"
WORKERS = [1, 2, 4, 16]
SPREAD_CLINICS = 1_000
PGBENCH_SCALE = 16


def setup_django():
    import django

    django.setup()
    from billing.signals import credits_added

    # The bench charges its leads straight through billing, so to leads they look held; its
    # top-ups must not set leads' release-held-leads machinery going (it would only replay).
    credits_added.disconnect(dispatch_uid="leads_release_held_leads")


def worker(lead_rows, barrier, results):
    from django.db import connections

    connections.close_all()  # never share the parent's socket after fork
    from billing.services import charge_lead
    from leads.models import Lead

    leads = [
        Lead(pk=pk, clinic_id=clinic_id, price_credits=price) for pk, clinic_id, price in lead_rows
    ]
    barrier.wait()
    start = time.perf_counter()
    for lead in leads:
        charge_lead(lead=lead)
    results.put((start, time.perf_counter(), len(leads)))
    connections.close_all()


def run_charges(clinics, workers: int, charges: int) -> float:
    from django.db import connections

    from leads.models import Lead

    made = Lead.objects.bulk_create(
        Lead(clinic=clinics[i % len(clinics)], phone=f"+919{i:09d}", price_credits=100)
        for i in range(charges)
    )
    rows = [(lead.pk, lead.clinic_id, 100) for lead in made]
    connections.close_all()
    ctx = multiprocessing.get_context("fork")
    barrier, results = ctx.Barrier(workers), ctx.Queue()
    procs = [
        ctx.Process(target=worker, args=(rows[i::workers], barrier, results))
        for i in range(workers)
    ]
    for proc in procs:
        proc.start()
    spans = [results.get() for _ in procs]
    for proc in procs:
        proc.join()
        if proc.exitcode:
            sys.exit(f"worker failed with exit code {proc.exitcode}")
    elapsed = max(end for _, end, _ in spans) - min(start for start, _, _ in spans)
    return sum(n for _, _, n in spans) / elapsed


def verify_ledger(label: str) -> None:
    from billing.selectors import ledger_discrepancies

    problems = list(ledger_discrepancies())
    if problems:
        for problem in problems[:20]:
            print(f"  !! {problem}", file=sys.stderr)
        sys.exit(f"LEDGER BROKEN after {label}: {len(problems)} discrepancies")


def pgbench(*args: str) -> str:
    """Run pgbench against the bench's own pgbench database on the same server."""
    parsed = urlparse(DB_URL)
    server = ["-h", parsed.hostname or "127.0.0.1", "-p", str(parsed.port or 5432)]
    user = ["-U", parsed.username or "postgres"]
    name = parsed.path.lstrip("/") + "_pgbench"
    command = ["pgbench", *server, *user, *args, name]
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout


def pgbench_tps(clients: int, seconds: int) -> float:
    jobs = str(min(clients, 2))
    out = pgbench("-M", "prepared", "-n", "-c", str(clients), "-j", jobs, "-T", str(seconds))
    return float(re.search(r"tps = ([\d.]+) \(without initial connection time\)", out).group(1))


def init_pgbench() -> None:
    parsed = urlparse(DB_URL)
    ensure_database(parsed._replace(path=parsed.path + "_pgbench").geturl())
    pgbench("-i", "-q", "-s", str(PGBENCH_SCALE))


def million_row_balance_read(skip: bool) -> None:
    from django.db import connection

    from billing import services
    from billing.models import CreditAccount, CreditTransaction
    from billing.selectors import account_balance
    from leads.models import Clinic

    clinic, _ = Clinic.objects.get_or_create(
        slug="bench-million",
        defaults={"name": "Bench million", "city": "-", "contact_email": "b@example.com"},
    )
    account = CreditAccount.objects.get(clinic=clinic)
    rows = CreditTransaction.objects.filter(account=account).count()
    if rows < 1_000_000 and not skip:
        print("  writing 1,000,000 ledger rows for the read test (one-off fixture)…", flush=True)
        services.grant_credits(
            clinic=clinic, credits=1, kind="bonus", idempotency_key="bench:million:0"
        )
        # A bulk fixture straight in SQL: one service call per row would take minutes.
        # It keeps the chain (balance_after = n) and the balance consistent for reconcile.
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO billing_credittransaction "
                "(account_id, kind, credits, balance_after, memo, idempotency_key, created_at) "
                "SELECT %s, 'bonus', 1, n, 'bench fixture', 'bench:million:' || n, now() "
                "FROM generate_series(2, 1000000) AS n",
                [account.pk],
            )
            cursor.execute(
                "UPDATE billing_creditaccount SET balance = 1000000 WHERE id = %s", [account.pk]
            )
            cursor.execute("ANALYZE billing_credittransaction")
        rows = 1_000_000
    if rows < 1_000_000:
        print("  (skipped: no 1,000,000-row account)")
        return
    reads = 2_000

    def per_read(target):
        start = time.perf_counter()
        for _ in range(reads):
            account_balance(clinic=target)
        return (time.perf_counter() - start) / reads

    small = Clinic.objects.filter(slug__startswith="bench-spread-").first()
    small_rows = CreditTransaction.objects.filter(account__clinic=small).count()
    big_read, small_read = per_read(clinic), per_read(small)
    with connection.cursor() as cursor:
        start = time.perf_counter()
        cursor.execute(
            "SELECT SUM(credits) FROM billing_credittransaction WHERE account_id = %s", [account.pk]
        )
        total = cursor.fetchone()[0]
        summed = time.perf_counter() - start
    print(
        f"  balance read: {big_read * 1e6:,.0f} µs with {rows:,} ledger rows, "
        f"{small_read * 1e6:,.0f} µs with {small_rows:,} "
        f"(for contrast, SUM over the rows: {summed * 1e3:,.0f} ms; "
        f"balance {account_balance(clinic=clinic):,} == Σ {total:,})"
    )


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--charges", type=int, default=6_000, help="charges per run (default 6,000)"
    )
    parser.add_argument(
        "--seconds", type=int, default=10, help="pgbench duration per run (default 10)"
    )
    parser.add_argument("--skip-million", action="store_true", help="skip the 1,000,000-row read")
    parser.add_argument(
        "--workers",
        type=int,
        nargs="+",
        default=WORKERS,
        help="worker counts to run (default 1 2 4 16), e.g. --workers 4 for a quick A/B",
    )
    args = parser.parse_args()

    ensure_database(DB_URL)
    setup_django()
    from django.core.management import call_command

    from billing import services
    from leads.models import Clinic

    call_command("migrate", verbosity=0)
    init_pgbench()
    hot, _ = Clinic.objects.get_or_create(
        slug="bench-hot",
        defaults={"name": "Bench hot", "city": "-", "contact_email": "h@example.com"},
    )
    spread = list(Clinic.objects.filter(slug__startswith="bench-spread-").order_by("pk"))
    if len(spread) < SPREAD_CLINICS:
        Clinic.objects.bulk_create(
            Clinic(
                name=f"Bench spread {i}",
                slug=f"bench-spread-{i}",
                city="-",
                contact_email="s@example.com",
            )
            for i in range(len(spread), SPREAD_CLINICS)
        )
        spread = list(Clinic.objects.filter(slug__startswith="bench-spread-").order_by("pk"))
        for clinic in spread:  # bulk_create skips the post_save that opens accounts
            services.open_account(clinic=clinic)
    run_id = time.time_ns()
    budget = args.charges * 100 * 2 * len(args.workers)
    services.grant_credits(
        clinic=hot,
        credits=min(budget, services.MAX_ENTRY_CREDITS),
        kind="bonus",
        idempotency_key=f"bench:hot:{run_id}",
    )
    for clinic in spread:
        services.grant_credits(
            clinic=clinic,
            credits=budget // SPREAD_CLINICS + 1_000,
            kind="bonus",
            idempotency_key=f"bench:spread:{clinic.pk}:{run_id}",
        )
    verify_ledger("setup")

    print(
        f"Lead charges per second ({args.charges:,} charges a run) vs pgbench tpcb-like "
        f"(-M prepared, scale {PGBENCH_SCALE}, {args.seconds}s), {os.cpu_count()} CPUs"
    )
    print(
        f"{'workers':>7} | {'hot clinic/s':>12} | {'spread/s':>9} | {'pgbench tps':>11} | "
        f"{'hot ratio':>9} | {'spread ratio':>12}"
    )
    for workers in args.workers:
        hot_rate = run_charges([hot], workers, args.charges)
        verify_ledger(f"hot x{workers}")
        spread_rate = run_charges(spread, workers, args.charges)
        verify_ledger(f"spread x{workers}")
        tps = pgbench_tps(workers, args.seconds)
        print(
            f"{workers:>7} | {hot_rate:>12,.0f} | {spread_rate:>9,.0f} | {tps:>11,.0f} | "
            f"{hot_rate / tps:>8.2f}x | {spread_rate / tps:>11.2f}x",
            flush=True,
        )
    million_row_balance_read(args.skip_million)
    verify_ledger("the whole benchmark")
    print("Ledger verified after every run: every balance equals the sum of its entries.")


if __name__ == "__main__":
    main()
