"""Budget caps and pausing (issue 15): the account's caps, pause and spend counters.

``billing_charge`` is replaced whole, from the 0007 body, with four changes marked
``-- caps:`` (so they can be re-applied onto another body): it reads the caps, the pause
and the counters of the current IST week and month under the account lock, refuses (returns
no row, as for the floor) a charge that is paused or would pass a cap, and moves the
counters in the same UPDATE as the balance. No SUM over entries on the hot path.

The counters of the current week and month are filled from the ledger here, so a cap set
right after the migration counts what was already charged.
"""

from datetime import datetime, time, timedelta
from importlib import import_module

from django.db import migrations, models
from django.db.models import Sum
from django.utils import timezone

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
    -- caps: the IST week (from Monday) and month of this charge, and what they already spent.
    v_week date := date_trunc('week', p_now AT TIME ZONE 'Asia/Kolkata')::date;
    v_month date := date_trunc('month', p_now AT TIME ZONE 'Asia/Kolkata')::date;
    v_week_spent bigint;
    v_month_spent bigint;
    v_weekly_cap bigint;
    v_monthly_cap bigint;
    v_paused boolean;
BEGIN
    SELECT a.id, a.balance + p_credits, a.overdraft_limit, a.low_balance_threshold,
           a.low_balance_alerted_at IS NULL,
           -- caps: the periods' spend with this charge (another period's counter is stale).
           CASE WHEN a.week_start = v_week THEN a.week_spent ELSE 0 END - p_credits,
           CASE WHEN a.month_start = v_month THEN a.month_spent ELSE 0 END - p_credits,
           a.weekly_cap, a.monthly_cap,
           a.paused AND (a.pause_ends_at IS NULL OR p_now < a.pause_ends_at)
    INTO v_account, v_after, v_limit, v_threshold, v_armed,
         v_week_spent, v_month_spent, v_weekly_cap, v_monthly_cap, v_paused
    FROM billing_creditaccount a JOIN leads_clinic c ON c.id = a.clinic_id
    WHERE a.clinic_id = p_clinic AND c.is_active
    FOR UPDATE OF a;
    -- Unaffordable, or no such active clinic: nothing written; the caller works out why.
    IF v_account IS NULL OR v_after < -v_limit THEN
        RETURN;
    END IF;
    -- caps: paused, or past the weekly or monthly cap (NULL: no cap): nothing written.
    IF v_paused OR v_week_spent > v_weekly_cap OR v_month_spent > v_monthly_cap THEN
        RETURN;
    END IF;
    IF v_after < 0 THEN
        v_need := v_need + v_after;  -- lots hold max(balance, 0); the rest is overdraft
    END IF;
    FOR v_lot IN
        SELECT l.id, l.remaining, l.expires_at FROM billing_creditlot l
        WHERE l.account_id = v_account AND l.remaining > 0
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
    UPDATE billing_creditlot l SET remaining = l.remaining - t.take
    FROM unnest(v_ids, v_takes) AS t(id, take) WHERE l.id = t.id;
    INSERT INTO billing_lotallocation (entry_id, lot_id, credits)
    SELECT v_entry, t.id, t.take FROM unnest(v_ids, v_takes) AS t(id, take)
    UNION ALL SELECT v_entry, NULL, -p_credits - (SELECT coalesce(sum(x), 0) FROM unnest(v_takes) x)
    WHERE -p_credits > (SELECT coalesce(sum(x), 0) FROM unnest(v_takes) x);
    UPDATE billing_creditaccount a
    SET balance = v_after, in_debt = v_after < -a.overdraft_limit, updated_at = p_now,
        -- caps: the spend counters move with the balance (a new period starts from zero).
        week_start = v_week, week_spent = v_week_spent,
        month_start = v_month, month_spent = v_month_spent
    WHERE a.id = v_account;
    RETURN QUERY SELECT v_entry, v_account, v_after, false, v_threshold, v_armed;
END;
$$;
"""


def create_function(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CHARGE, params=None)


def restore_0007_function(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        old = import_module("billing.migrations.0007_charge_function_and_lots_from_balances")
        schema_editor.execute(old.CHARGE, params=None)


def fill_counters(apps, schema_editor):
    CreditAccount = apps.get_model("billing", "CreditAccount")
    CreditTransaction = apps.get_model("billing", "CreditTransaction")
    today = timezone.localdate()
    week, month = today - timedelta(days=today.weekday()), today.replace(day=1)

    def since(day):
        return timezone.make_aware(datetime.combine(day, time.min))

    charges = CreditTransaction.objects.filter(kind="lead_charge")
    for period, start in [("week", week), ("month", month)]:
        spent = (
            charges.filter(created_at__gte=since(start))
            .values("account_id")
            .annotate(total=Sum("credits"))
        )
        for row in spent:
            CreditAccount.objects.filter(pk=row["account_id"]).update(
                **{f"{period}_start": start, f"{period}_spent": -row["total"]}
            )


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0007_charge_function_and_lots_from_balances"),
        ("leads", "0007_outcomes"),
    ]

    operations = [
        migrations.AddField(
            model_name="creditaccount",
            name="month_spent",
            field=models.BigIntegerField(default=0, editable=False),
        ),
        migrations.AddField(
            model_name="creditaccount",
            name="month_start",
            field=models.DateField(blank=True, editable=False, null=True),
        ),
        migrations.AddField(
            model_name="creditaccount",
            name="monthly_cap",
            field=models.PositiveIntegerField(
                blank=True,
                help_text="Most credits lead charges may take in an IST month.",
                null=True,
            ),
        ),
        migrations.AddField(
            model_name="creditaccount",
            name="pause_ends_at",
            field=models.DateTimeField(
                blank=True,
                help_text="The pause ends by itself at this moment (IST midnight).",
                null=True,
            ),
        ),
        migrations.AddField(
            model_name="creditaccount",
            name="paused",
            field=models.BooleanField(default=False, help_text="No lead is charged while paused."),
        ),
        migrations.AddField(
            model_name="creditaccount",
            name="week_spent",
            field=models.BigIntegerField(default=0, editable=False),
        ),
        migrations.AddField(
            model_name="creditaccount",
            name="week_start",
            field=models.DateField(blank=True, editable=False, null=True),
        ),
        migrations.AddField(
            model_name="creditaccount",
            name="weekly_cap",
            field=models.PositiveIntegerField(
                blank=True,
                help_text="Most credits lead charges may take in an IST week.",
                null=True,
            ),
        ),
        migrations.AddField(
            model_name="historicalcreditaccount",
            name="monthly_cap",
            field=models.PositiveIntegerField(
                blank=True,
                help_text="Most credits lead charges may take in an IST month.",
                null=True,
            ),
        ),
        migrations.AddField(
            model_name="historicalcreditaccount",
            name="pause_ends_at",
            field=models.DateTimeField(
                blank=True,
                help_text="The pause ends by itself at this moment (IST midnight).",
                null=True,
            ),
        ),
        migrations.AddField(
            model_name="historicalcreditaccount",
            name="paused",
            field=models.BooleanField(default=False, help_text="No lead is charged while paused."),
        ),
        migrations.AddField(
            model_name="historicalcreditaccount",
            name="weekly_cap",
            field=models.PositiveIntegerField(
                blank=True,
                help_text="Most credits lead charges may take in an IST week.",
                null=True,
            ),
        ),
        migrations.AddConstraint(
            model_name="creditaccount",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("weekly_cap__isnull", True), ("weekly_cap__gt", 0), _connector="OR"
                ),
                name="weekly_cap_positive",
            ),
        ),
        migrations.AddConstraint(
            model_name="creditaccount",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("monthly_cap__isnull", True), ("monthly_cap__gt", 0), _connector="OR"
                ),
                name="monthly_cap_positive",
            ),
        ),
        migrations.AddConstraint(
            model_name="creditaccount",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("pause_ends_at__isnull", True), ("paused", True), _connector="OR"
                ),
                name="pause_end_only_when_paused",
            ),
        ),
        migrations.RunPython(create_function, restore_0007_function),
        migrations.RunPython(fill_counters, migrations.RunPython.noop),
    ]
