"""A clinic's waiting leads form one queue, strictly oldest first.

A new lead joins behind waiting ones even if the clinic could pay for it; a release charges
from the head while the balance allows and stops at the first lead it cannot pay for.
"""

import pytest

from billing import services as billing
from billing.models import CreditAccount, CreditTransaction, Kind
from billing.selectors import account_balance
from leads import services
from leads.models import Lead
from tests.factories import PackageFactory, fund

pytestmark = pytest.mark.django_db


def enquire(clinic, package=None, phone="9000000001"):
    return services.submit_enquiry(clinic=clinic, package=package, name="P", phone=phone)


def states(*leads):
    found = dict(Lead.objects.values_list("pk", "billing_state"))
    return [found[lead.pk] for lead in leads]


@pytest.fixture
def cheap(clinic):
    return PackageFactory(clinic=clinic, price_paise=1_000_00)  # 100 credits


@pytest.fixture
def dear(clinic):
    return PackageFactory(clinic=clinic, price_paise=60_000_00)  # 400 credits


def test_a_new_cheap_lead_waits_behind_an_expensive_one_it_could_pay_for(clinic, cheap, dear):
    fund(clinic, 150)
    expensive = enquire(clinic, dear, "9000000001")
    assert expensive.billing_state == Lead.Billing.HELD

    newer = enquire(clinic, cheap, "9000000002")

    assert newer.billing_state == Lead.Billing.HELD
    assert account_balance(clinic=clinic) == 150
    assert not CreditTransaction.objects.filter(kind=Kind.LEAD_CHARGE).exists()


def test_a_release_charges_in_order_and_stops_at_the_first_it_cannot_pay(
    clinic, cheap, dear, django_capture_on_commit_callbacks
):
    first = enquire(clinic, cheap, "9000000001")
    second = enquire(clinic, dear, "9000000002")
    third = enquire(clinic, cheap, "9000000003")
    fourth = enquire(clinic, cheap, "9000000004")
    assert states(first, second, third, fourth) == ["held"] * 4

    with django_capture_on_commit_callbacks(execute=True):
        fund(clinic, 450)  # pays the first (100); the second (400) is more than the 350 left

    assert states(first, second, third, fourth) == ["charged", "held", "held", "held"]
    assert account_balance(clinic=clinic) == 350

    # While the queue waits, a newcomer joins behind it, affordable or not.
    fifth = enquire(clinic, cheap, "9000000005")
    assert states(fifth) == ["held"]

    with django_capture_on_commit_callbacks(execute=True):
        fund(clinic, 250)  # 600: the second (400) and the third (100), then 100 for the fourth

    assert states(first, second, third, fourth, fifth) == [
        "charged",
        "charged",
        "charged",
        "charged",
        "held",
    ]
    assert account_balance(clinic=clinic) == 0
    charged_in = list(
        CreditTransaction.objects.filter(kind=Kind.LEAD_CHARGE)
        .order_by("id")
        .values_list("lead_id", flat=True)
    )
    assert charged_in == [first.pk, second.pk, third.pk, fourth.pk]


def test_once_the_queue_is_empty_new_leads_are_charged_at_once(clinic, cheap):
    held = enquire(clinic, cheap, "9000000001")
    fund(clinic, 500)
    services.release_held_leads(clinic_id=clinic.pk)
    assert states(held) == ["charged"]
    assert enquire(clinic, cheap, "9000000002").billing_state == Lead.Billing.CHARGED


def test_a_clinic_in_debt_holds_new_leads_and_they_queue_behind_the_debt(clinic, cheap):
    fund(clinic, 100)
    billing.reverse_credits(clinic=clinic, credits=300, idempotency_key="reversal:test:1")
    assert CreditAccount.objects.get(clinic=clinic).in_debt
    first = enquire(clinic, cheap, "9000000001")
    assert states(first) == ["held"]
    fund(clinic, 350)  # 150, out of debt; the release that follows a top-up has not run yet

    second = enquire(clinic, cheap, "9000000002")

    assert states(first, second) == ["held", "held"]
    services.release_held_leads(clinic_id=clinic.pk)
    assert states(first, second) == ["charged", "held"]
    assert account_balance(clinic=clinic) == 50


def test_raising_the_overdraft_limit_releases_waiting_leads_it_now_covers(
    clinic, django_capture_on_commit_callbacks
):
    # Staff raising a clinic's overdraft expect its waiting leads to flow, as a top-up makes
    # them; before, they waited for the next top-up or release run, and reconcile flagged them.
    first = services.submit_enquiry(clinic=clinic, name="A", phone="9000000001")
    second = services.submit_enquiry(clinic=clinic, name="B", phone="9000000002")
    account = CreditAccount.objects.get(clinic=clinic)
    with django_capture_on_commit_callbacks(execute=True):
        billing.update_account_settings(account=account, overdraft_limit=150)
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.billing_state, second.billing_state) == ("charged", "held")
    assert account_balance(clinic=clinic) == -100

    with django_capture_on_commit_callbacks(execute=True):
        billing.update_account_settings(account=account, low_balance_threshold=5)
    second.refresh_from_db()
    assert second.billing_state == "held"  # no new room, nothing charged
