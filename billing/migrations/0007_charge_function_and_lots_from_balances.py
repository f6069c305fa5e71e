"""The lead charge's PostgreSQL function, and lots for the credits accounts already hold.

``billing_charge`` is the hot path of ``billing.services.post_entry`` on PostgreSQL: one call
(one round trip, prepared once per connection) that locks the account, draws from its lots in
consumption order and posts, returning the account's low-balance alert level and whether
the alert is armed, so the posting sees a crossing without another read. Being a volatile
PL/pgSQL function, each statement in it sees what committed before it, so the lot scan after
the lock reads the lots as the last holder of the lock left them.

Existing balances become lots with honest provenance, walking back from each account's most
recent credit entries until the balance is covered (first in, first out): a purchase becomes
a paid lot at its order's value (taxable paise for the purchased credits), a bonus or promo
bonus a bonus lot; a refund, a positive adjustment, and whatever else cannot be traced (an
order that cannot be found, credits beyond every credit entry) a bonus lot, each with a memo.
Every migrated lot expires counting from the day of the migration. Past charges get no
allocations: none are invented.
"""

from datetime import timedelta

from django.conf import settings
from django.db import migrations
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
    SET balance = v_after, in_debt = v_after < -a.overdraft_limit, updated_at = p_now
    WHERE a.id = v_account;
    RETURN QUERY SELECT v_entry, v_account, v_after, false, v_threshold, v_armed;
END;
$$;
"""
DROP = (
    "DROP FUNCTION IF EXISTS billing_charge(bigint, bigint, bigint, integer, varchar, varchar, "
    "timestamptz)"
)

CREDIT_KINDS = ["purchase", "bonus", "promo_bonus", "dispute_refund", "admin_adjustment"]


def create_function(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)  # a changed result type cannot be replaced
        schema_editor.execute(CHARGE, params=None)


def drop_function(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


def lots_from_balances(apps, schema_editor):
    CreditAccount = apps.get_model("billing", "CreditAccount")
    CreditTransaction = apps.get_model("billing", "CreditTransaction")
    CreditLot = apps.get_model("billing", "CreditLot")
    PaymentOrder = apps.get_model("payments", "PaymentOrder")
    now = timezone.now()
    paid_until = now + timedelta(days=settings.PAID_CREDIT_VALIDITY_DAYS)
    bonus_until = now + timedelta(days=settings.BONUS_CREDIT_VALIDITY_DAYS)
    lots = []
    for account in CreditAccount.objects.filter(balance__gt=0).iterator():
        if CreditLot.objects.filter(account=account).exists():
            continue  # already has lots: migrating twice adds nothing
        need = account.balance
        credits_in = CreditTransaction.objects.filter(
            account=account, kind__in=CREDIT_KINDS, credits__gt=0
        ).order_by("-id")
        for entry in credits_in.iterator():
            take = min(entry.credits, need)
            lot = CreditLot(
                account=account,
                source=entry,
                granted=take,
                remaining=take,
                created_at=now,
                kind="bonus",
                expires_at=bonus_until,
                memo=f"Migrated from entry #{entry.pk} ({entry.kind})",
            )
            order_pk = entry.idempotency_key.removeprefix("purchase:order:")
            if entry.kind == "purchase" and order_pk.isdigit():
                order = PaymentOrder.objects.filter(pk=int(order_pk)).first()
                if order is not None and order.credits:
                    lot.kind, lot.expires_at = "paid", paid_until
                    lot.value_paise, lot.value_credits = order.amount_paise, order.credits
            if lot.kind == "bonus" and entry.kind in ("purchase", "dispute_refund"):
                lot.memo += ": untraced, kept as bonus credits"
            lots.append(lot)
            need -= take
            if need == 0:
                break
        if need:
            lots.append(
                CreditLot(
                    account=account,
                    kind="bonus",
                    granted=need,
                    remaining=need,
                    created_at=now,
                    expires_at=bonus_until,
                    memo="Migrated: credits no entry accounts for; kept as bonus credits",
                )
            )
        if len(lots) >= 1_000:
            CreditLot.objects.bulk_create(lots)
            lots = []
    CreditLot.objects.bulk_create(lots)


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0006_credit_lots"),
        ("leads", "0001_initial"),
        ("payments", "0007_overrun_review"),
    ]

    operations = [
        migrations.RunPython(create_function, drop_function),
        migrations.RunPython(lots_from_balances, migrations.RunPython.noop),
    ]
