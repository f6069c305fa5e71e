"""Analytics benchmark: the clinic's analytics page with 100,000 leads and 1,000,000 ledger rows.

    .venv/bin/python bench/analytics.py [--requests 200]

Needs PostgreSQL (BENCH_DATABASE_URL, default
postgres://postgres@127.0.0.1:5432/antidote_bench_analytics; created and migrated if missing).
It writes, straight in SQL (a service call per row would take an hour), one clinic with
100,000 leads over 36 months in three price tiers (charged, held and duplicates; every outcome
with its details; first contacts) and 1,000,000 ledger rows on its account (a charge per
charged lead, refunds, and top-ups, with the balance chain kept), a paid credit lot per top-up
that charges drew (each worth its own odd fraction of ₹1 a credit) with one allocation per
charge and refund, then rebuilds its pre-aggregate once. The baseline is a clinic of the same
shape with 100 leads.

It then times GET /clinic/analytics through Django's test client (the whole request: session,
middleware, queries, template): p50 and p95 over ``--requests`` requests, for the big clinic,
for the demo-sized one, and for the big clinic with an outcome recorded through the service
before every request (so each read rebuilds one dirty month). It exits 1 if the big clinic's
p95 is 300 ms or more, or more than 2× the demo-sized p95. Not a test: it measures.
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.database import prepare_django  # noqa: E402
from bench.fixtures import clinic_with_owner, insert_leads, insert_ledger  # noqa: E402

DB_URL = os.environ.get(
    "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/antidote_bench_analytics"
)
os.environ["DATABASE_URL"] = DB_URL
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "antidote.settings")
os.environ.setdefault("PAYMENT_MODE", "test")
os.environ["EMAIL_URL"] = "dummymail://"
os.environ.setdefault("ALLOWED_HOSTS", "testserver,127.0.0.1,localhost")

LEADS = 100_000
LEDGER_ROWS = 1_000_000


# The lots: the k-th charge draws from the paid lot of top-up (k - 1) / 4 + 1 (four charges
# of at most 250 credits fit a 1,000-credit top-up), worth 83,333 to 89,333 paise for 1,000
# credits; a refund gives back to its charge's lot.
LOTS_SQL = [
    """
    INSERT INTO billing_creditlot (account_id, kind, source_id, granted, remaining, expires_at,
                                   value_paise, value_credits, memo, created_at)
    SELECT %(account)s, 'paid', id, 1000, 0, created_at + interval '365 days',
           83333 + (n %% 7) * 1000, 1000, '', created_at
    FROM (SELECT id, created_at, row_number() OVER (ORDER BY id) AS n
          FROM billing_credittransaction WHERE account_id = %(account)s AND kind = 'purchase'
          ORDER BY id
          LIMIT (SELECT count(*) / 4 + 1 FROM billing_credittransaction
                 WHERE account_id = %(account)s AND kind = 'lead_charge')) AS topups
    """,
    """
    INSERT INTO billing_lotallocation (entry_id, lot_id, credits)
    SELECT charges.id, lots.id, -charges.credits
    FROM (SELECT id, credits, (row_number() OVER (ORDER BY id) - 1) / 4 AS lot_index
          FROM billing_credittransaction
          WHERE account_id = %(account)s AND kind = 'lead_charge') AS charges
    JOIN (SELECT id, row_number() OVER (ORDER BY id) - 1 AS lot_index
          FROM billing_creditlot WHERE account_id = %(account)s) AS lots USING (lot_index)
    """,
    """
    INSERT INTO billing_lotallocation (entry_id, lot_id, credits)
    SELECT refund.id, drawn.lot_id, -refund.credits
    FROM billing_credittransaction refund
    JOIN billing_credittransaction charge
      ON charge.lead_id = refund.lead_id AND charge.kind = 'lead_charge'
    JOIN billing_lotallocation drawn ON drawn.entry_id = charge.id
    WHERE refund.account_id = %(account)s AND refund.kind = 'dispute_refund'
    """,
]


def write_lots(cursor, account) -> None:
    cursor.execute("ANALYZE")
    for statement in LOTS_SQL:
        cursor.execute(statement, {"account": account.pk})
    cursor.execute("ANALYZE")  # as autovacuum would: the reads are planned on real counts


def load_big_clinic():
    from django.db import connection

    from billing.models import CreditAccount, CreditLot, CreditTransaction
    from leads import analytics
    from leads.models import Lead

    clinic, user, packages = clinic_with_owner("bench-analytics")
    account = CreditAccount.objects.get(clinic=clinic)
    if Lead.objects.filter(clinic=clinic).count() < LEADS:
        print(f"  writing {LEADS:,} leads and {LEDGER_ROWS:,} ledger rows (one-off)…", flush=True)
        with connection.cursor() as cursor:
            insert_leads(cursor, clinic, packages, LEADS)
            charges = Lead.objects.filter(clinic=clinic, billing_state="charged").count()
            insert_ledger(cursor, clinic, account, topups=LEDGER_ROWS - charges - charges // 50)
            cursor.execute("ANALYZE")
    if not CreditLot.objects.filter(account=account).exists():
        with connection.cursor() as cursor:
            write_lots(cursor, account)
    start = time.perf_counter()
    analytics.rebuild_outcome_months(clinic_id=clinic.pk)
    print(f"  full rebuild of the pre-aggregate: {(time.perf_counter() - start) * 1e3:,.0f} ms")
    rows = CreditTransaction.objects.filter(account=account).count()
    leads = Lead.objects.filter(clinic=clinic).count()
    print(f"  big clinic: {leads:,} leads, {rows:,} ledger rows")
    return clinic, user


def load_demo_clinic():
    """The baseline: the same page shape (36 months, four packages, every outcome) with 100
    leads and their ledger, 1,000× less data."""
    from django.db import connection

    from billing.models import CreditAccount
    from leads import analytics
    from leads.models import Lead

    clinic, user, packages = clinic_with_owner("bench-demo-size")
    account = CreditAccount.objects.get(clinic=clinic)
    if not Lead.objects.filter(clinic=clinic).exists():
        with connection.cursor() as cursor:
            insert_leads(cursor, clinic, packages, 100)
            insert_ledger(cursor, clinic, account, topups=30)  # 4 charges a lot, 90 charges
            write_lots(cursor, account)
    analytics.rebuild_outcome_months(clinic_id=clinic.pk)
    return clinic, user


def timed_gets(user, requests: int, before=None) -> list[float]:
    from django.test import Client

    client = Client()
    client.force_login(user)
    warm = client.get("/clinic/analytics", secure=True)
    assert warm.status_code == 200, warm.status_code
    times = []
    for i in range(requests):
        if before:
            before(i)
        start = time.perf_counter()
        response = client.get("/clinic/analytics", secure=True)
        times.append((time.perf_counter() - start) * 1e3)
        assert response.status_code == 200
    return times


def p95(times):
    return statistics.quantiles(times, n=20)[-1]


def report(label, times):
    print(f"  {label}: p50 {statistics.median(times):,.1f} ms, p95 {p95(times):,.1f} ms")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    prepare_django(DB_URL)
    big, big_user = load_big_clinic()
    _, demo_user = load_demo_clinic()

    from leads import services
    from leads.models import Lead

    movable = list(
        Lead.objects.filter(clinic=big, billing_state="charged", status="contacted").values_list(
            "pk", flat=True
        )[: args.requests + 1]
    )

    def record_outcome(i):
        lead = Lead.objects.with_contact_rule().get(pk=movable[i])
        services.update_lead_status(lead=lead, status="lost", lost_reason="other")

    demo_times = timed_gets(demo_user, args.requests)
    big_times = timed_gets(big_user, args.requests)
    dirty_times = timed_gets(big_user, args.requests, before=record_outcome)
    report("demo size (100 leads, the same 36 months and packages)", demo_times)
    report(f"{LEADS:,} leads, {LEDGER_ROWS:,} ledger rows", big_times)
    report("the same, an outcome recorded before each request", dirty_times)
    ratio = p95(big_times) / p95(demo_times)
    print(f"  growth: big p95 / demo p95 = {ratio:.2f}×")
    if p95(big_times) >= 300 or ratio > 2:
        print("FAILED: p95 must be under 300 ms and at most 2× the demo size's")
        sys.exit(1)


if __name__ == "__main__":
    main()
