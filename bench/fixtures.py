"""Bulk fixtures the benchmarks share: clinics with an owner and packages, leads and ledger
rows written straight in SQL (a service call per row would take an hour)."""

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
           'bench:topup:' || %(account)s || ':' || n AS key
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
       'bench fixture', key,
       now() - (count(*) OVER () - row_number() OVER (ORDER BY seq, kind))
               * interval '1 minute' * (%(minutes)s::float / count(*) OVER ())
FROM entries
"""


def insert_ledger(cursor, clinic, account, *, topups: int) -> None:
    """``topups`` top-ups, a charge per charged lead and a refund on every 50th, spread in
    posting order over the MONTHS up to now (the newest entry is now)."""
    cursor.execute(
        "SELECT count(*) FROM leads_lead WHERE clinic_id = %s AND billing_state = 'charged'",
        [clinic.pk],
    )
    charges = cursor.fetchone()[0]
    cursor.execute(
        LEDGER_SQL,
        {
            "clinic": clinic.pk,
            "account": account.pk,
            "charges": charges,
            "topups": topups,
            "minutes": MONTHS * 30 * 24 * 60,
        },
    )
    cursor.execute(
        "UPDATE billing_creditaccount SET balance = "
        "(SELECT SUM(credits) FROM billing_credittransaction WHERE account_id = %s) "
        "WHERE id = %s",
        [account.pk, account.pk],
    )
