"""PostgreSQL only: reviewers deciding one dispute at the same moment decide and refund once."""

import pytest

from billing.models import CreditAccount, CreditTransaction, Kind
from billing.selectors import account_balance, ledger_discrepancies
from disputes import services
from disputes.models import Dispute
from leads import services as leads
from tests.concurrency import run_concurrently, run_overlapped, succeeded
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


# The dispute row lock. A second connection holds the clinic's credit account, so the first
# decision is certain to be inside its transaction (dispute read as pending, refund not yet
# posted) when the second starts. Without select_for_update in disputes.services._decide,
# both decisions go through; that was tried and these tests turn red.


def _pending_dispute():
    clinic = ClinicFactory()
    fund(clinic, 1_000)
    lead = leads.submit_enquiry(clinic=clinic, name="A", phone="9000000001")
    return services.open_dispute(
        lead=lead, user=None, dispute_type="invalid_contact", description=DESCRIPTION
    )


def _approve(dispute, reviewer):
    return lambda: services.approve_dispute(
        dispute=Dispute.objects.get(pk=dispute.pk), actor=reviewer
    )


@pytest.mark.django_db(transaction=True)
def test_two_overlapping_approvals_decide_and_refund_once():
    dispute = _pending_dispute()
    first, second = StaffFactory(username="first"), StaffFactory(username="second")

    outcomes = run_overlapped(
        CreditAccount.objects.filter(clinic=dispute.clinic),
        [_approve(dispute, first), _approve(dispute, second)],
    )

    assert [type(o).__name__ for o in outcomes] == ["Dispute", "AntidoteError"], outcomes
    assert "already approved" in outcomes[1].message
    dispute.refresh_from_db()
    assert dispute.decided_by == first
    assert list(dispute.events.values_list("action", flat=True)) == ["opened", "approved"]
    assert CreditTransaction.objects.filter(kind=Kind.DISPUTE_REFUND).count() == 1
    assert account_balance(clinic=dispute.clinic) == 1_000


@pytest.mark.django_db(transaction=True)
def test_a_rejection_overlapping_an_approval_cannot_leave_a_refunded_dispute_rejected():
    dispute = _pending_dispute()
    approver, rejecter = StaffFactory(username="approver"), StaffFactory(username="rejecter")

    def reject():
        return services.reject_dispute(
            dispute=Dispute.objects.get(pk=dispute.pk), actor=rejecter, notes="Looks genuine."
        )

    outcomes = run_overlapped(
        CreditAccount.objects.filter(clinic=dispute.clinic), [_approve(dispute, approver), reject]
    )

    assert [type(o).__name__ for o in outcomes] == ["Dispute", "AntidoteError"], outcomes
    dispute.refresh_from_db()
    assert (dispute.status, dispute.decided_by) == (Dispute.Status.APPROVED, approver)
    assert dispute.refund_entry is not None
    assert account_balance(clinic=dispute.clinic) == 1_000
