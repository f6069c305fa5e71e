"""A ledger at scale, written straight in SQL (a service call per row would take hours).

Each account's entries repeat a cycle of ten: a 1,000-credit top-up that opens a paid lot
(₹1,000 for 1,000 credits, expiring in ten years), then nine 100-credit lead charges drawn
from that lot. Every balance equals the sum of its entries, every chain is unbroken, the lots
hold the balance, every debit is allocated in full and the finance identity holds, so
``reconcile_ledger`` passes and has every kind of row to check. Entries are spread over the
last MONTHS × 30 days, oldest first (counted in days: a fraction of a month in an interval
turns into days, which dated some charges before their top-up), and interleaved across
accounts as real postings are.
Memos and the big clinic's name hold commas and quotes, so the CSV has cells to quote.

``spread_clinics`` opens ``clinics`` clinics (slug ``bench-spread-<n>``) with
``rows_each`` entries each; ``big_clinic`` opens one clinic with ``rows`` entries and an
owner who can log in to the portal. Both skip what is already there.
"""

MONTHS = 36
CYCLE = 10  # a top-up, then nine charges

_CLINICS_SQL = """
INSERT INTO leads_clinic (name, slug, city, contact_email, is_active, created_at)
SELECT %(name)s || n, %(slug)s || n, 'Bench city', 'bench' || n || '@example.com', true, now()
FROM generate_series(1, %(clinics)s) AS n
"""
_ACCOUNTS_SQL = """
INSERT INTO billing_creditaccount
    (clinic_id, balance, overdraft_limit, low_balance_threshold, in_debt, updated_at, paused,
     week_spent, month_spent)
SELECT c.id, 0, 0, 0, false, now(), false, 0, 0 FROM leads_clinic c
WHERE c.slug LIKE %(pattern)s AND NOT EXISTS (
    SELECT 1 FROM billing_creditaccount a WHERE a.clinic_id = c.id)
"""
# Entry n of an account (1-based): a top-up when n mod 10 = 1, else a charge; in posting
# order across accounts (n, then account), so ids grow with n within each account.
_ENTRIES_SQL = f"""
INSERT INTO billing_credittransaction
    (account_id, kind, credits, balance_after, memo, idempotency_key, created_at)
SELECT a.id,
       CASE WHEN n %% {CYCLE} = 1 THEN 'purchase' ELSE 'lead_charge' END,
       CASE WHEN n %% {CYCLE} = 1 THEN 1000 ELSE -100 END,
       ((n - 1) / {CYCLE}) * 100 + 1000 - ((n - 1) %% {CYCLE}) * 100,
       CASE WHEN n %% {CYCLE} = 1 THEN 'Top-up, order #' || n || ' ("bench")'
            ELSE 'Lead #' || n || ' charged' END,
       'bench:' || a.id || ':' || n,
       now() - interval '1 day' * ({MONTHS * 30} * (1 - n::float / %(rows)s))
FROM billing_creditaccount a
JOIN leads_clinic c ON c.id = a.clinic_id AND c.slug LIKE %(pattern)s
CROSS JOIN generate_series(1, %(rows)s) AS n
ORDER BY n, a.id
"""
_LOTS_SQL = """
INSERT INTO billing_creditlot (account_id, kind, source_id, granted, remaining, expires_at,
                               value_paise, value_credits, memo, created_at)
SELECT t.account_id, 'paid', t.id, 1000, 100, t.created_at + interval '10 years', 100000, 1000,
       'bench', t.created_at
FROM billing_credittransaction t
JOIN billing_creditaccount a ON a.id = t.account_id
JOIN leads_clinic c ON c.id = a.clinic_id AND c.slug LIKE %(pattern)s
WHERE t.kind = 'purchase'
"""
_ALLOCATIONS_SQL = """
INSERT INTO billing_lotallocation (entry_id, lot_id, credits)
SELECT e.id, l.id, 100 FROM (
    SELECT t.id, t.kind, max(CASE WHEN t.kind = 'purchase' THEN t.id END)
                         OVER (PARTITION BY t.account_id ORDER BY t.id) AS topup
    FROM billing_credittransaction t
    JOIN billing_creditaccount a ON a.id = t.account_id
    JOIN leads_clinic c ON c.id = a.clinic_id AND c.slug LIKE %(pattern)s
) e
JOIN billing_creditlot l ON l.source_id = e.topup
WHERE e.kind = 'lead_charge'
"""
_BALANCES_SQL = """
UPDATE billing_creditaccount a SET balance = s.total
FROM (SELECT account_id, SUM(credits) AS total FROM billing_credittransaction
      GROUP BY account_id) s
WHERE s.account_id = a.id
  AND a.clinic_id IN (SELECT id FROM leads_clinic WHERE slug LIKE %(pattern)s)
"""

# The budget counters of the current IST week and month, as lead charges would have moved
# them (reconcile_ledger checks them against the ledger).
_COUNTERS_SQL = """
WITH p AS (
    SELECT date_trunc('week', now() AT TIME ZONE 'Asia/Kolkata')::date AS week,
           date_trunc('month', now() AT TIME ZONE 'Asia/Kolkata')::date AS month
)
UPDATE billing_creditaccount a
SET week_start = p.week, month_start = p.month,
    week_spent = COALESCE((
        SELECT -SUM(t.credits) FROM billing_credittransaction t
        WHERE t.account_id = a.id AND t.kind = 'lead_charge'
          AND t.created_at >= p.week::timestamp AT TIME ZONE 'Asia/Kolkata'), 0),
    month_spent = COALESCE((
        SELECT -SUM(t.credits) FROM billing_credittransaction t
        WHERE t.account_id = a.id AND t.kind = 'lead_charge'
          AND t.created_at >= p.month::timestamp AT TIME ZONE 'Asia/Kolkata'), 0)
FROM p
WHERE a.clinic_id IN (SELECT id FROM leads_clinic WHERE slug LIKE %(pattern)s)
"""


def _fill(cursor, *, pattern: str, rows: int) -> None:
    """Entries, lots, allocations and balances for the accounts of clinics matching ``pattern``."""
    assert rows % CYCLE == 0, "whole cycles keep every lot at 100 credits"
    statements = (_ACCOUNTS_SQL, _ENTRIES_SQL, _LOTS_SQL, _ALLOCATIONS_SQL, _BALANCES_SQL)
    for statement in (*statements, _COUNTERS_SQL):
        cursor.execute(statement, {"pattern": pattern, "rows": rows})
    cursor.execute("ANALYZE")


def spread_clinics(*, clinics: int, rows_each: int) -> int:
    """``clinics`` clinics with ``rows_each`` entries each; returns how many there are."""
    from django.db import connection

    from leads.models import Clinic

    existing = Clinic.objects.filter(slug__startswith="bench-spread-").count()
    if existing >= clinics:
        return existing
    print(f"  writing {clinics:,} clinics x {rows_each:,} ledger rows (one-off)…", flush=True)
    with connection.cursor() as cursor:
        cursor.execute(
            _CLINICS_SQL,
            {"name": "Bench spread ", "slug": "bench-spread-", "clinics": clinics},
        )
        _fill(cursor, pattern="bench-spread-%", rows=rows_each)
    return clinics


def big_clinic(*, rows: int):
    """One clinic with ``rows`` entries and an owner (username ``bench-big``)."""
    from django.contrib.auth import get_user_model
    from django.db import connection

    from billing.models import CreditTransaction
    from leads.models import Clinic, ClinicMember

    clinic, _ = Clinic.objects.get_or_create(
        slug="bench-big",
        defaults={"name": 'Bench "Big", Clinic', "city": "-", "contact_email": "b@example.com"},
    )
    user, _ = get_user_model().objects.get_or_create(username="bench-big")
    ClinicMember.objects.get_or_create(user=user, clinic=clinic, defaults={"role": "owner"})
    if not CreditTransaction.objects.filter(account__clinic=clinic).exists():
        print(f"  writing {rows:,} ledger rows on one clinic (one-off)…", flush=True)
        with connection.cursor() as cursor:
            _fill(cursor, pattern="bench-big", rows=rows)
    return clinic, user
