"""Expiry benchmark: ``expire_credits`` over 1,000,000 credit lots, 1% of them due.

    .venv/bin/python bench/expiry.py [--lots 1000000] [--due-percent 1]

Needs PostgreSQL (BENCH_DATABASE_URL, as bench/ledger.py). It spreads the lots over 1,000
clinics with a bulk SQL fixture that keeps every invariant (each account's balance equals
its entries and its lots), times one ``expire_credits`` run, a second run (nothing due), and
checks the whole ledger afterwards. Not a test: it measures.
"""

import argparse
import sys
import time

from ledger import DB_URL, ensure_database, setup_django

CLINICS = 1_000


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lots", type=int, default=1_000_000)
    parser.add_argument("--due-percent", type=int, default=1)
    args = parser.parse_args()
    ensure_database(DB_URL)
    setup_django()
    from django.core.management import call_command
    from django.db import connection

    from billing import services
    from billing.models import CreditAccount, CreditLot
    from billing.selectors import ledger_discrepancies
    from leads.models import Clinic

    call_command("migrate", verbosity=0)
    clinics = list(Clinic.objects.filter(slug__startswith="bench-expiry-").order_by("pk"))
    if len(clinics) < CLINICS:
        Clinic.objects.bulk_create(
            Clinic(
                name=f"Bench expiry {i}", slug=f"bench-expiry-{i}", city="-", contact_email="e@x.in"
            )
            for i in range(len(clinics), CLINICS)
        )
        clinics = list(Clinic.objects.filter(slug__startswith="bench-expiry-").order_by("pk"))
        for clinic in clinics:
            services.open_account(clinic=clinic)
    accounts = list(
        CreditAccount.objects.filter(clinic__in=clinics).order_by("pk").values_list("pk", flat=True)
    )
    every = 100 // args.due_percent
    run = time.time_ns()
    print(f"writing {args.lots:,} lots over {len(accounts):,} accounts, 1 in {every} due…")
    start = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMP TABLE bench_lots AS SELECT n, (%s::bigint[])[1 + n %% %s] AS account_id "
            "FROM generate_series(0, %s - 1) AS n",
            [accounts, len(accounts), args.lots],
        )
        # One bonus entry per account for what its lots hold, so balance == Σ entries.
        cursor.execute(
            "INSERT INTO billing_credittransaction (account_id, kind, credits, balance_after, "
            "memo, idempotency_key, created_at) "
            "SELECT a.id, 'bonus', 10 * c.lots, a.balance + 10 * c.lots, 'bench fixture', "
            "'bench:expiry:' || %s || ':' || a.id, now() - interval '2 days' "
            "FROM billing_creditaccount a JOIN (SELECT account_id, count(*) AS lots "
            "FROM bench_lots GROUP BY account_id) c ON c.account_id = a.id",
            [run],
        )
        cursor.execute(
            "INSERT INTO billing_creditlot (account_id, kind, granted, remaining, expires_at, "
            "value_paise, value_credits, memo, created_at) "
            "SELECT account_id, 'bonus', 10, 10, "
            "CASE WHEN n %% %s = 0 THEN now() - interval '1 day' "
            "ELSE now() + interval '90 days' END, "
            "0, 0, 'bench fixture', now() - interval '2 days' FROM bench_lots",
            [every],
        )
        cursor.execute(
            "UPDATE billing_creditaccount a SET balance = a.balance + 10 * c.lots "
            "FROM (SELECT account_id, count(*) AS lots FROM bench_lots GROUP BY account_id) c "
            "WHERE c.account_id = a.id"
        )
        cursor.execute("DROP TABLE bench_lots")
        cursor.execute("ANALYZE billing_creditlot")
    print(f"  fixture written in {time.perf_counter() - start:,.1f} s")
    total = CreditLot.objects.count()
    due = services.expire_credits(dry_run=True)
    print(f"  {total:,} lots in all; {due.lots:,} due ({due.credits:,} credits)")
    start = time.perf_counter()
    done = services.expire_credits()
    first = time.perf_counter() - start
    start = time.perf_counter()
    again = services.expire_credits()
    second = time.perf_counter() - start
    print(
        f"expire_credits: {done.lots:,} lots expired in {first:,.2f} s "
        f"({done.lots / first:,.0f} lots/s); a second run found {again.lots} in {second:,.2f} s"
    )
    problems = list(ledger_discrepancies())
    if problems:
        sys.exit(f"LEDGER BROKEN: {problems[:5]}")
    print("Ledger verified: balances, chains, lots and allocations all agree.")


if __name__ == "__main__":
    main()
