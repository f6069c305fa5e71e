"""PostgreSQL only: many leads charged at once against a small cap never pass it."""

import pytest

from antidote.errors import OverBudget
from billing import services
from billing.models import CreditAccount, CreditTransaction, Kind
from billing.selectors import account_balance, budget_problems, ledger_discrepancies
from leads.models import Lead
from tests.concurrency import run_concurrently
from tests.conftest import requires_postgres
from tests.factories import ClinicFactory, fund

pytestmark = [requires_postgres, pytest.mark.postgres]


def _leads(clinic, count, price_credits=100):
    Lead.objects.bulk_create(
        Lead(clinic=clinic, phone=f"+9190{i:08d}", price_credits=price_credits)
        for i in range(count)
    )
    return list(Lead.objects.filter(clinic=clinic).order_by("id"))


def _outcome(lead):
    try:
        services.charge_lead(lead=lead)
    except OverBudget:
        return "over budget"
    return "charged"


def _set(clinic, **caps):
    account = CreditAccount.objects.get(clinic=clinic)
    values = {"weekly_cap": None, "monthly_cap": None, "paused": False, **caps}
    services.set_budget(account=account, actor=None, **values)


@pytest.mark.django_db(transaction=True)
def test_eighty_concurrent_leads_against_a_cap_of_ten_charge_exactly_ten():
    clinic = ClinicFactory()
    fund(clinic, 100_000)
    _set(clinic, weekly_cap=1_000)
    leads = _leads(clinic, 80)

    outcomes = run_concurrently(_outcome, leads, workers=16)

    assert outcomes.count("charged") == 10
    assert outcomes.count("over budget") == 70
    charges = CreditTransaction.objects.filter(kind=Kind.LEAD_CHARGE)
    assert -sum(charges.values_list("credits", flat=True)) == 1_000
    assert account_balance(clinic=clinic) == 100_000 - 1_000
    assert CreditAccount.objects.get(clinic=clinic).week_spent == 1_000
    assert budget_problems() == []
    assert list(ledger_discrepancies()) == []


@pytest.mark.django_db(transaction=True)
def test_concurrent_leads_of_mixed_prices_never_pass_the_monthly_cap():
    clinic = ClinicFactory()
    fund(clinic, 100_000)
    _set(clinic, monthly_cap=1_234)
    leads = _leads(clinic, 30, 180)
    leads += [
        Lead.objects.create(clinic=clinic, phone=f"+9191{i:08d}", price_credits=100)
        for i in range(30)
    ]

    outcomes = run_concurrently(_outcome, leads, workers=16)

    spent = -sum(
        CreditTransaction.objects.filter(kind=Kind.LEAD_CHARGE).values_list("credits", flat=True)
    )
    assert spent <= 1_234
    assert spent > 1_234 - 180  # it stopped only when no lead fitted any more
    assert (
        outcomes.count("charged") == CreditTransaction.objects.filter(kind=Kind.LEAD_CHARGE).count()
    )
    assert CreditAccount.objects.get(clinic=clinic).month_spent == spent
    assert budget_problems() == []
