"""PostgreSQL only: transfers between two locations racing each other and their charges."""

import pytest

from billing import services
from billing.finance import identity_problems
from billing.models import CreditTransaction, Kind
from billing.selectors import account_balance, ledger_discrepancies
from leads.models import Lead, Organisation, OrganisationMember
from tests.concurrency import run_concurrently, succeeded
from tests.conftest import requires_postgres
from tests.factories import ClinicFactory, UserFactory, fund

pytestmark = [requires_postgres, pytest.mark.postgres]


@pytest.mark.django_db(transaction=True)
def test_transfers_both_ways_and_charges_at_once_lose_nothing_and_never_deadlock():
    organisation = Organisation.objects.create(name="Race chain")
    one, two = (ClinicFactory(organisation=organisation) for _ in range(2))
    owner = UserFactory()
    OrganisationMember.objects.create(user=owner, organisation=organisation)
    fund(one, 3_000)
    fund(two, 3_000)
    leads = [
        Lead.objects.create(clinic=clinic, phone=f"+9191{i:08d}", price_credits=100)
        for i, clinic in enumerate([one, two] * 20)
    ]
    # 40 transfers of 150 each way, interleaved with 40 charges of 100.
    jobs = [("charge", lead) for lead in leads] + [
        ("move", (one, two, f"a{i}") if i % 2 else (two, one, f"b{i}")) for i in range(80)
    ]
    jobs.sort(key=lambda job: hash(repr(job[1])) % 7)

    def work(job):
        what, args = job
        if what == "charge":
            return services.charge_lead(lead=args)
        source, target, key = args
        return services.transfer_credits(
            source=source, target=target, credits=150, idempotency_key=key, actor=owner
        )

    outcomes = run_concurrently(succeeded(work), jobs, workers=8)

    charged = CreditTransaction.objects.filter(kind=Kind.LEAD_CHARGE).count()
    moves = CreditTransaction.objects.filter(kind=Kind.TRANSFER_OUT).count()
    assert outcomes.count(True) == charged + moves
    assert moves == CreditTransaction.objects.filter(kind=Kind.TRANSFER_IN).count() > 0
    total = account_balance(clinic=one) + account_balance(clinic=two)
    assert total == 6_000 - 100 * charged
    assert min(account_balance(clinic=one), account_balance(clinic=two)) >= 0
    assert list(ledger_discrepancies()) == []
    assert identity_problems() == []
