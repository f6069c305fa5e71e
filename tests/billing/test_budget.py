"""Budget caps and pausing: enforced in the posting that charges a lead, per IST week and month.

A fixed clock (``timezone.now`` patched) places every charge; 2026-12-06 is a Sunday.
"""

from datetime import UTC, date, datetime, timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from antidote.errors import AntidoteError, InsufficientCredits, OverBudget
from billing import services
from billing.models import IST, CreditAccount, CreditTransaction, Kind, ist_periods
from billing.selectors import account_balance, budget_problems, budget_summary
from leads.models import Lead
from tests.factories import ClinicFactory, LeadFactory, UserFactory, fund

pytestmark = pytest.mark.django_db

SUNDAY_2359 = datetime(2026, 12, 6, 23, 59, 59, tzinfo=IST)
MONDAY_0000 = datetime(2026, 12, 7, 0, 0, 0, tzinfo=IST)


class Clock:
    def __init__(self, monkeypatch, at):
        self.at = at
        monkeypatch.setattr(timezone, "now", lambda: self.at)


@pytest.fixture
def clock(monkeypatch):
    return Clock(monkeypatch, datetime(2026, 12, 2, 12, 0, tzinfo=IST))  # a Wednesday


@pytest.fixture
def owner(db):
    return UserFactory(username="owner")


def account(clinic) -> CreditAccount:
    return CreditAccount.objects.get(clinic=clinic)


def budget(clinic, actor=None, **changes):
    current = account(clinic)
    values = {
        "weekly_cap": current.weekly_cap,
        "monthly_cap": current.monthly_cap,
        "paused": current.paused,
        "pause_until": None,
    }
    values.update(changes)
    return services.set_budget(account=current, actor=actor, **values)


def charge(clinic, credits=100):
    return services.charge_lead(lead=LeadFactory(clinic=clinic, price_credits=credits))


def charged_credits(clinic) -> int:
    entries = CreditTransaction.objects.filter(account__clinic=clinic, kind=Kind.LEAD_CHARGE)
    return -sum(entries.values_list("credits", flat=True))


# What counts, and the cap itself -----------------------------------------------------------


def test_charges_up_to_exactly_the_weekly_cap_go_through_and_one_more_is_refused(clinic, clock):
    fund(clinic, 10_000)
    budget(clinic, weekly_cap=300)
    for _ in range(3):
        charge(clinic)
    with pytest.raises(OverBudget, match="spent 300 of its weekly cap of 300"):
        charge(clinic)
    assert charged_credits(clinic) == 300
    assert account_balance(clinic=clinic) == 10_000 - 300
    assert account(clinic).week_spent == 300


def test_a_lead_that_would_pass_the_cap_by_one_credit_is_refused_whole(clinic, clock):
    fund(clinic, 10_000)
    budget(clinic, weekly_cap=250)
    charge(clinic, 150)
    with pytest.raises(OverBudget):
        charge(clinic, 101)
    charge(clinic, 100)  # exactly the rest
    assert charged_credits(clinic) == 250


def test_the_monthly_cap_holds_across_weeks_of_the_same_month(clinic, clock):
    fund(clinic, 10_000)
    budget(clinic, monthly_cap=250)
    charge(clinic)
    clock.at += timedelta(days=7)  # the next week, still December
    charge(clinic)
    with pytest.raises(OverBudget, match="monthly cap of 250"):
        charge(clinic)
    clock.at = datetime(2027, 1, 1, 0, 0, tzinfo=IST)
    charge(clinic)  # a new month
    assert charged_credits(clinic) == 300


def test_refunds_give_no_room_back(clinic, clock):
    fund(clinic, 10_000)
    budget(clinic, weekly_cap=200)
    first = charge(clinic)
    charge(clinic)
    services.refund_lead_charge(lead=first.lead, idempotency_key="refund:test", memo="test")
    with pytest.raises(OverBudget):
        charge(clinic)
    assert account(clinic).week_spent == 200


def test_spend_counts_before_a_cap_is_set(clinic, clock):
    fund(clinic, 10_000)
    charge(clinic)
    charge(clinic)
    budget(clinic, weekly_cap=250)
    with pytest.raises(OverBudget):
        charge(clinic)


def test_a_cap_lowered_below_what_was_spent_stands_and_refuses_the_next_lead(clinic, clock):
    fund(clinic, 10_000)
    budget(clinic, weekly_cap=1_000)
    for _ in range(5):
        charge(clinic)
    budget(clinic, weekly_cap=200)  # accepted: nothing already charged is undone
    with pytest.raises(OverBudget, match="spent 500 of its weekly cap of 200"):
        charge(clinic)
    assert budget_summary(clinic=clinic).week_left == 0


def test_other_postings_ignore_the_budget(clinic, clock, staff):
    budget(clinic, weekly_cap=1, paused=True)
    fund(clinic, 500)
    services.adjust_credits(clinic=clinic, credits=-100, actor=staff, reason="test")
    assert account_balance(clinic=clinic) == 400


def test_over_budget_is_decided_before_the_floor(clinic, clock):
    budget(clinic, paused=True)
    with pytest.raises(OverBudget):
        charge(clinic)  # no credits either: the pause is what the clinic can act on
    budget(clinic, paused=False)
    with pytest.raises(InsufficientCredits):
        charge(clinic)


# IST periods -------------------------------------------------------------------------------


def test_the_week_turns_at_monday_0000_ist_not_a_second_before(clinic, clock):
    fund(clinic, 10_000)
    budget(clinic, weekly_cap=100)
    clock.at = SUNDAY_2359 - timedelta(minutes=1)
    charge(clinic)
    clock.at = SUNDAY_2359
    with pytest.raises(OverBudget):
        charge(clinic)
    clock.at = MONDAY_0000
    charge(clinic)
    assert account(clinic).week_start == date(2026, 12, 7)
    assert account(clinic).week_spent == 100


def test_ist_periods_at_the_boundaries():
    assert ist_periods(SUNDAY_2359) == (date(2026, 11, 30), date(2026, 12, 1))
    assert ist_periods(MONDAY_0000) == (date(2026, 12, 7), date(2026, 12, 1))
    # 18:30 UTC on Sunday is 00:00 IST on Monday.
    utc = datetime(2026, 12, 6, 18, 30, tzinfo=UTC)
    assert ist_periods(utc) == (date(2026, 12, 7), date(2026, 12, 1))
    assert ist_periods(utc - timedelta(microseconds=1))[0] == date(2026, 11, 30)


def test_summary_names_the_next_resets(clinic, clock):
    clock.at = SUNDAY_2359
    summary = budget_summary(clinic=clinic)
    assert summary.week_resets_on == date(2026, 12, 7)
    assert summary.month_resets_on == date(2027, 1, 1)
    clock.at = datetime(2026, 12, 31, 23, 0, tzinfo=IST)
    assert budget_summary(clinic=clinic).month_resets_on == date(2027, 1, 1)


# Pausing -----------------------------------------------------------------------------------


def test_pause_until_resumed_refuses_every_lead_and_resuming_lets_them_through(clinic, clock):
    fund(clinic, 10_000)
    budget(clinic, paused=True)
    with pytest.raises(OverBudget, match="paused its leads until it is resumed"):
        charge(clinic)
    budget(clinic, paused=False)
    charge(clinic)


def test_a_dated_pause_ends_at_0000_ist_on_that_day(clinic, clock):
    fund(clinic, 10_000)
    budget(clinic, paused=True, pause_until=date(2026, 12, 7))
    clock.at = SUNDAY_2359
    with pytest.raises(OverBudget, match="until 7 Dec 2026"):
        charge(clinic)
    clock.at = MONDAY_0000
    charge(clinic)


# Refusals of bad settings -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"weekly_cap": 0}, "at least 1 credit"),
        ({"weekly_cap": -5}, "at least 1 credit"),
        ({"monthly_cap": 0}, "at least 1 credit"),
        ({"monthly_cap": -1}, "at least 1 credit"),
        ({"weekly_cap": 1.5}, "whole number"),
        ({"weekly_cap": "100"}, "whole number"),
        ({"monthly_cap": True}, "whole number"),
        ({"weekly_cap": 10**10}, "at most"),
        ({"paused": "yes"}, "paused"),
        ({"paused": True, "pause_until": date(2026, 12, 1)}, "later day than today"),
        ({"paused": True, "pause_until": date(2026, 12, 2)}, "later day than today"),
        ({"paused": True, "pause_until": datetime(2027, 1, 1, tzinfo=IST)}, "on a date"),
        ({"paused": True, "pause_until": "2027-01-01"}, "on a date"),
        ({"paused": False, "pause_until": date(2027, 1, 1)}, "needs a pause"),
    ],
)
def test_bad_budgets_are_refused_and_change_nothing(clinic, clock, changes, message):
    before = account(clinic).history.count()
    with pytest.raises(AntidoteError, match=message):
        budget(clinic, **changes)
    after = account(clinic)
    assert (after.weekly_cap, after.monthly_cap, after.paused, after.pause_ends_at) == (
        None,
        None,
        False,
        None,
    )
    assert after.history.count() == before


def test_every_change_is_in_the_history_with_who_made_it(clinic, clock, owner):
    budget(clinic, owner, weekly_cap=500)
    budget(clinic, owner, paused=True, pause_until=date(2026, 12, 10))
    budget(clinic, owner, weekly_cap=500, paused=True, pause_until=date(2026, 12, 10))  # same
    rows = list(account(clinic).history.order_by("history_id"))
    changes = [(r.weekly_cap, r.paused, r.history_user) for r in rows if r.history_user]
    assert changes == [(500, False, owner), (500, True, owner)]
    assert rows[-1].pause_ends_at == datetime(2026, 12, 10, tzinfo=IST)


def test_database_refuses_a_zero_cap_written_behind_the_service(clinic):
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        CreditAccount.objects.filter(clinic=clinic).update(weekly_cap=0)
    with pytest.raises(IntegrityError), transaction.atomic():
        CreditAccount.objects.filter(clinic=clinic).update(pause_ends_at=timezone.now())


# Tenant isolation --------------------------------------------------------------------------


def test_one_clinics_cap_and_spend_never_touch_another(clinic, clock):
    other = ClinicFactory()
    fund(clinic, 1_000)
    fund(other, 1_000)
    budget(clinic, weekly_cap=100)
    charge(clinic)
    for _ in range(3):
        charge(other)  # no cap of its own, and the first clinic's spend is not its spend
    with pytest.raises(OverBudget):
        charge(clinic)
    assert account(other).week_spent == 300
    assert budget_summary(clinic=other).weekly_cap is None


# Reconciliation ----------------------------------------------------------------------------


def test_reconcile_finds_no_budget_problem_after_capped_charges(clinic, clock):
    fund(clinic, 10_000)
    budget(clinic, weekly_cap=200)
    charge(clinic)
    charge(clinic)
    clock.at += timedelta(days=7)
    charge(clinic)
    assert budget_problems() == []
    Lead.objects.update(billing_state=Lead.Billing.CHARGED)  # charged here, not through leads
    call_command("reconcile_ledger", verbosity=0)


def test_reconcile_names_a_charge_that_passed_the_cap_in_force(clinic, clock):
    fund(clinic, 10_000)
    charge(clinic)
    clock.at += timedelta(minutes=1)
    budget(clinic, weekly_cap=150)
    clock.at += timedelta(minutes=1)
    # What a broken posting path would do: a charge past the cap, the counter moved with it.
    CreditAccount.objects.filter(clinic=clinic).update(weekly_cap=None)
    entry = charge(clinic)
    CreditAccount.objects.filter(clinic=clinic).update(weekly_cap=150)
    problems = budget_problems()
    assert problems == [
        f"{clinic}: entry #{entry.pk} took the week of 2026-11-30 to 200 credits, past its cap "
        "of 150"
    ]


def test_reconcile_names_a_counter_that_differs_from_the_ledger(clinic, clock):
    fund(clinic, 1_000)
    charge(clinic)
    CreditAccount.objects.filter(clinic=clinic).update(week_spent=50)
    account_id = account(clinic).pk
    assert budget_problems() == [
        f"Account #{account_id}: this week's spend counter is 50 credits, its lead charges 100"
    ]


def test_the_cap_holds_on_the_path_that_first_expires_a_due_lot(clinic, clock):
    """A due lot sends the charge down the general path (PostgreSQL's function asks for the
    retry); the budget is decided there the same way, counters included."""
    services.grant_credits(
        clinic=clinic,
        credits=50,
        kind=Kind.BONUS,
        idempotency_key="soon",
        expires_at=clock.at + timedelta(hours=1),
    )
    fund(clinic, 1_000)
    budget(clinic, weekly_cap=150)
    clock.at += timedelta(hours=2)  # the bonus lot is due, not yet expired by the job
    charge(clinic)
    assert CreditTransaction.objects.filter(kind=Kind.EXPIRY).count() == 1
    with pytest.raises(OverBudget):
        charge(clinic)
    assert account(clinic).week_spent == 100


def test_the_migration_fills_the_counters_of_the_current_week_and_month(clinic, clock):
    from importlib import import_module

    from django.apps import apps

    fund(clinic, 10_000)
    clock.at = datetime(2026, 11, 30, 10, 0, tzinfo=IST)  # Monday of a week across two months
    charge(clinic)
    clock.at = datetime(2026, 12, 2, 10, 0, tzinfo=IST)
    charge(clinic, 180)
    CreditAccount.objects.filter(clinic=clinic).update(
        week_start=None, week_spent=0, month_start=None, month_spent=0
    )
    import_module("billing.migrations.0009_budget_caps").fill_counters(apps, None)
    filled = account(clinic)
    assert (filled.week_start, filled.week_spent) == (date(2026, 11, 30), 280)
    assert (filled.month_start, filled.month_spent) == (date(2026, 12, 1), 180)
