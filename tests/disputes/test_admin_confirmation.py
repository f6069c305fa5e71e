"""Dispute approvals move credits only after a confirmation page with the totals."""

import re

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import Permission

from billing.models import CreditTransaction, Kind
from billing.selectors import account_balance
from disputes import services
from disputes.models import Dispute
from leads import services as leads
from tests.disputes.conftest import DESCRIPTION
from tests.factories import ClinicFactory, StaffFactory, fund
from tests.otp import login_with_otp

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/disputes/dispute/"


def dispute_on(clinic, phone):
    lead = leads.submit_enquiry(clinic=clinic, name="Patient", phone=phone)
    return services.open_dispute(
        lead=lead, user=None, dispute_type="invalid_contact", description=DESCRIPTION
    )


@pytest.fixture
def queue():
    """Glow: two pending disputes of 100 credits; Lotus: one pending, one already rejected.
    Each clinic was funded 1,000 and charged 200."""
    glow, lotus = ClinicFactory(name="Glow"), ClinicFactory(name="Lotus")
    for clinic in (glow, lotus):
        fund(clinic, 1_000)
    pending = [
        dispute_on(glow, "9000000001"),
        dispute_on(glow, "9000000002"),
        dispute_on(lotus, "9000000003"),
    ]
    rejected = dispute_on(lotus, "9000000004")
    services.reject_dispute(dispute=rejected, actor=StaffFactory(), notes="No evidence.")
    return glow, lotus, pending, rejected


def post(client, action, disputes=(), **extra):
    data = {"action": action, ACTION_CHECKBOX_NAME: [d.pk for d in disputes], **extra}
    return client.post(CHANGELIST, data, follow=True)


def refunds():
    return CreditTransaction.objects.filter(kind=Kind.DISPUTE_REFUND)


def clinic_row(page, name, items, credits, before, after):
    return re.search(
        rf"<td>{name}</td><td>{items}</td><td>\+{credits}</td><td>{before}</td><td>{after}</td>",
        page.text,
    )


def test_approve_full_with_select_all_shows_the_totals_and_moves_nothing(client, reviewer, queue):
    glow, _, pending, rejected = queue
    login_with_otp(client, reviewer)

    page = post(client, "approve_full", [pending[0]], select_across="1")

    assert page.status_code == 200
    assert clinic_row(page, "Glow", 2, 200, "800", "1,000")
    assert clinic_row(page, "Lotus", 1, 100, "800", "900")
    assert "In all: +300 credits</strong> across 2 clinics; 1 item will be refused" in page.text
    assert f"Dispute #{rejected.pk}, lead #{rejected.lead_id}" in page.text
    assert "already rejected: will be refused" in page.text
    assert not refunds().exists()
    assert set(Dispute.objects.values_list("status", flat=True)) == {"pending", "rejected"}
    assert account_balance(clinic=glow) == 800


def test_the_confirming_post_refunds_exactly_the_disputes_the_page_listed(client, reviewer, queue):
    glow, lotus, pending, rejected = queue
    login_with_otp(client, reviewer)
    page = post(client, "approve_full", [pending[0]], select_across="1")
    listed = [int(pk) for pk in re.findall(r'name="_selected_action" value="(\d+)"', page.text)]
    assert sorted(listed) == sorted(d.pk for d in [*pending, rejected])
    latecomer = dispute_on(glow, "9000000005")  # opened while the page was open

    done = client.post(
        CHANGELIST,
        {"action": "approve_full", ACTION_CHECKBOX_NAME: listed, "confirm": "yes"},
        follow=True,
    )

    texts = [str(m) for m in done.context["messages"]]
    assert sum("Approved: refunded" in t for t in texts) == 3
    assert any(f"Dispute #{rejected.pk}" in t and "cannot be decided again" in t for t in texts)
    assert account_balance(clinic=glow) == 1_000 - 100  # the latecomer's lead stays charged
    assert account_balance(clinic=lotus) == 1_000 - 100  # the rejected one's too
    latecomer.refresh_from_db()
    assert latecomer.status == "pending"


def test_partial_refund_confirms_the_amounts_before_refunding(client, reviewer, queue):
    glow, lotus, pending, _ = queue
    login_with_otp(client, reviewer)
    chosen = pending[1:]  # one of Glow's, Lotus's
    amounts = {f"{chosen[0].pk}-credits": 30, f"{chosen[1].pk}-credits": 40}

    ask = post(client, "approve_partial", chosen)
    assert "Review the refunds" in ask.text
    page = post(client, "approve_partial", chosen, apply="1", **amounts)

    assert clinic_row(page, "Glow", 1, 30, "800", "830")
    assert clinic_row(page, "Lotus", 1, 40, "800", "840")
    assert "In all: +70 credits</strong> across 2 clinics." in page.text
    assert not refunds().exists()

    post(client, "approve_partial", chosen, apply="1", confirm="yes", **amounts)
    assert (account_balance(clinic=glow), account_balance(clinic=lotus)) == (830, 840)
    assert sorted(refunds().values_list("credits", flat=True)) == [30, 40]


def test_partial_refund_over_the_charge_is_shown_as_refused_and_refused(client, reviewer, queue):
    _, _, pending, _ = queue
    login_with_otp(client, reviewer)
    amounts = {f"{pending[0].pk}-credits": 500}
    page = post(client, "approve_partial", [pending[0]], apply="1", **amounts)
    assert "at most 100 can be refunded: will be refused" in page.text
    assert "In all: +0 credits</strong> across 0 clinics; 1 item will be refused" in page.text
    done = post(client, "approve_partial", [pending[0]], apply="1", confirm="yes", **amounts)
    assert any("at most 100" in str(m) for m in done.context["messages"])
    assert not refunds().exists()


@pytest.mark.parametrize("action", ["approve_full", "approve_partial"])
def test_staff_without_the_decide_permission_cannot_confirm(client, queue, action):
    _, _, pending, _ = queue
    viewer = StaffFactory(username="viewer")
    viewer.user_permissions.add(Permission.objects.get(codename="view_dispute"))
    login_with_otp(client, viewer)
    amounts = {f"{pending[0].pk}-credits": 10}
    response = post(client, action, [pending[0]], apply="1", confirm="yes", **amounts)
    assert response.status_code == 200
    assert "In all:" not in response.text
    assert not refunds().exists()
    assert not Dispute.objects.filter(status="approved").exists()


def test_an_anonymous_post_reaches_nothing(client, queue):
    _, _, pending, _ = queue
    response = post(client, "approve_full", [pending[0]], confirm="yes")
    assert "In all:" not in response.text
    assert not refunds().exists()
