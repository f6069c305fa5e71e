"""PostgreSQL only: reviewers approving one dispute at the same moment refund it once."""

import pytest

from billing.models import CreditTransaction, Kind
from billing.selectors import account_balance, ledger_discrepancies
from disputes import services
from disputes.models import Dispute
from leads import services as leads
from tests.concurrency import run_concurrently, succeeded
from tests.conftest import requires_postgres
from tests.disputes.conftest import DESCRIPTION
from tests.factories import ClinicFactory, StaffFactory, fund

pytestmark = [requires_postgres, pytest.mark.postgres, pytest.mark.usefixtures("seeded_tiers")]


@pytest.mark.django_db(transaction=True)
def test_ten_concurrent_approvals_of_one_dispute_refund_once():
    clinic = ClinicFactory()
    fund(clinic, 1_000)
    lead = leads.submit_enquiry(clinic=clinic, name="A", phone="9000000001")
    dispute = services.open_dispute(
        lead=lead, user=None, dispute_type="invalid_contact", description=DESCRIPTION
    )
    reviewers = [StaffFactory(username=f"reviewer{i}") for i in range(10)]

    def approve(reviewer):
        services.approve_dispute(dispute=Dispute.objects.get(pk=dispute.pk), actor=reviewer)

    outcomes = run_concurrently(succeeded(approve), reviewers, workers=10)

    assert outcomes.count(True) == 1
    assert CreditTransaction.objects.filter(kind=Kind.DISPUTE_REFUND).count() == 1
    assert account_balance(clinic=clinic) == 1_000
    assert list(ledger_discrepancies()) == []
