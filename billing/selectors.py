"""Reads of the ledger: balances, history, and the reconciliation checks."""

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from django.db import connection

from billing.models import CreditAccount, CreditTransaction


def account_balance(*, clinic) -> int:
    """O(1): the balance is kept on the account row, never summed on read."""
    return CreditAccount.objects.values_list("balance", flat=True).get(clinic=clinic)


@dataclass(frozen=True)
class Discrepancy:
    account_id: int
    clinic_id: int
    clinic_name: str
    problem: str


_SUM_MISMATCH = f"""
    SELECT a.id, a.clinic_id, a.balance, COALESCE(SUM(t.credits), 0) AS total
    FROM {CreditAccount._meta.db_table} a
    LEFT JOIN {CreditTransaction._meta.db_table} t ON t.account_id = a.id
    WHERE a.id BETWEEN %s AND %s
    GROUP BY a.id, a.clinic_id, a.balance
    HAVING a.balance <> COALESCE(SUM(t.credits), 0)"""
# Entries of one account are serialised by its row lock, so id order is posting order.
_CHAIN_BREAKS = f"""
    SELECT account_id, id, balance_after, running FROM (
        SELECT account_id, id, balance_after,
               SUM(credits) OVER (PARTITION BY account_id ORDER BY id) AS running
        FROM {CreditTransaction._meta.db_table}
        WHERE account_id BETWEEN %s AND %s
    ) chain
    WHERE balance_after <> running
    ORDER BY account_id, id"""


def ledger_discrepancies(
    *, batch_size: int = 500, progress: Callable[[int, int], None] | None = None
) -> Iterator[Discrepancy]:
    """Every account whose balance differs from Σ entries, or whose chain is broken.

    Works through accounts in id batches so memory stays flat on a large ledger;
    ``progress(done, total)`` is called after each batch.
    """
    ids = list(CreditAccount.objects.order_by("id").values_list("id", flat=True))
    names = dict(CreditAccount.objects.values_list("id", "clinic__name"))
    clinics = dict(CreditAccount.objects.values_list("id", "clinic_id"))
    for start in range(0, len(ids), batch_size):
        low, high = ids[start], ids[min(start + batch_size, len(ids)) - 1]
        with connection.cursor() as cursor:
            cursor.execute(_SUM_MISMATCH, [low, high])
            for account_id, _clinic_id, balance, total in cursor.fetchall():
                yield Discrepancy(
                    account_id,
                    clinics[account_id],
                    names[account_id],
                    f"balance {balance:,} but entries sum to {total:,} "
                    f"(difference {balance - total:+,})",
                )
            cursor.execute(_CHAIN_BREAKS, [low, high])
            for account_id, entry_id, balance_after, running in cursor.fetchall():
                yield Discrepancy(
                    account_id,
                    clinics[account_id],
                    names[account_id],
                    f"entry #{entry_id} says balance_after {balance_after:,} "
                    f"but the entries up to it sum to {running:,}",
                )
        if progress:
            progress(min(start + batch_size, len(ids)), len(ids))
