"""Migration 0007 turns existing balances into lots with honest provenance (on demo data)."""

import importlib

import pytest
from django.apps import apps
from django.core.management import call_command
from django.db import connection

from billing.models import CreditAccount, CreditLot, CreditTransaction, LotAllocation
from billing.selectors import ledger_discrepancies
from payments.models import PaymentOrder

pytestmark = pytest.mark.django_db

migration = importlib.import_module(
    "billing.migrations.0007_charge_function_and_lots_from_balances"
)


def _forget_lots():
    """The demo data as it stood before lots: no lots, no allocations."""
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {LotAllocation._meta.db_table}")
        cursor.execute(f"DELETE FROM {CreditLot._meta.db_table}")


def test_the_migration_covers_every_demo_balance_first_in_first_out(settings):
    settings.DEBUG = True  # load_demo_data refuses otherwise
    call_command("load_demo_data", verbosity=0)
    _forget_lots()

    migration.lots_from_balances(apps, None)

    for account in CreditAccount.objects.all():
        lots = CreditLot.objects.filter(account=account)
        assert sum(lot.remaining for lot in lots) == max(account.balance, 0), account
        for lot in lots:
            assert lot.remaining == lot.granted
            if lot.kind == "paid":
                order = PaymentOrder.objects.get(pk=lot.source.idempotency_key.split(":")[-1])
                assert (lot.value_paise, lot.value_credits) == (order.amount_paise, order.credits)
            assert lot.memo.startswith("Migrated")
        # Most recent credits first: every traced lot's entry is at least as new as any
        # credit entry left out.
        traced = [lot.source_id for lot in lots if lot.source_id]
        if traced:
            left_out = CreditTransaction.objects.filter(
                account=account, credits__gt=0, id__lt=min(traced)
            ).exclude(id__in=traced)
            assert all(entry.id < min(traced) for entry in left_out)
    assert CreditLot.objects.filter(kind="paid").exists()
    assert not LotAllocation.objects.exists()  # no allocation is invented
    assert list(ledger_discrepancies()) == []
    # Running it again adds nothing.
    count = CreditLot.objects.count()
    migration.lots_from_balances(apps, None)
    assert CreditLot.objects.count() == count


def test_credits_no_entry_accounts_for_become_a_bonus_lot_with_a_memo(clinic):
    CreditAccount.objects.filter(clinic=clinic).update(balance=700)  # e.g. imported by hand
    migration.lots_from_balances(apps, None)
    lot = CreditLot.objects.get(account__clinic=clinic)
    assert (lot.kind, lot.granted, lot.source) == ("bonus", 700, None)
    assert "no entry accounts for" in lot.memo
