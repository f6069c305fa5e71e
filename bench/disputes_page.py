"""Disputes page benchmark (issue #20): the clinic portal's /clinic/disputes, whose quality card
and per-package rates must not grow with the clinic's number of leads.

    .venv/bin/python bench/disputes_page.py [--requests 30]

Needs PostgreSQL (BENCH_DATABASE_URL, default
postgres://postgres@127.0.0.1:5432/antidote_bench_disputes; created and migrated if missing).
The first run writes, straight in SQL (bench/fixtures.py), a demo-sized clinic (100 leads) and
a big one (100,000 leads over 36 months, about 7,500 of them charged in the last 90 days), each
with a dispute on every 20th charged lead (one in ten of them pending, the rest rejected). Later
runs find them and skip the build.

It times the page through Django's test client, ``--requests`` times after one warm-up, DEBUG
off, and prints p50/p95 for both clinics and the growth (big p95 ÷ demo p95). It exits 1 if the
growth is over 2×. Not a test: it measures.
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.database import ensure_database, use_database  # noqa: E402
from bench.fixtures import clinic_with_owner, insert_leads  # noqa: E402

DB_URL = use_database(
    os.environ.get(
        "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/antidote_bench_disputes"
    )
)

GROWTH_LIMIT = 2.0
URL = "/clinic/disputes"

DISPUTES_SQL = """
INSERT INTO disputes_dispute (
    clinic_id, lead_id, dispute_type, description, status, admin_notes, auto_reason, created_at,
    decided_at
)
SELECT clinic_id, id, 'poor_quality', 'bench dispute',
       CASE WHEN id %% 40 = 3 THEN 'pending' ELSE 'rejected' END, '', '', created_at,
       CASE WHEN id %% 40 = 3 THEN NULL ELSE created_at END
FROM leads_lead WHERE clinic_id = %(clinic)s AND billing_state = 'charged' AND id %% 20 = 3
"""


def build_clinic(slug: str, *, leads: int):
    from django.db import connection, transaction

    from disputes.services import rebuild_quality_days
    from leads.models import Lead

    clinic, user, packages = clinic_with_owner(slug)
    if Lead.objects.filter(clinic=clinic).exists():
        return clinic, user
    print(f"  writing {slug}: {leads:,} leads (one-off)…", flush=True)
    with transaction.atomic(), connection.cursor() as cursor:
        insert_leads(cursor, clinic, packages, leads)
        cursor.execute(DISPUTES_SQL, {"clinic": clinic.pk})
        # Rows written behind the services' back: count them as the migration would.
        rebuild_quality_days(clinic_ids=[clinic.pk])
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    return clinic, user


def p95(times):
    return statistics.quantiles(times, n=20)[-1]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=30)
    args = parser.parse_args()
    ensure_database(DB_URL)
    import django

    django.setup()
    from django.core.management import call_command
    from django.test import Client
    from django.test.utils import override_settings

    from disputes.selectors import quality_score

    call_command("migrate", verbosity=0)
    demo = build_clinic("bench-disputes-demo", leads=100)
    big = build_clinic("bench-disputes-big", leads=100_000)
    print("\n| clinic | charged leads in window | p50 ms | p95 ms |")
    print("|---|---:|---:|---:|")
    figures = []
    # DEBUG off (no query log); static files by name, without a collectstatic manifest.
    storages = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    clinics = (("demo", demo), ("100,000 leads", big))
    times = {label: [] for label, _ in clinics}
    with override_settings(DEBUG=False, STORAGES=storages):
        clients = []
        for label, (_, user) in clinics:
            client = Client()
            client.force_login(user)
            assert client.get(URL, secure=True).status_code == 200  # warm-up
            clients.append((label, client))
        # Interleaved, so a noisy neighbour on the machine weighs on both alike.
        for _ in range(args.requests):
            for label, client in clients:
                start = time.perf_counter()
                response = client.get(URL, secure=True)
                times[label].append((time.perf_counter() - start) * 1e3)
                assert response.status_code == 200, (label, response.status_code)
    for label, (clinic, _) in clinics:
        score = quality_score(clinic=clinic)
        print(
            f"| {label} | {score.leads:,} ({score.disputes:,} disputed) "
            f"| {statistics.median(times[label]):,.1f} | {p95(times[label]):,.1f} |"
        )
    figures = [p95(times[label]) for label, _ in clinics]
    growth = figures[1] / figures[0]
    print(f"\ngrowth (big p95 ÷ demo p95): {growth:.2f}×")
    return 0 if growth <= GROWTH_LIMIT else 1


if __name__ == "__main__":
    sys.exit(main())
