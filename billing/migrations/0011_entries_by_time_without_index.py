"""A clinic's entries in a time range, found by id: one index fewer for every posting.

The (account, created_at) index (0010) served the dashboard's month and the history's date
filters, but every posting paid one more index entry for it: about 13% of the charge rate at
4 workers (bench/ledger.py). Within an account, entries are posted one at a time under the
account's row lock, so their times follow their ids, out of order only by the time a posting
waited for the lock (it takes its time before). ``billing_first_entry_at`` finds the first of
an account's entries at or after an instant by bisection on the (account, id) index (about
log2(ids) index probes); ``billing.models.LedgerQuerySet.created_between`` asks it with a
day's slack either side and keeps the exact time filter on the rows in between.
"""

from importlib import import_module

from django.db import migrations

FIRST_ENTRY_AT = """
CREATE OR REPLACE FUNCTION billing_first_entry_at(p_account bigint, p_at timestamptz)
RETURNS bigint LANGUAGE plpgsql STABLE AS $$
DECLARE
    lo bigint;
    hi bigint;
    mid bigint;
    v_id bigint;
    v_at timestamptz;
    found bigint;
BEGIN
    SELECT min(id), max(id) + 1 INTO lo, hi
    FROM billing_credittransaction WHERE account_id = p_account;
    IF lo IS NULL THEN
        RETURN 0;  -- no entries: any bound will do
    END IF;
    found := hi;  -- none at or after p_at: past the last
    WHILE lo < hi LOOP
        mid := lo + (hi - lo) / 2;
        SELECT id, created_at INTO v_id, v_at FROM billing_credittransaction
        WHERE account_id = p_account AND id >= mid ORDER BY id LIMIT 1;
        IF v_id IS NULL OR v_id >= hi THEN
            hi := mid;  -- nothing in [mid, hi)
        ELSIF v_at >= p_at THEN
            found := v_id;
            hi := mid;
        ELSE
            lo := v_id + 1;
        END IF;
    END LOOP;
    RETURN found;
END;
$$;
"""


# SQL run on PostgreSQL only (SQLite posts step by step in Python).
_sql = import_module("billing.migrations.0008_lot_updates_hot")._on_postgresql


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0010_ledger_account_created_index"),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name="credittransaction",
            name="ledger_account_created",
        ),
        migrations.RunPython(
            _sql(FIRST_ENTRY_AT), _sql("DROP FUNCTION billing_first_entry_at(bigint, timestamptz)")
        ),
    ]
