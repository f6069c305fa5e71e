"""Page benchmark: every portal page and the admin's big lists, at demo size and at 1,000,000
ledger rows, in the same run.

    .venv/bin/python bench/pages.py [--requests 20]
    .venv/bin/python bench/pages.py --scaling [--requests 20]

Needs PostgreSQL (BENCH_DATABASE_URL, default
postgres://postgres@127.0.0.1:5432/antidote_bench_pages; created and migrated if missing).
The first run writes, straight in SQL (bench/fixtures.py), a demo-sized clinic (100 leads, 110
ledger rows), a big clinic (100,000 leads, 1,000,000 ledger rows over 36 months, 10,000
orders, 5,000 disputes, 1,000 credit lots) and filler clinics up to 10,000 clinics and
5,000,000 ledger rows in all, plus clinics of 10,000 and 100,000 rows for ``--scaling``. Later
runs find them and skip the build.

It times each page through Django's test client (the whole request: session, middleware,
queries, template), ``--requests`` times after one warm-up, DEBUG off, and prints p50/p95 for
the demo clinic and the big one and the growth (big p95 ÷ demo p95). The admin lists are timed
once with all 10,000 clinics (there is no "demo-sized" admin in the same database), against the
same list filtered to the demo clinic. ``--scaling`` times the history pages at 10,000,
100,000 and 1,000,000 rows instead. It exits 1 if a page's p95 is 150 ms or more, or more than
2× its demo-size p95. Not a test: it measures.
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
    "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/antidote_bench_pages"
)
os.environ["DATABASE_URL"] = DB_URL
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "antidote.settings")
os.environ.setdefault("PAYMENT_MODE", "test")
os.environ["EMAIL_URL"] = "dummymail://"
os.environ.setdefault("ALLOWED_HOSTS", "testserver,127.0.0.1,localhost")

CLINICS = 10_000
TOTAL_ROWS = 5_000_000
P95_LIMIT_MS = 150
GROWTH_LIMIT = 2.0
ONLY = ""  # --only

# The filler: every other clinic gets the same number of +1 bonus entries (the chain is the
# running count) and a balance to match.
FILLER_CLINICS_SQL = """
INSERT INTO leads_clinic (name, slug, city, contact_email, is_active, created_at)
SELECT 'Filler clinic ' || n, 'bench-filler-' || n, 'Filler city', 'filler@example.com',
       true, now()
FROM generate_series(1, %(count)s) AS n
"""
FILLER_ACCOUNTS_SQL = """
INSERT INTO billing_creditaccount
    (clinic_id, balance, overdraft_limit, low_balance_threshold, updated_at, in_debt, paused,
     week_spent, month_spent)
SELECT id, %(rows)s, 0, 0, now(), false, false, 0, 0
FROM leads_clinic WHERE slug LIKE 'bench-filler-%%'
"""
FILLER_LEDGER_SQL = """
INSERT INTO billing_credittransaction
    (account_id, kind, credits, balance_after, memo, idempotency_key, created_at)
SELECT a.id, 'bonus', 1, n, 'bench filler', 'bench:filler:' || a.id || ':' || n,
       now() - (%(rows)s - n) * interval '1 hour'
FROM billing_creditaccount a JOIN leads_clinic c ON c.id = a.clinic_id,
     generate_series(1, %(rows)s) AS n
WHERE c.slug LIKE 'bench-filler-%%'
ORDER BY a.id, n
"""
ORDERS_SQL = """
INSERT INTO payments_paymentorder (
    clinic_id, base_amount_paise, discount_paise, amount_paise, credits, bonus_credits,
    promo_bonus_credits, status, razorpay_order_id, razorpay_payment_id, failure_reason,
    created_at, paid_at, promo_overrun_paise, refunded_paise, gst_paise, place_of_supply,
    payment_link_url
)
SELECT %(clinic)s, 100000, 0, 118000, 1000, 0, 0, 'paid', 'order_bench_' || %(clinic)s || '_' || n,
       'pay_bench_' || %(clinic)s || '_' || n, '',
       now() - n * interval '2 hours', now() - n * interval '2 hours', 0, 0, 18000, '', ''
FROM generate_series(1, %(count)s) AS n
"""
DISPUTES_SQL = """
INSERT INTO disputes_dispute (
    clinic_id, lead_id, dispute_type, description, status, admin_notes, auto_reason, created_at,
    decided_at
)
SELECT clinic_id, id, 'poor_quality', 'bench dispute',
       CASE WHEN id %% 10 = 0 THEN 'pending' ELSE 'rejected' END, '', '', created_at,
       CASE WHEN id %% 10 = 0 THEN NULL ELSE created_at END
FROM leads_lead WHERE clinic_id = %(clinic)s AND billing_state = 'charged'
ORDER BY id LIMIT %(count)s
"""
LOTS_SQL = """
INSERT INTO billing_creditlot (
    account_id, kind, granted, remaining, expires_at, value_paise, value_credits, memo, created_at
)
SELECT %(account)s, 'paid', 1000, CASE WHEN n <= 10 THEN 1000 ELSE 0 END,
       now() + (n - 500) * interval '1 day', 100000, 1000, 'bench lot', now() - n * interval '1 day'
FROM generate_series(1, %(count)s) AS n
"""


def build_clinic(slug: str, *, leads: int, rows: int, extras: bool = False):
    """A clinic shaped like analytics' (36 months, three tiers, every outcome) with ``leads``
    leads and ``rows`` ledger rows; ``extras`` adds orders, disputes and lots (in proportion)."""
    from django.db import connection, transaction

    from billing.models import CreditAccount
    from disputes.services import rebuild_quality_days
    from leads.models import Lead

    clinic, user, packages = clinic_with_owner(slug)
    account = CreditAccount.objects.get(clinic=clinic)
    if Lead.objects.filter(clinic=clinic).exists():
        return clinic, user
    print(f"  writing {slug}: {leads:,} leads, {rows:,} ledger rows (one-off)…", flush=True)
    with transaction.atomic(), connection.cursor() as cursor:
        insert_leads(cursor, clinic, packages, leads)
        charges = Lead.objects.filter(clinic=clinic, billing_state="charged").count()
        insert_ledger(cursor, clinic, account, topups=rows - charges - charges // 50)
        if extras:
            cursor.execute(ORDERS_SQL, {"clinic": clinic.pk, "count": max(rows // 100, 10)})
            cursor.execute(DISPUTES_SQL, {"clinic": clinic.pk, "count": max(leads // 20, 5)})
            cursor.execute(LOTS_SQL, {"account": account.pk, "count": max(rows // 1000, 10)})
        # Leads and disputes written behind the services' back: count them for the quality
        # score as the migration's backfill would.
        rebuild_quality_days(clinic_ids=[clinic.pk])
    return clinic, user


def build_filler(taken_rows: int, taken_clinics: int) -> None:
    from django.db import connection, transaction

    from leads.models import Clinic

    if Clinic.objects.filter(slug__startswith="bench-filler-").exists():
        return
    count = CLINICS - taken_clinics
    rows = (TOTAL_ROWS - taken_rows) // count
    print(f"  writing {count:,} filler clinics with {rows:,} ledger rows each (one-off)…")
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(FILLER_CLINICS_SQL, {"count": count})
        cursor.execute(FILLER_ACCOUNTS_SQL, {"rows": rows})
        cursor.execute(FILLER_LEDGER_SQL, {"rows": rows})


def build():
    from django.contrib.auth import get_user_model
    from django.db import connection

    from billing.models import CreditTransaction
    from leads.models import Clinic

    start = time.perf_counter()
    demo = build_clinic("bench-pages-demo", leads=100, rows=110, extras=True)
    big = build_clinic("bench-pages-big", leads=100_000, rows=1_000_000, extras=True)
    scaling = [
        (10_000, build_clinic("bench-pages-10k", leads=1_000, rows=10_000)),
        (100_000, build_clinic("bench-pages-100k", leads=10_000, rows=100_000)),
    ]
    if not Clinic.objects.filter(slug__startswith="bench-filler-").exists():
        build_filler(
            taken_rows=CreditTransaction.objects.count(), taken_clinics=Clinic.objects.count()
        )
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
    staff, _ = get_user_model().objects.get_or_create(
        username="bench-pages-staff", defaults={"is_staff": True, "is_superuser": True}
    )
    elapsed = time.perf_counter() - start
    if elapsed > 5:
        print(f"  built in {elapsed:,.0f} s")
    return demo, big, scaling, staff


def portal_pages(clinic) -> dict[str, str]:
    from leads.models import Lead

    lead = Lead.objects.filter(clinic=clinic, billing_state="charged").order_by("-id").first()
    return {
        "dashboard": "/clinic/dashboard",
        "billing dashboard, credit lots": "/clinic/billing-dashboard",
        "lead inbox": "/clinic/leads",
        "lead page": f"/clinic/leads/{lead.pk}",
        "credits history": "/clinic/credits/history",
        "history, oldest page": "/clinic/credits/history?after=0",
        "history, kind=lead_charge": "/clinic/credits/history?kind=lead_charge",
        "history, one month ago": "/clinic/credits/history?date_to="
        + (time_ago(days=30)).isoformat(),
        "history JSON": "/clinic/credits/history?format=json",
        "top-up": "/clinic/credits/topup",
        "payments and invoices": "/clinic/payments",
        "disputes": "/clinic/disputes",
        "notifications": "/clinic/notifications",
        "webhooks": "/clinic/webhooks",
        "team": "/clinic/team",
    }


def time_ago(*, days: int):
    from datetime import timedelta

    from django.utils import timezone

    return timezone.localdate() - timedelta(days=days)


ADMIN_LISTS = {
    "admin ledger list": "/admin/billing/credittransaction/",
    "admin lead list": "/admin/leads/lead/",
    "admin dispute list": "/admin/disputes/dispute/",
    "admin order list": "/admin/payments/paymentorder/",
    "admin clinic list": "/admin/leads/clinic/",
}
# The same lists narrowed to the demo clinic: the admin's "demo size" in the same database.
ADMIN_DEMO_FILTER = {
    "admin ledger list": "account__clinic__id__exact",
    "admin lead list": "clinic__id__exact",
    "admin dispute list": "clinic__id__exact",
    "admin order list": "clinic__id__exact",
    "admin clinic list": "id",
}


def timed(client, url: str, requests: int) -> list[float]:
    warm = client.get(url, secure=True)
    assert warm.status_code == 200, (url, warm.status_code)
    times = []
    for _ in range(requests):
        start = time.perf_counter()
        response = client.get(url, secure=True)
        times.append((time.perf_counter() - start) * 1e3)
        assert response.status_code == 200, (url, response.status_code)
    return times


def p95(times):
    return statistics.quantiles(times, n=20)[-1]


def client_for(user):
    from django.test import Client

    client = Client()
    client.force_login(user)
    return client


def row(label, small, big) -> tuple[str, bool]:
    growth = p95(big) / p95(small)
    ok = p95(big) < P95_LIMIT_MS and growth <= GROWTH_LIMIT
    line = (
        f"| {label} | {statistics.median(small):,.1f} / {p95(small):,.1f} "
        f"| {statistics.median(big):,.1f} / {p95(big):,.1f} | {growth:.2f}× |"
        + ("" if ok else " **over**")
    )
    return line, ok


def compare(demo, big, staff, requests: int) -> bool:
    (demo_clinic, demo_user), (big_clinic, big_user) = demo, big
    print("\n| page | demo p50 / p95 ms | 1M rows p50 / p95 ms | growth |")
    print("|---|---:|---:|---:|")
    all_ok = True
    demo_client, big_client = client_for(demo_user), client_for(big_user)
    small_pages, big_pages = portal_pages(demo_clinic), portal_pages(big_clinic)
    for label in small_pages:
        if ONLY not in label:
            continue
        line, ok = row(
            label,
            timed(demo_client, small_pages[label], requests),
            timed(big_client, big_pages[label], requests),
        )
        all_ok &= ok
        print(line, flush=True)
    from django.test import Client

    from tests.otp import login_with_otp  # the admin wants a verified second factor

    staff_client = Client()
    login_with_otp(staff_client, staff)
    for label, url in ADMIN_LISTS.items():
        if ONLY not in label:
            continue
        narrowed = f"{url}?{ADMIN_DEMO_FILTER[label]}={demo_clinic.pk}"
        line, ok = row(
            label + " (all clinics)",
            timed(staff_client, narrowed, requests),
            timed(staff_client, url, requests),
        )
        all_ok &= ok
        print(line, flush=True)
    return all_ok


def scaling(demo, big, sizes, requests: int) -> bool:
    print("\n| page | " + " | ".join(f"{rows:,} rows p95 ms" for rows, _ in sizes) + " |")
    print("|---|" + "---:|" * len(sizes))
    all_ok = True
    clients = [(client_for(user), portal_pages(clinic)) for _, (clinic, user) in sizes]
    for label in clients[0][1]:
        if ONLY not in label:
            continue
        figures = [p95(timed(client, pages[label], requests)) for client, pages in clients]
        ok = figures[-1] <= GROWTH_LIMIT * figures[0]
        all_ok &= ok
        print(f"| {label} | " + " | ".join(f"{f:,.1f}" for f in figures) + " |", flush=True)
    return all_ok


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--scaling", action="store_true", help="10k, 100k and 1M rows")
    parser.add_argument("--only", default="", help="only the pages whose name contains this")
    args = parser.parse_args()
    global ONLY
    ONLY = args.only
    prepare_django(DB_URL)
    demo, big, sizes, staff = build()
    if args.scaling:
        ok = scaling(demo, big, [*sizes, (1_000_000, big)], args.requests)
    else:
        ok = compare(demo, big, staff, args.requests)
    if not ok:
        print(f"FAILED: every p95 must be under {P95_LIMIT_MS} ms and at most 2× demo size's")
        sys.exit(1)


if __name__ == "__main__":
    main()
