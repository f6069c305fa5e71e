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
from bench.database import ensure_database  # noqa: E402

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
MONTHS = 36


def clinic_with_owner(slug: str, city: str = "Bench city"):
    from django.contrib.auth import get_user_model

    from billing.models import CreditAccount
    from leads.models import Clinic, ClinicMember, Package

    clinic, _ = Clinic.objects.get_or_create(
        slug=slug, defaults={"name": slug, "city": city, "contact_email": f"{slug}@example.com"}
    )
    CreditAccount.objects.get_or_create(clinic=clinic)
    user, _ = get_user_model().objects.get_or_create(username=slug)
    ClinicMember.objects.get_or_create(user=user, clinic=clinic, defaults={"role": "owner"})
    packages = []
    for price in (300_000, 750_000, 1_500_000):
        package, _ = Package.objects.get_or_create(
            clinic=clinic, name=f"{slug} ₹{price // 100}", defaults={"price_paise": price}
        )
        packages.append(package)
    return clinic, user, packages


# The leads: lead n (1-based) arrives n × (36 months / LEADS) ago, in package n mod 4 (the
# fourth is "no package"); 90% charged, 5% held, 5% duplicates; outcomes by n mod 10.
LEADS_SQL = """
INSERT INTO leads_lead (
    clinic_id, package_id, status, billing_state, patient_name, phone, email, message,
    package_price_paise, tier_min_price_paise, price_credits, created_at, charged_at,
    technical_error, archived, booked_for, revenue_paise, lost_reason, first_contacted_at
)
SELECT %(clinic)s,
       (ARRAY[%(p1)s, %(p2)s, %(p3)s, NULL])[1 + n %% 4],
       CASE WHEN n %% 20 IN (0, 1) THEN 'new'
            WHEN n %% 10 IN (2, 3, 4) THEN 'contacted'
            WHEN n %% 10 = 5 THEN 'booked'
            WHEN n %% 10 IN (6, 7) THEN 'treated'
            WHEN n %% 10 IN (8, 9) THEN 'lost'
            ELSE 'new' END,
       CASE WHEN n %% 20 = 0 THEN 'held' WHEN n %% 20 = 1 THEN 'duplicate' ELSE 'charged' END,
       'Bench patient', '+9190' || lpad((n %% 100000000)::text, 8, '0'), '', '',
       (ARRAY[300000, 750000, 1500000, NULL])[1 + n %% 4],
       (ARRAY[0, 500000, 1000000, 0])[1 + n %% 4],
       (ARRAY[100, 180, 250, 100])[1 + n %% 4],
       now() - (n * interval '1 minute' * (%(minutes)s::float / %(leads)s)),
       CASE WHEN n %% 20 IN (0, 1) THEN NULL
            ELSE now() - (n * interval '1 minute' * (%(minutes)s::float / %(leads)s)) END,
       false, false,
       CASE WHEN n %% 20 NOT IN (0, 1) AND n %% 10 = 5 THEN date '2026-06-01' END,
       CASE WHEN n %% 20 NOT IN (0, 1) AND n %% 10 IN (6, 7) THEN 2500000 + (n %% 7) * 100000 END,
       CASE WHEN n %% 20 NOT IN (0, 1) AND n %% 10 IN (8, 9) THEN 'price' ELSE '' END,
       CASE WHEN n %% 20 NOT IN (0, 1) AND n %% 10 BETWEEN 2 AND 8
            THEN now() - (n * interval '1 minute' * (%(minutes)s::float / %(leads)s))
                 + ((n %% 240) * interval '1 minute') END
FROM generate_series(1, %(leads)s) AS n
"""


def insert_leads(cursor, clinic, packages, count: int) -> None:
    cursor.execute(
        LEADS_SQL,
        {
            "clinic": clinic.pk,
            "p1": packages[0].pk,
            "p2": packages[1].pk,
            "p3": packages[2].pk,
            "minutes": MONTHS * 30 * 24 * 60,
            "leads": count,
        },
    )


# The ledger: top-ups first (so the balance never dips), then one charge per charged lead,
# then a refund on every 50th charged lead; balance_after is the running sum.
LEDGER_SQL = """
WITH charged AS (
    SELECT id, price_credits, row_number() OVER (ORDER BY id) AS k
    FROM leads_lead WHERE clinic_id = %(clinic)s AND billing_state = 'charged'
),
entries AS (
    SELECT n AS seq, 'purchase' AS kind, 1000::bigint AS credits, NULL::bigint AS lead_id,
           'bench:topup:%(account)s:' || n AS key
    FROM generate_series(1, %(topups)s) AS n
    UNION ALL
    SELECT %(topups)s + k, 'lead_charge', -price_credits, id, 'bench:charge:' || id FROM charged
    UNION ALL
    SELECT %(topups)s + %(charges)s + k / 50, 'dispute_refund', price_credits, id,
           'bench:refund:' || id
    FROM charged WHERE k %% 50 = 0
)
INSERT INTO billing_credittransaction
    (account_id, kind, credits, balance_after, lead_id, memo, idempotency_key, created_at)
SELECT %(account)s, kind, credits, sum(credits) OVER (ORDER BY seq, kind), lead_id,
       'bench fixture', key, now()
FROM entries
"""


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
            refunds = charges // 50
            cursor.execute(
                LEDGER_SQL,
                {
                    "clinic": clinic.pk,
                    "account": account.pk,
                    "charges": charges,
                    "topups": LEDGER_ROWS - charges - refunds,
                },
            )
            cursor.execute(
                "UPDATE billing_creditaccount SET balance = "
                "(SELECT SUM(credits) FROM billing_credittransaction WHERE account_id = %s) "
                "WHERE id = %s",
                [account.pk, account.pk],
            )
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
            charges = Lead.objects.filter(clinic=clinic, billing_state="charged").count()
            cursor.execute(
                LEDGER_SQL,
                {"clinic": clinic.pk, "account": account.pk, "charges": charges, "topups": 30},
            )
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
    ensure_database(DB_URL)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from django.test.utils import override_settings

    # DEBUG stays off (no query log); static files by name, without a collectstatic manifest.
    override_settings(
        STORAGES={
            "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
            "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
        }
    ).enable()
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
