"""Lot updates become HOT updates, and the one-lot charge takes a short path.

Every lead charge updates one lot's ``remaining``. While ``remaining`` sat in the lot indexes'
predicates (``remaining > 0``), each such update had to write new entries into every index
of the table (five) and left dead ones behind: a lot drawn a few hundred times made the
charge's lot scan and the lot update walk hundreds of dead index entries. The predicates now
use ``has_credits``, a stored generated column that changes only when a lot empties or is
refilled, and the table keeps 30% of each page free (fillfactor 70), so a charge's lot update
is a heap-only (HOT) update: no index writes at all.

``billing_charge`` reads the lots through that predicate and, when one lot covers the whole
charge (nearly always), updates it and records the allocation with single-row statements
instead of joining arrays; what it draws, and in what order, is unchanged (a charge spread
over several lots or into overdraft takes the earlier statements).
"""

from django.db import migrations, models

CHARGE = """
CREATE OR REPLACE FUNCTION billing_charge(
    p_clinic bigint, p_credits bigint, p_lead bigint, p_actor integer, p_memo varchar,
    p_key varchar, p_now timestamptz
) RETURNS TABLE (
    entry_id bigint, account_id bigint, balance_after bigint, retry boolean,
    alert_threshold bigint, alert_armed boolean
)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_account bigint;
    v_after bigint;
    v_limit bigint;
    v_threshold bigint;
    v_armed boolean;
    v_entry bigint;
    v_need bigint := -p_credits;
    v_lot record;
    v_take bigint;
    v_ids bigint[] := '{}';
    v_takes bigint[] := '{}';
BEGIN
    SELECT a.id, a.balance + p_credits, a.overdraft_limit, a.low_balance_threshold,
           a.low_balance_alerted_at IS NULL
    INTO v_account, v_after, v_limit, v_threshold, v_armed
    FROM billing_creditaccount a JOIN leads_clinic c ON c.id = a.clinic_id
    WHERE a.clinic_id = p_clinic AND c.is_active
    FOR UPDATE OF a;
    -- Unaffordable, or no such active clinic: nothing written; the caller works out why.
    IF v_account IS NULL OR v_after < -v_limit THEN
        RETURN;
    END IF;
    IF v_after < 0 THEN
        v_need := v_need + v_after;  -- lots hold max(balance, 0); the rest is overdraft
    END IF;
    FOR v_lot IN
        SELECT l.id, l.remaining, l.expires_at FROM billing_creditlot l
        WHERE l.account_id = v_account AND l.has_credits
        ORDER BY l.expires_at, l.kind, l.id
    LOOP
        EXIT WHEN v_need <= 0;
        IF v_lot.expires_at <= p_now THEN
            -- A lot is due: the general path posts its expiry first.
            RETURN QUERY SELECT NULL::bigint, v_account, NULL::bigint, true, NULL::bigint,
                NULL::boolean;
            RETURN;
        END IF;
        v_take := least(v_need, v_lot.remaining);
        v_ids := v_ids || v_lot.id;
        v_takes := v_takes || v_take;
        v_need := v_need - v_take;
    END LOOP;
    INSERT INTO billing_credittransaction
        (account_id, kind, credits, balance_after, lead_id, actor_id, memo, idempotency_key,
         created_at)
    VALUES (v_account, 'lead_charge', p_credits, v_after, p_lead, p_actor, p_memo, p_key, p_now)
    ON CONFLICT DO NOTHING RETURNING id INTO v_entry;
    IF v_entry IS NULL THEN
        RETURN;
    END IF;
    IF cardinality(v_ids) = 1 AND v_takes[1] = -p_credits THEN
        -- The usual charge: one lot covers it. Plain single-row statements, no array joins.
        UPDATE billing_creditlot l SET remaining = l.remaining - v_takes[1] WHERE l.id = v_ids[1];
        INSERT INTO billing_lotallocation (entry_id, lot_id, credits)
        VALUES (v_entry, v_ids[1], v_takes[1]);
    ELSE
        UPDATE billing_creditlot l SET remaining = l.remaining - t.take
        FROM unnest(v_ids, v_takes) AS t(id, take) WHERE l.id = t.id;
        INSERT INTO billing_lotallocation (entry_id, lot_id, credits)
        SELECT v_entry, t.id, t.take FROM unnest(v_ids, v_takes) AS t(id, take)
        UNION ALL
        SELECT v_entry, NULL, -p_credits - (SELECT coalesce(sum(x), 0) FROM unnest(v_takes) x)
        WHERE -p_credits > (SELECT coalesce(sum(x), 0) FROM unnest(v_takes) x);
    END IF;
    UPDATE billing_creditaccount a
    SET balance = v_after, in_debt = v_after < -a.overdraft_limit, updated_at = p_now
    WHERE a.id = v_account;
    RETURN QUERY SELECT v_entry, v_account, v_after, false, v_threshold, v_armed;
END;
$$;
"""
# Undoing this migration puts back the scan on ``remaining`` (the short path stays: it draws
# exactly what the old statements drew).
OLD_CHARGE = CHARGE.replace("l.has_credits", "l.remaining > 0")
FILLFACTOR = "ALTER TABLE billing_creditlot SET (fillfactor = {})"


def _on_postgresql(sql):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql, params=None)

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0007_charge_function_and_lots_from_balances"),
    ]

    operations = [
        # Before the column is added: adding it rewrites the table, leaving room in every page.
        migrations.RunPython(
            _on_postgresql(FILLFACTOR.format(70)), _on_postgresql(FILLFACTOR.format(100))
        ),
        migrations.RemoveIndex(
            model_name="creditlot",
            name="lot_spendable",
        ),
        migrations.RemoveIndex(
            model_name="creditlot",
            name="lot_due",
        ),
        migrations.AddField(
            model_name="creditlot",
            name="has_credits",
            field=models.GeneratedField(
                db_persist=True,
                expression=models.Q(("remaining__gt", 0)),
                output_field=models.BooleanField(),
            ),
        ),
        migrations.AddIndex(
            model_name="creditlot",
            index=models.Index(
                condition=models.Q(("has_credits", True)),
                fields=["account", "expires_at"],
                name="lot_spendable",
            ),
        ),
        migrations.AddIndex(
            model_name="creditlot",
            index=models.Index(
                condition=models.Q(("has_credits", True)), fields=["expires_at"], name="lot_due"
            ),
        ),
        migrations.RunPython(_on_postgresql(CHARGE), _on_postgresql(OLD_CHARGE)),
    ]
