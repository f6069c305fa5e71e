# ruff: noqa: E501  (CAPS_CHANGES keeps each SQL change as one exact string)
"""Budget caps and pausing (issue 15): the account's caps, pause and spend counters.

``billing_charge`` is replaced whole, from the 0008 body, with four changes marked
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

# The four changes to the lead charge's function, each (before, after) on 0008's body: the
# caps are read under the account lock, a paused or over-cap charge writes nothing, and the
# counters move in the balance's UPDATE. Each "-- caps:" comment marks one in the SQL.
CAPS_CHANGES = [
    (
        "    v_takes bigint[] := '{}';\nBEGIN",
        "    v_takes bigint[] := '{}';\n    -- caps: the IST week (from Monday) and month of this charge, and what they already spent.\n    v_week date := date_trunc('week', p_now AT TIME ZONE 'Asia/Kolkata')::date;\n    v_month date := date_trunc('month', p_now AT TIME ZONE 'Asia/Kolkata')::date;\n    v_week_spent bigint;\n    v_month_spent bigint;\n    v_weekly_cap bigint;\n    v_monthly_cap bigint;\n    v_paused boolean;\nBEGIN",
    ),
    (
        "           a.low_balance_alerted_at IS NULL\n    INTO v_account, v_after, v_limit, v_threshold, v_armed\n",
        "           a.low_balance_alerted_at IS NULL,\n           -- caps: the periods' spend with this charge (another period's counter is stale).\n           CASE WHEN a.week_start = v_week THEN a.week_spent ELSE 0 END - p_credits,\n           CASE WHEN a.month_start = v_month THEN a.month_spent ELSE 0 END - p_credits,\n           a.weekly_cap, a.monthly_cap,\n           a.paused AND (a.pause_ends_at IS NULL OR p_now < a.pause_ends_at)\n    INTO v_account, v_after, v_limit, v_threshold, v_armed,\n         v_week_spent, v_month_spent, v_weekly_cap, v_monthly_cap, v_paused\n",
    ),
    (
        "        RETURN;\n    END IF;\n    IF v_after < 0 THEN",
        "        RETURN;\n    END IF;\n    -- caps: paused, or past the weekly or monthly cap (NULL: no cap): nothing written.\n    IF v_paused OR v_week_spent > v_weekly_cap OR v_month_spent > v_monthly_cap THEN\n        RETURN;\n    END IF;\n    IF v_after < 0 THEN",
    ),
    (
        "    SET balance = v_after, in_debt = v_after < -a.overdraft_limit, updated_at = p_now\n",
        "    SET balance = v_after, in_debt = v_after < -a.overdraft_limit, updated_at = p_now,\n        -- caps: the spend counters move with the balance (a new period starts from zero).\n        week_start = v_week, week_spent = v_week_spent,\n        month_start = v_month, month_spent = v_month_spent\n",
    ),
]
PREVIOUS = import_module("billing.migrations.0008_lot_updates_hot").CHARGE
CHARGE = PREVIOUS
for before, after in CAPS_CHANGES:
    assert CHARGE.count(before) == 1, before
    CHARGE = CHARGE.replace(before, after)


def create_function(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CHARGE, params=None)


def restore_0008_function(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PREVIOUS, params=None)


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
        ("billing", "0008_lot_updates_hot"),
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
        migrations.RunPython(create_function, restore_0008_function),
        migrations.RunPython(fill_counters, migrations.RunPython.noop),
    ]
