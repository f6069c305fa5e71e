"""The admin's big lists on a small database: where a page of 100 rows spends its time.

    .venv/bin/python bench/admin_lists.py [--requests 30] [--only WORD] [--profile]

bench/pages.py times the same lists at 10,000 clinics and 5,000,000 ledger rows (a build of
hours); their SQL there takes 5–55 ms and the rest of each request is Python. A page of 100
rows costs the same Python whatever the table's size, so this builds (once, straight in SQL)
300 clinics, about 2,400 leads, 500 disputes and 500 orders, and times each list: p50/p95 of
the whole request, its queries and the time spent in them (the rest is Python), and the
process's CPU time (this side of the database; steadier than the clock on a shared machine).
``--profile`` prints cProfile's top functions for each list instead.

Needs PostgreSQL (BENCH_ADMIN_DATABASE_URL, default
postgres://postgres@127.0.0.1:5432/antidote_bench_admin_lists; created and migrated if
missing). Not a test: it measures.
"""

import argparse
import cProfile
import os
import pstats
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.database import prepare_django, use_database  # noqa: E402
from bench.fixtures import clinic_with_owner, insert_leads  # noqa: E402

DB_URL = use_database(
    os.environ.get(
        "BENCH_ADMIN_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/antidote_bench_admin_lists"
    )
)

CLINICS = 300
LEADS_PER_CLINIC = 7
DISPUTES = 500
ORDERS = 500

LISTS = {
    "disputes": "/admin/disputes/dispute/",
    "orders": "/admin/payments/paymentorder/",
    "leads": "/admin/leads/lead/",
    "clinics": "/admin/leads/clinic/",
}

# Leads arrive over the quality window (90 days), so each clinic has a score to show. (No
# parameters: a single % here.)
RECENT_LEADS_SQL = """
UPDATE leads_lead SET created_at = now() - (id % 85) * interval '1 day',
                      charged_at = CASE WHEN charged_at IS NULL THEN NULL
                                        ELSE now() - (id % 85) * interval '1 day' END
"""
DISPUTES_SQL = """
INSERT INTO disputes_dispute (
    clinic_id, lead_id, dispute_type, description, status, admin_notes, auto_reason, created_at,
    decided_at
)
SELECT clinic_id, id, 'poor_quality', 'bench dispute',
       CASE WHEN id %% 4 = 0 THEN 'pending' WHEN id %% 4 = 1 THEN 'approved' ELSE 'rejected' END,
       '', '', created_at, CASE WHEN id %% 4 = 0 THEN NULL ELSE created_at END
FROM leads_lead WHERE billing_state = 'charged' ORDER BY id LIMIT %(count)s
"""
ORDERS_SQL = """
INSERT INTO payments_paymentorder (
    clinic_id, base_amount_paise, discount_paise, amount_paise, credits, bonus_credits,
    promo_bonus_credits, status, razorpay_order_id, razorpay_payment_id, failure_reason,
    created_at, paid_at, promo_overrun_paise, refunded_paise, gst_paise, place_of_supply,
    payment_link_url
)
SELECT c.id, 100000, 0, 100000, 1000, 50 * (n %% 3), 0,
       (ARRAY['paid', 'paid', 'paid', 'failed', 'created'])[1 + n %% 5],
       'order_bench_' || n, 'pay_bench_' || n, '',
       now() - n * interval '3 hours', now() - n * interval '3 hours',
       CASE WHEN n %% 17 = 0 THEN 5000 ELSE 0 END, CASE WHEN n %% 11 = 0 THEN 20000 ELSE 0 END,
       18000, '', ''
FROM generate_series(1, %(count)s) AS n
JOIN (SELECT id, row_number() OVER (ORDER BY id) AS k FROM leads_clinic) c
  ON c.k = 1 + n %% %(clinics)s
"""


def build():
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction

    from leads.models import Clinic

    staff, _ = get_user_model().objects.get_or_create(
        username="bench-admin-staff", defaults={"is_staff": True, "is_superuser": True}
    )
    if Clinic.objects.count() >= CLINICS:
        return staff
    print(f"  writing {CLINICS} clinics, their leads, disputes and orders (one-off)…")
    with transaction.atomic(), connection.cursor() as cursor:
        for n in range(CLINICS):
            clinic, _, packages = clinic_with_owner(f"bench-admin-{n}", city=f"City {n % 12}")
            insert_leads(cursor, clinic, packages, LEADS_PER_CLINIC + n % 3)
        cursor.execute(RECENT_LEADS_SQL)
        cursor.execute(DISPUTES_SQL, {"count": DISPUTES})
        cursor.execute(ORDERS_SQL, {"count": ORDERS, "clinics": CLINICS})
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    return staff


class SqlTimer:
    """Counts the queries of a request and the time spent in them."""

    def __init__(self):
        self.queries, self.seconds = 0, 0.0

    def __call__(self, execute, sql, params, many, context):
        start = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.seconds += time.perf_counter() - start
            self.queries += 1


def timed(client, url: str, requests: int):
    from django.db import connection

    warm = client.get(url)
    assert warm.status_code == 200, (url, warm.status_code)
    totals, sqls, cpus, queries = [], [], [], set()
    for _ in range(requests):
        timer = SqlTimer()
        with connection.execute_wrapper(timer):
            start, cpu = time.perf_counter(), time.process_time()
            response = client.get(url)
            totals.append((time.perf_counter() - start) * 1e3)
            cpus.append((time.process_time() - cpu) * 1e3)
        assert response.status_code == 200, (url, response.status_code)
        sqls.append(timer.seconds * 1e3)
        queries.add(timer.queries)
    return totals, sqls, cpus, queries, warm.content.count(b'name="_selected_action"')


def p95(times):
    return statistics.quantiles(times, n=20)[-1]


def profile(client, url: str, requests: int) -> None:
    client.get(url)
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(requests):
        client.get(url)
    profiler.disable()
    stats = pstats.Stats(profiler).strip_dirs().sort_stats("cumulative")
    stats.print_stats(45)
    stats.sort_stats("tottime").print_stats(25)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--only", default="", help="only the lists whose name contains this")
    parser.add_argument("--profile", action="store_true", help="cProfile each list instead")
    args = parser.parse_args()
    prepare_django(DB_URL)
    from django.test import Client

    staff = build()
    from tests.otp import login_with_otp  # the admin wants a verified second factor

    client = Client()
    login_with_otp(client, staff)
    if not args.profile:
        print("| list | rows | queries | p50 / p95 ms | SQL p50 ms | Python p50 ms | CPU p50 ms |")
        print("|---|---:|---:|---:|---:|---:|---:|")
    for label, url in LISTS.items():
        if args.only not in label:
            continue
        if args.profile:
            print(f"==== {label}: {url}")
            profile(client, url, args.requests)
            continue
        totals, sqls, cpus, queries, rows = timed(client, url, args.requests)
        python = [t - s for t, s in zip(totals, sqls, strict=True)]
        print(
            f"| {label} | {rows} | {'/'.join(map(str, sorted(queries)))} "
            f"| {statistics.median(totals):.1f} / {p95(totals):.1f} "
            f"| {statistics.median(sqls):.1f} | {statistics.median(python):.1f} "
            f"| {statistics.median(cpus):.1f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
