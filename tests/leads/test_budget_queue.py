"""Leads over a clinic's budget: kept, not charged, masked, and released oldest first.

They wait in the one queue of the money-paths issue: behind them a new lead waits too, and a
release charges from the head while both the balance and the budget allow.
"""

from datetime import date, datetime, timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from billing import services as billing
from billing.models import IST, CreditAccount
from billing.selectors import account_balance, lead_problems
from leads import services
from leads.models import Lead
from notifications.models import Event
from tests.factories import PackageFactory, fund

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def commits(django_capture_on_commit_callbacks):
    """Budget changes and top-ups release after commit: the helpers run those callbacks."""
    COMMITS["capture"] = django_capture_on_commit_callbacks


COMMITS = {}


@pytest.fixture
def clock(monkeypatch):
    class Clock:
        at = datetime(2026, 12, 2, 12, 0, tzinfo=IST)  # a Wednesday

    monkeypatch.setattr(timezone, "now", lambda: Clock.at)
    return Clock


def enquire(clinic, phone, package=None):
    return services.submit_enquiry(clinic=clinic, package=package, name="P", phone=phone)


def set_budget(clinic, **changes):
    values = {"weekly_cap": None, "monthly_cap": None, "paused": False, **changes}
    account = CreditAccount.objects.get(clinic=clinic)
    with COMMITS["capture"](execute=True):
        return billing.set_budget(account=account, actor=None, **values)


def states(*leads):
    found = dict(Lead.objects.values_list("pk", "billing_state"))
    return [found[lead.pk] for lead in leads]


def test_a_lead_past_the_cap_is_kept_over_budget_and_masked(clinic, clock):
    fund(clinic, 10_000)
    set_budget(clinic, weekly_cap=100)
    first = enquire(clinic, "9000000001")
    second = enquire(clinic, "9000000002")
    assert states(first, second) == ["charged", "over_budget"]
    second.refresh_from_db()
    assert second.contact_masked
    assert account_balance(clinic=clinic) == 10_000 - 100
    event = Event.objects.filter(clinic_id=clinic.pk).order_by("pk").last()
    assert "phone" not in event.data["lead"]
    assert event.data["lead"]["billing_state"] == "over_budget"


def test_a_lead_behind_an_over_budget_one_waits_even_when_the_budget_has_room(clinic, clock):
    fund(clinic, 10_000)
    dear = PackageFactory(clinic=clinic, price_paise=60_000_00)  # 400 credits
    set_budget(clinic, weekly_cap=300)
    expensive = enquire(clinic, "9000000001", dear)
    cheap = enquire(clinic, "9000000002")  # 100 credits would fit, but it queues
    assert states(expensive, cheap) == ["over_budget", "over_budget"]


def test_raising_the_cap_releases_oldest_first_and_stops_at_the_first_that_does_not_fit(
    clinic, clock
):
    fund(clinic, 10_000)
    set_budget(clinic, weekly_cap=100)
    leads = [enquire(clinic, f"900000000{i}") for i in range(1, 5)]
    assert states(*leads) == ["charged", "over_budget", "over_budget", "over_budget"]
    set_budget(clinic, weekly_cap=300)
    assert states(*leads) == ["charged", "charged", "charged", "over_budget"]
    set_budget(clinic)  # no cap at all
    assert states(*leads) == ["charged"] * 4


def test_resuming_a_pause_releases_the_waiting_leads(clinic, clock):
    fund(clinic, 10_000)
    set_budget(clinic, paused=True)
    lead = enquire(clinic, "9000000001")
    assert states(lead) == ["over_budget"]
    set_budget(clinic, paused=False)
    assert states(lead) == ["charged"]


def test_the_weekly_rollover_releases_them_through_the_scheduled_command(clinic, clock):
    fund(clinic, 10_000)
    set_budget(clinic, weekly_cap=100)
    clock.at = datetime(2026, 12, 6, 23, 59, tzinfo=IST)
    leads = [enquire(clinic, f"900000000{i}") for i in range(1, 4)]
    call_command("release_held_leads", verbosity=0)
    assert states(*leads) == ["charged", "over_budget", "over_budget"]
    clock.at = datetime(2026, 12, 7, 0, 0, tzinfo=IST)  # Monday 00:00 IST
    call_command("release_held_leads", verbosity=0)
    assert states(*leads) == ["charged", "charged", "over_budget"]  # 100 a week


def test_a_dated_pause_ends_and_the_command_releases(clinic, clock):
    fund(clinic, 10_000)
    set_budget(clinic, paused=True, pause_until=date(2026, 12, 3))
    lead = enquire(clinic, "9000000001")
    clock.at = datetime(2026, 12, 3, 0, 0, tzinfo=IST)
    call_command("release_held_leads", verbosity=0)
    assert states(lead) == ["charged"]


def test_a_lead_that_fits_the_budget_but_not_the_balance_is_held_not_over_budget(clinic, clock):
    fund(clinic, 100)
    set_budget(clinic, weekly_cap=1_000)
    leads = [enquire(clinic, f"900000000{i}") for i in range(1, 3)]
    assert states(*leads) == ["charged", "held"]


def test_the_queue_says_what_its_head_waits_for_after_a_release(clinic, clock):
    """Over budget, then the cap is raised but credits ran out: the rest wait for credits."""
    fund(clinic, 200)
    set_budget(clinic, weekly_cap=100)
    leads = [enquire(clinic, f"900000000{i}") for i in range(1, 5)]
    assert states(*leads) == ["charged", "over_budget", "over_budget", "over_budget"]
    set_budget(clinic, weekly_cap=10_000)
    assert states(*leads) == ["charged", "charged", "held", "held"]
    with COMMITS["capture"](execute=True):
        fund(clinic, 1_000)
    assert states(*leads) == ["charged"] * 4


def test_an_over_budget_lead_is_not_named_by_reconcile_as_one_the_clinic_could_pay(clinic, clock):
    fund(clinic, 10_000)
    set_budget(clinic, paused=True, pause_until=date(2026, 12, 3))
    enquire(clinic, "9000000001")
    clock.at += timedelta(hours=11)
    assert lead_problems() == []
    clock.at = datetime(2026, 12, 3, 1, 0, tzinfo=IST)  # the pause ended; nobody released it
    assert len(lead_problems()) == 1


def test_an_over_budget_lead_cannot_be_worked_or_disputed(clinic, clock):
    from antidote.errors import AntidoteError
    from disputes.services import check_disputable

    set_budget(clinic, paused=True)
    lead = enquire(clinic, "9000000001")
    with pytest.raises(AntidoteError, match="over the clinic's budget"):
        check_disputable(lead)
    with pytest.raises(AntidoteError):
        services.update_lead_status(lead=lead, status="contacted", actor=None)
