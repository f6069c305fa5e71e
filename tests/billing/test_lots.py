"""Credit lots: what each posting creates, draws or restores, expiry, and their refusals."""

import csv
import io
from datetime import timedelta
from fractions import Fraction

import pytest
from django.utils import timezone

from antidote.errors import AntidoteError, InsufficientCredits
from billing import services
from billing.finance import finance_months, finance_report, identity_problems, report_rows
from billing.management.commands import warn_expiring_credits
from billing.models import CreditLot, CreditTransaction, Kind, LotAllocation, LotExpiryChange
from billing.selectors import account_balance, ledger_discrepancies, lot_split, next_expiry
from leads import services as leads
from leads.models import Lead
from notifications.models import Event, EventType, OutboxMessage
from tests.commands import run_command
from tests.factories import ClinicFactory, LeadFactory, StaffFactory, fund

pytestmark = pytest.mark.django_db


def bonus(clinic, credits, **terms):
    return services.grant_credits(
        clinic=clinic,
        credits=credits,
        kind=Kind.BONUS,
        idempotency_key=f"test-bonus:{clinic.pk}:{CreditLot.objects.count()}:{credits}",
        **terms,
    )


def lot_of(entry) -> CreditLot:
    return CreditLot.objects.get(source_id=entry.pk)


def expire_now(lot):
    CreditLot.objects.filter(pk=lot.pk).update(expires_at=timezone.now())


def draws(entry):
    return list(
        LotAllocation.objects.filter(entry_id=entry.pk)
        .order_by("id")
        .values_list("lot_id", "credits")
    )


def assert_consistent():
    assert list(ledger_discrepancies()) == []
    assert identity_problems() == []


# What a credit creates ------------------------------------------------------------------------


def test_a_purchase_makes_a_paid_lot_at_its_exact_value_per_credit(clinic, settings):
    settings.PAID_CREDIT_VALIDITY_DAYS = 365
    entry = services.grant_credits(
        clinic=clinic, credits=5_500, idempotency_key="p:1", paid_paise=5_000_00
    )
    lot = lot_of(entry)
    assert (lot.kind, lot.granted, lot.remaining) == ("paid", 5_500, 5_500)
    # ₹5,000 for 5,500 credits: the fraction is kept, never a rounded rupee per credit.
    assert (lot.value_paise, lot.value_credits) == (5_000_00, 5_500)
    assert lot.value_of(100) == (100 * 5_000_00, 5_500)
    assert abs(lot.expires_at - (timezone.now() + timedelta(days=365))) < timedelta(minutes=1)


def test_bonus_and_promo_bonus_make_bonus_lots_with_the_bonus_validity(clinic, settings):
    settings.BONUS_CREDIT_VALIDITY_DAYS = 90
    lot = lot_of(bonus(clinic, 300))
    promo = lot_of(
        services.grant_credits(
            clinic=clinic, credits=50, kind=Kind.PROMO_BONUS, idempotency_key="promo:1"
        )
    )
    for each in (lot, promo):
        assert each.kind == "bonus" and each.value_paise == 0
        assert abs(each.expires_at - (timezone.now() + timedelta(days=90))) < timedelta(minutes=1)
    assert lot_split(clinic=clinic).bonus == 350


def test_a_staff_grant_chooses_its_expiry(clinic):
    when = timezone.now() + timedelta(days=10)
    assert lot_of(bonus(clinic, 100, expires_at=when)).expires_at == when
    assert lot_of(bonus(clinic, 100, validity_days=3)).expires_at < when


@pytest.mark.parametrize("days", [0, -1, -365, True, 1.5])
def test_a_validity_that_is_not_a_positive_number_of_days_is_refused(clinic, days):
    with pytest.raises(AntidoteError, match="valid for at least one day"):
        bonus(clinic, 100, validity_days=days)
    assert not CreditLot.objects.exists() and not CreditTransaction.objects.exists()


def test_an_expiry_in_the_past_is_refused(clinic):
    with pytest.raises(AntidoteError, match="must expire in the future"):
        bonus(clinic, 100, expires_at=timezone.now() - timedelta(days=1))


def test_a_positive_adjustment_makes_a_bonus_lot_and_a_negative_one_draws_in_order(clinic):
    staff = StaffFactory()
    up = services.adjust_credits(clinic=clinic, credits=200, actor=staff, reason="goodwill")
    assert lot_of(up).kind == "bonus"
    paid = lot_of(fund(clinic, 1_000))
    down = services.adjust_credits(clinic=clinic, credits=-250, actor=staff, reason="typo")
    # The bonus lot expires first (90 days against 365): it goes first.
    assert draws(down) == [(lot_of(up).pk, 200), (paid.pk, 50)]
    assert_consistent()


# Consumption order ----------------------------------------------------------------------------


def test_a_charge_draws_the_soonest_expiring_lot_first(clinic):
    late = lot_of(bonus(clinic, 100, validity_days=50))
    soon = lot_of(bonus(clinic, 100, validity_days=5))
    entry = services.charge_lead(lead=LeadFactory(clinic=clinic))  # 100 credits
    assert draws(entry) == [(soon.pk, 100)]
    late.refresh_from_db()
    assert late.remaining == 100


def test_at_equal_expiry_bonus_goes_before_paid_and_then_the_oldest(clinic):
    when = timezone.now() + timedelta(days=30)
    paid = lot_of(
        services.grant_credits(clinic=clinic, credits=60, idempotency_key="p", expires_at=when)
    )
    first_bonus = lot_of(bonus(clinic, 30, expires_at=when))
    second_bonus = lot_of(bonus(clinic, 30, expires_at=when))
    entry = services.charge_lead(lead=LeadFactory(clinic=clinic))
    assert draws(entry) == [(first_bonus.pk, 30), (second_bonus.pk, 30), (paid.pk, 40)]
    assert_consistent()


def test_an_overdraft_is_unallocated_and_the_next_credit_covers_it_first(clinic):
    clinic.credit_account.overdraft_limit = 500
    clinic.credit_account.save(update_fields=["overdraft_limit"])
    lot = lot_of(bonus(clinic, 30))
    charge = services.charge_lead(lead=LeadFactory(clinic=clinic))
    assert draws(charge) == [(lot.pk, 30), (None, 70)]
    assert account_balance(clinic=clinic) == -70
    top_up = fund(clinic, 1_000)
    new = lot_of(top_up)
    assert (new.granted, new.remaining) == (1_000, 930)
    assert draws(top_up) == [(new.pk, 70)]  # the credit's own lot paid for the overdraft
    assert_consistent()


# Expiry at spend time -------------------------------------------------------------------------


def test_a_charge_never_draws_an_expired_lot_even_before_the_expiry_job(clinic):
    expired = lot_of(bonus(clinic, 500))
    live = lot_of(fund(clinic, 500))
    expire_now(expired)
    entry = services.charge_lead(lead=LeadFactory(clinic=clinic))
    assert draws(entry) == [(live.pk, 100)]
    # The charge posted the due expiry first, so the balance no longer counts it.
    expiry = CreditTransaction.objects.get(kind=Kind.EXPIRY)
    assert (expiry.credits, expiry.idempotency_key) == (-500, f"expiry:lot:{expired.pk}")
    assert account_balance(clinic=clinic) == 400
    assert_consistent()


def test_a_clinic_whose_only_credits_expired_has_its_next_lead_held(clinic):
    expire_now(lot_of(fund(clinic, 1_000)))
    with pytest.raises(InsufficientCredits, match="has 0 credits"):
        services.charge_lead(lead=LeadFactory(clinic=clinic))
    lead = leads.submit_enquiry(clinic=clinic, name="Asha Patel", phone="9820012345")
    assert lead.billing_state == Lead.Billing.HELD
    assert account_balance(clinic=clinic) == 0
    assert_consistent()


# Expiry posting -------------------------------------------------------------------------------


def test_expire_credits_posts_one_entry_per_due_lot_and_is_safe_to_run_twice(clinic):
    other = ClinicFactory()
    due = [lot_of(fund(clinic, 300)), lot_of(bonus(clinic, 200)), lot_of(bonus(other, 50))]
    kept = lot_of(fund(clinic, 1_000))
    with pytest.raises(InsufficientCredits):
        services.charge_lead(lead=LeadFactory(clinic=other))  # over its 50: refused
    for lot in due:
        expire_now(lot)

    code, output = run_command("expire_credits", "--dry-run")
    assert code == 0 and "Would expire 3 lot(s): 550 credits in 2 account(s)" in output
    assert not CreditTransaction.objects.filter(kind=Kind.EXPIRY).exists()

    code, output = run_command("expire_credits")
    assert code == 0 and "Expired 3 lot(s): 550 credits in 2 account(s)" in output
    code, output = run_command("expire_credits")
    assert code == 0 and "Expired 0 lot(s)" in output

    expiries = CreditTransaction.objects.filter(kind=Kind.EXPIRY)
    assert sorted(expiries.values_list("idempotency_key", flat=True)) == sorted(
        f"expiry:lot:{lot.pk}" for lot in due
    )
    assert account_balance(clinic=clinic) == 1_000 and account_balance(clinic=other) == 0
    kept.refresh_from_db()
    assert kept.remaining == 1_000
    assert_consistent()


def test_expiry_cannot_be_posted_through_post_entry(clinic):
    fund(clinic, 100)
    with pytest.raises(AntidoteError, match="posted by expire_credits"):
        services.post_entry(
            clinic_id=clinic.pk, kind=Kind.EXPIRY, credits=-100, idempotency_key="x"
        )


# Refunds and reversals ------------------------------------------------------------------------


def test_a_refund_returns_to_the_lots_it_came_from_most_recently_drawn_first(clinic):
    soon = lot_of(bonus(clinic, 40, validity_days=5))
    paid = lot_of(fund(clinic, 1_000))
    lead = LeadFactory(clinic=clinic)
    services.charge_lead(lead=lead)  # 40 from the bonus lot, then 60 from the paid one
    part = services.refund_lead_charge(lead=lead, credits=70, idempotency_key="r:1")
    assert draws(part) == [(paid.pk, -60), (soon.pk, -10)]
    rest = services.refund_lead_charge(lead=lead, idempotency_key="r:2")
    assert draws(rest) == [(soon.pk, -30)]
    soon.refresh_from_db()
    paid.refresh_from_db()
    assert (soon.remaining, paid.remaining) == (40, 1_000)
    assert_consistent()


def test_a_refund_to_an_expired_lot_comes_back_as_a_new_lot_with_the_grace_period(clinic, settings):
    settings.REFUND_GRACE_DAYS = 30
    paid = lot_of(
        services.grant_credits(
            clinic=clinic, credits=1_100, idempotency_key="p", paid_paise=1_000_00
        )
    )
    lead = LeadFactory(clinic=clinic)
    services.charge_lead(lead=lead)
    expire_now(paid)
    services.expire_credits()
    refund = services.refund_lead_charge(lead=lead, idempotency_key="r")
    new = lot_of(refund)
    assert (new.kind, new.granted, new.restored_from_id) == ("paid", 100, paid.pk)
    assert (new.value_paise, new.value_credits) == (1_000_00, 1_100)  # the same value
    assert abs(new.expires_at - (timezone.now() + timedelta(days=30))) < timedelta(minutes=1)
    assert account_balance(clinic=clinic) == 100
    assert_consistent()


def test_a_reversal_draws_from_its_own_orders_lot_first(clinic):
    clinic_lot = lot_of(bonus(clinic, 500, validity_days=5))
    order_lot = lot_of(fund(clinic, 1_000, key="purchase:order:77"))
    reversal = services.reverse_credits(
        clinic=clinic, credits=600, idempotency_key="rev:1", source_key="purchase:order:77"
    )
    assert draws(reversal) == [(order_lot.pk, 600)]
    clinic_lot.refresh_from_db()
    assert clinic_lot.remaining == 500
    assert_consistent()


def test_a_reversal_beyond_the_lots_is_debt_and_unallocated(clinic):
    lot = lot_of(fund(clinic, 100, key="purchase:order:5"))
    services.charge_lead(lead=LeadFactory(clinic=clinic))
    reversal = services.reverse_credits(
        clinic=clinic, credits=100, idempotency_key="rev", source_key="purchase:order:5"
    )
    assert draws(reversal) == [(None, 100)]
    lot.refresh_from_db()
    assert lot.remaining == 0
    assert account_balance(clinic=clinic) == -100
    assert_consistent()


# Extending a lot ------------------------------------------------------------------------------


def test_staff_extend_a_lots_expiry_with_a_reason_on_record(clinic):
    staff = StaffFactory()
    lot = lot_of(bonus(clinic, 100, validity_days=5))
    later = lot.expires_at + timedelta(days=30)
    services.extend_lot_expiry(lot=lot, expires_at=later, actor=staff, reason="Clinic was shut")
    assert lot.expires_at == later
    change = LotExpiryChange.objects.get()
    assert (change.actor, change.reason, change.new_expires_at) == (staff, "Clinic was shut", later)


def test_extending_an_expired_lot_is_refused(clinic):
    lot = lot_of(bonus(clinic, 100))
    expire_now(lot)
    with pytest.raises(AntidoteError, match="has expired or is used up"):
        services.extend_lot_expiry(
            lot=lot,
            expires_at=timezone.now() + timedelta(days=9),
            actor=StaffFactory(),
            reason="x",
        )
    assert not LotExpiryChange.objects.exists()


@pytest.mark.parametrize(
    ("days", "reason", "staff", "message"),
    [
        (-1, "x", True, "an extension must be later"),
        (0, "x", True, "an extension must be later"),
        (5, " ", True, "Give a reason"),
        (5, "x", False, "Only a staff member"),
    ],
)
def test_an_extension_that_is_not_later_or_has_no_reason_or_no_staff_is_refused(
    clinic, days, reason, staff, message
):
    lot = lot_of(bonus(clinic, 100))
    actor = StaffFactory() if staff else None
    with pytest.raises(AntidoteError, match=message):
        services.extend_lot_expiry(
            lot=lot, expires_at=lot.expires_at + timedelta(days=days), actor=actor, reason=reason
        )


# Warnings -------------------------------------------------------------------------------------


def test_each_expiring_lot_is_warned_once_even_when_the_job_runs_twice(clinic, settings):
    settings.EXPIRY_WARNING_DAYS = 7
    bonus(clinic, 120, validity_days=3)
    bonus(clinic, 80, validity_days=6)
    bonus(clinic, 500, validity_days=60)  # not yet
    code, output = run_command("warn_expiring_credits", "--dry-run")
    assert code == 0 and output.count("would warn") == 2 and not Event.objects.exists()
    assert run_command("warn_expiring_credits")[0] == 0
    assert run_command("warn_expiring_credits")[0] == 0
    events = Event.objects.filter(type=EventType.CREDITS_EXPIRING, clinic=clinic)
    assert sorted(event.data["credits"] for event in events) == [80, 120]
    subjects = sorted(
        OutboxMessage.objects.filter(event__in=events, channel="email").values_list(
            "subject", flat=True
        )
    )
    assert len(subjects) == 2
    assert "120 credits expire on" in subjects[0] and "80 credits expire on" in subjects[1]


def test_a_warning_that_cannot_be_queued_stays_unclaimed_for_the_next_run(clinic, monkeypatch):
    lot = lot_of(bonus(clinic, 120, validity_days=3))
    real_emit = warn_expiring_credits.notifications.emit

    def failing_emit(**kwargs):
        real_emit(**kwargs)
        raise RuntimeError("outbox down")

    monkeypatch.setattr(warn_expiring_credits.notifications, "emit", failing_emit)
    code, output = run_command("warn_expiring_credits")
    assert code == 1 and "could not be sent" in output
    lot.refresh_from_db()
    assert lot.expiry_warned_at is None and not Event.objects.exists()
    monkeypatch.setattr(warn_expiring_credits.notifications, "emit", real_emit)
    assert run_command("warn_expiring_credits")[0] == 0
    assert Event.objects.filter(type=EventType.CREDITS_EXPIRING).count() == 1


def test_the_next_expiry_counts_the_credits_due_that_day(clinic):
    assert next_expiry(clinic=clinic) is None
    bonus(clinic, 120, validity_days=3)
    bonus(clinic, 30, validity_days=3)
    fund(clinic, 500)
    upcoming = next_expiry(clinic=clinic)
    assert upcoming.credits == 150


# Finance --------------------------------------------------------------------------------------


def test_the_finance_report_values_paid_credits_and_keeps_the_identity(clinic):
    month = timezone.localdate().replace(day=1)
    paid = lot_of(
        services.grant_credits(
            clinic=clinic, credits=5_500, idempotency_key="p", paid_paise=5_000_00
        )
    )
    bonus(clinic, 100)
    for _ in range(3):
        services.charge_lead(lead=LeadFactory(clinic=clinic))  # 100 bonus, then 200 paid
    lead = LeadFactory(clinic=clinic)
    services.charge_lead(lead=lead)  # 100 paid
    services.refund_lead_charge(lead=lead, idempotency_key="r")
    CreditLot.objects.filter(pk=paid.pk).update(expires_at=timezone.now())
    services.expire_credits()

    report = finance_report(month=month)
    per_credit = Fraction(5_000_00, 5_500)
    assert report.paise["opening"] == 0
    assert report.paise["sold"] == 5_500 * per_credit
    assert report.paise["recognised"] == 300 * per_credit
    assert report.paise["restored"] == 100 * per_credit
    assert report.paise["breakage"] == 5_300 * per_credit
    assert report.paise["closing"] == 0
    assert report.identity_gap() == 0
    # Rounded once per line: 300 × 5000/5500 rupees = 272.7272… → 272.73.
    rows = dict(report_rows(report))
    assert rows["Revenue recognised"] == "272.73"
    assert rows["Paid credits sold"] == "5000.00"
    assert (rows["Bonus credits issued"], rows["Bonus credits consumed"]) == ("100", "100")
    assert_consistent()


def test_finance_report_command_prints_and_writes_csv(clinic, tmp_path):
    services.grant_credits(clinic=clinic, credits=1_000, idempotency_key="p", paid_paise=900_00)
    month = timezone.localdate().strftime("%Y-%m")
    code, output = run_command("finance_report", "--month", month)
    assert code == 0 and "Paid credits sold" in output and "900.00" in output
    target = tmp_path / "finance.csv"
    code, output = run_command("finance_report", "--month", month, "--out", str(target))
    assert code == 0, output
    rows = list(csv.reader(io.StringIO(target.read_text())))
    assert rows[0] == ["line", "value"]
    assert ["Closing deferred revenue", "900.00"] in rows


@pytest.mark.parametrize(
    ("month", "message"),
    [
        ("2026-13", "is not a month"),
        ("2026-4", "is not a month"),
        ("April", "is not a month"),
        ("", "is not a month"),
        ("1999-12", "before the ledger began"),
        ("٢٠٢٦-٠٤", "is not a month"),
    ],
)
def test_a_bad_month_is_refused_clearly(month, message):
    code, output = run_command("finance_report", "--month", month)
    assert code != 0 and message in output


# Reconciliation -------------------------------------------------------------------------------


def test_reconcile_finds_a_lot_that_does_not_match_the_balance_or_its_allocations(clinic):
    lot = lot_of(fund(clinic, 500))
    CreditLot.objects.filter(pk=lot.pk).update(remaining=400)  # a bypass of the service
    problems = [p.problem for p in ledger_discrepancies()]
    assert any("lots hold 400 credits but the balance is 500" in p for p in problems)
    assert any(f"lot #{lot.pk} holds 400" in p for p in identity_problems())
    code, output = run_command("reconcile_ledger")
    assert code == 1 and "lots hold 400" in output


def test_reconcile_finds_an_allocation_after_its_lots_expiry_and_an_unallocated_charge(clinic):
    lot = lot_of(fund(clinic, 500))
    entry = services.charge_lead(lead=LeadFactory(clinic=clinic))
    CreditLot.objects.filter(pk=lot.pk).update(expires_at=entry.created_at)
    LotAllocation.objects.filter(entry_id=entry.pk).delete()
    problems = [p.problem for p in ledger_discrepancies()]
    assert any(
        f"entry #{entry.pk} takes 100 credits but its lot allocations" in p for p in problems
    )
    LotAllocation.objects.create(entry_id=entry.pk, lot=lot, credits=100)
    problems = [p.problem for p in ledger_discrepancies()]
    assert any(f"touched lot #{lot.pk} after it expired" in p for p in problems)


def test_reconcile_finds_a_draw_dated_before_its_lot_was_created(clinic):
    lot = lot_of(fund(clinic, 500))
    entry = services.charge_lead(lead=LeadFactory(clinic=clinic))
    assert identity_problems() == []
    # A bypass of the service moves the lot into next month: the report could not place the
    # charge's draw in its month, so that month's identity could not hold.
    CreditLot.objects.filter(pk=lot.pk).update(created_at=entry.created_at + timedelta(days=40))
    problems = identity_problems()
    assert any(
        f"entry #{entry.pk} drew from lot #{lot.pk} in a month before the lot was created" in p
        for p in problems
    )
    code, output = run_command("reconcile_ledger")
    assert code == 1 and "in a month before the lot was created" in output


def test_where_reconcile_finds_nothing_every_month_s_identity_holds(clinic):
    """The set-based checks stand for building every month's report: on books they pass,
    each month's report closes with no gap."""
    fund(clinic, 500)
    bonus(clinic, 50)
    for _ in range(3):
        services.charge_lead(lead=LeadFactory(clinic=clinic))
    assert identity_problems() == []
    month = timezone.localdate().replace(day=1)
    for figures in finance_months(month=month).values():
        assert figures.identity_gap() == 0


def test_a_validity_past_ten_years_is_refused_as_a_typo(clinic):
    staff = StaffFactory()
    too_late = timezone.now() + timedelta(days=3651)
    for kwargs in ({"validity_days": 3651}, {"expires_at": too_late}):
        with pytest.raises(AntidoteError, match="at most 3,650 days"):
            bonus(clinic, 100, **kwargs)
    assert not CreditLot.objects.exists() and not CreditTransaction.objects.exists()
    lot = lot_of(bonus(clinic, 100, validity_days=3650))  # the limit itself is allowed
    with pytest.raises(AntidoteError, match="at most 3,650 days"):
        services.extend_lot_expiry(lot=lot, expires_at=too_late, actor=staff, reason="typo")
    lot.refresh_from_db()
    assert lot.expires_at < too_late and not lot.expiry_changes.exists()
