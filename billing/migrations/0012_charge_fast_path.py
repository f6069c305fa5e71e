"""The lead charge's usual case in fewer statements: one lot covers it.

Nearly every charge draws from one lot: the first in spending order, not due, with enough
left. ``billing_charge`` now reads just that lot (LIMIT 1, no loop) and, if it covers the
charge, writes the entry, the lot, the allocation and the account in one statement (each write
after the entry reads it, so a replayed key writes nothing). Anything else (an overdraft, a
charge spanning lots, a due lot) takes the loop as before. With the (account, created_at)
index gone (0011) this keeps the charge rate within the lots issue's A/B gate (README).
"""

from importlib import import_module

from django.db import migrations

# Each (before, after) on 0009's body, applied once; "-- fast:" marks them in the SQL.
FAST_PATH_CHANGES = [
    (
        "    v_paused boolean;\nBEGIN",
        "    v_paused boolean;\n"
        "    -- fast: the first lot in spending order.\n"
        "    v_first bigint;\n"
        "    v_first_left bigint;\n"
        "    v_first_expires timestamptz;\n"
        "BEGIN",
    ),
    (
        "    IF v_after < 0 THEN\n",
        """    -- fast: no overdraft and the first lot covers the charge and is not due.
    IF v_after >= 0 THEN
        SELECT l.id, l.remaining, l.expires_at INTO v_first, v_first_left, v_first_expires
        FROM billing_creditlot l WHERE l.account_id = v_account AND l.has_credits
        ORDER BY l.expires_at, l.kind, l.id LIMIT 1;
        IF v_first_left >= v_need AND v_first_expires > p_now THEN
            WITH ins AS (
                INSERT INTO billing_credittransaction
                    (account_id, kind, credits, balance_after, lead_id, actor_id, memo,
                     idempotency_key, created_at)
                VALUES (v_account, 'lead_charge', p_credits, v_after, p_lead, p_actor, p_memo,
                        p_key, p_now)
                ON CONFLICT DO NOTHING RETURNING id
            ), drawn AS (
                UPDATE billing_creditlot l SET remaining = l.remaining - v_need
                FROM ins WHERE l.id = v_first
            ), allocated AS (
                INSERT INTO billing_lotallocation (entry_id, lot_id, credits)
                SELECT ins.id, v_first, v_need FROM ins
            ), moved AS (
                UPDATE billing_creditaccount a
                SET balance = v_after, in_debt = false, updated_at = p_now,
                    week_start = v_week, week_spent = v_week_spent,
                    month_start = v_month, month_spent = v_month_spent
                FROM ins WHERE a.id = v_account
            )
            SELECT ins.id INTO v_entry FROM ins;
            IF v_entry IS NOT NULL THEN
                RETURN QUERY SELECT v_entry, v_account, v_after, false, v_threshold, v_armed;
            END IF;
            RETURN;
        END IF;
    END IF;
    IF v_after < 0 THEN
""",
    ),
]
PREVIOUS = import_module("billing.migrations.0009_budget_caps").CHARGE
CHARGE = PREVIOUS
for before, after in FAST_PATH_CHANGES:
    assert CHARGE.count(before) == 1, before
    CHARGE = CHARGE.replace(before, after)


# SQL run on PostgreSQL only (SQLite posts step by step in Python).
_create = import_module("billing.migrations.0008_lot_updates_hot")._on_postgresql


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0011_entries_by_time_without_index"),
    ]

    operations = [migrations.RunPython(_create(CHARGE), _create(PREVIOUS))]
