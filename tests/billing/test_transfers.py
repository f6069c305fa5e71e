"""Moving credits between the locations of an organisation: lots, refusals and the books."""

from datetime import timedelta
from fractions import Fraction

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone

from antidote.errors import AntidoteError, InsufficientCredits
from billing import services
from billing.finance import finance_months, finance_report, identity_problems
from billing.models import CreditAccount, CreditLot, CreditTransaction, Kind
from billing.selectors import account_balance, ledger_discrepancies
from billing.signals import balance_lowered
from leads import services as leads
from leads.models import Lead, Organisation, OrganisationMember
from tests.factories import ClinicFactory, LeadFactory, StaffFactory, UserFactory, fund

pytestmark = pytest.mark.django_db


@pytest.fixture
def chain():
    organisation = Organisation.objects.create(name="Glow chain")
    one = ClinicFactory(name="Glow Bandra", organisation=organisation)
    two = ClinicFactory(name="Glow Pune", organisation=organisation)
    owner = UserFactory()
    OrganisationMember.objects.create(user=owner, organisation=organisation)
    return organisation, one, two, owner


def move(source, target, credits, actor, key="t1", **kwargs):
    return services.transfer_credits(
        source=source, target=target, credits=credits, idempotency_key=key, actor=actor, **kwargs
    )


def test_a_transfer_moves_lots_with_their_kind_value_and_expiry(chain):
    _, one, two, owner = chain
    paid = services.grant_credits(
        clinic=one, credits=300, paid_paise=250_00, idempotency_key="buy", memo="Top-up"
    )
    bonus = services.grant_credits(
        clinic=one, credits=50, kind=Kind.BONUS, idempotency_key="gift", validity_days=10
    )

    out, received = move(one, two, 120, owner)

    assert (out.kind, out.credits, out.balance_after) == (Kind.TRANSFER_OUT, -120, 230)
    assert (received.kind, received.credits, received.balance_after) == (Kind.TRANSFER_IN, 120, 120)
    assert out.memo == "Transfer to Glow Pune" and received.memo == "Transfer from Glow Bandra"
    assert (account_balance(clinic=one), account_balance(clinic=two)) == (230, 120)
    # Bonus (expiring sooner) goes first, then the paid lot; each piece keeps its terms.
    bonus_lot, paid_lot = CreditLot.objects.get(source=bonus), CreditLot.objects.get(source=paid)
    moved = list(CreditLot.objects.filter(account__clinic=two).order_by("id"))
    assert [(lot.kind, lot.granted, lot.expires_at) for lot in moved] == [
        ("bonus", 50, bonus_lot.expires_at),
        ("paid", 70, paid_lot.expires_at),
    ]
    assert Fraction(moved[1].value_paise, moved[1].value_credits) == Fraction(250_00, 300)
    assert (bonus_lot.remaining, paid_lot.remaining) == (0, 230)
    assert list(ledger_discrepancies()) == []
    assert identity_problems() == []


def test_a_repeat_returns_the_same_pair_and_another_transfer_under_the_key_is_refused(chain):
    _, one, two, owner = chain
    fund(one, 500)
    first = move(one, two, 100, owner)
    assert move(one, two, 100, owner) == first
    assert CreditTransaction.objects.filter(kind=Kind.TRANSFER_IN).count() == 1
    with pytest.raises(AntidoteError, match="already used for a different entry"):
        move(one, two, 99, owner)
    third = ClinicFactory(organisation=one.organisation)
    with pytest.raises(AntidoteError, match="already used for a different entry"):
        move(one, third, 100, owner)
    assert (
        account_balance(clinic=one),
        account_balance(clinic=two),
        account_balance(clinic=third),
    ) == (400, 100, 0)


def test_only_credits_held_move_not_an_overdraft(chain):
    _, one, two, owner = chain
    fund(one, 100)
    CreditAccount.objects.filter(clinic=one).update(overdraft_limit=500)
    with pytest.raises(InsufficientCredits, match="has 100 credits to move; a transfer of 101"):
        move(one, two, 101, owner)
    assert not CreditTransaction.objects.filter(kind__startswith="transfer").exists()
    move(one, two, 100, owner)
    assert (account_balance(clinic=one), account_balance(clinic=two)) == (0, 100)


def test_expired_credits_do_not_move(chain):
    _, one, two, owner = chain
    entry = fund(one, 100)
    CreditLot.objects.filter(source=entry).update(expires_at=timezone.now())
    with pytest.raises(InsufficientCredits, match="has 0 credits to move"):
        move(one, two, 1, owner)
    assert account_balance(clinic=two) == 0
    assert list(ledger_discrepancies()) == []


@pytest.mark.parametrize(
    "credits, message",
    [
        (0, "zero credits"),
        (-5, "positive number"),
        (1.5, "whole number"),
        (True, "whole number"),
        ("10", "whole number"),
        (10**9, "more than one entry may move"),
    ],
)
def test_bad_amounts_are_refused(chain, credits, message):
    _, one, two, owner = chain
    fund(one, 100)
    with pytest.raises(AntidoteError, match=message):
        move(one, two, credits, owner)
    assert account_balance(clinic=one) == 100


def test_refusals_outside_the_organisation_and_for_strangers(chain):
    _, one, two, owner = chain
    fund(one, 100)
    outsider = ClinicFactory(name="Other clinic")
    with pytest.raises(AntidoteError, match="Other clinic is not a location of Glow chain"):
        move(one, outsider, 10, owner)
    with pytest.raises(AntidoteError, match="belongs to no organisation"):
        move(outsider, one, 10, owner)
    with pytest.raises(AntidoteError, match="two different locations"):
        move(one, one, 10, owner)
    other_chain = Organisation.objects.create(name="Other chain")
    elsewhere = ClinicFactory(organisation=other_chain)
    with pytest.raises(AntidoteError, match="not a location of Glow chain"):
        move(one, elsewhere, 10, owner)
    # A member of another chain, a clinic's own owner, plain staff: none may move them.
    stranger = UserFactory()
    OrganisationMember.objects.create(user=stranger, organisation=other_chain)
    staff = StaffFactory()
    for actor in (stranger, staff, None):
        with pytest.raises(AntidoteError, match="Only an owner of Glow chain or staff"):
            move(one, two, 10, actor)
    staff.user_permissions.add(Permission.objects.get(codename="adjust_credits"))
    staff = type(staff).objects.get(pk=staff.pk)  # the permission cache
    move(one, two, 10, staff)
    with pytest.raises(AntidoteError, match="at most 100 characters"):
        move(one, two, 10, owner, key="k" * 101)
    assert (account_balance(clinic=one), account_balance(clinic=two)) == (90, 10)


def test_an_inactive_location_gets_nothing_and_the_source_keeps_its_credits(chain):
    _, one, two, owner = chain
    fund(one, 100)
    two.is_active = False
    two.save()
    with pytest.raises(AntidoteError, match="Glow Pune is inactive"):
        move(one, two, 10, owner)
    assert account_balance(clinic=one) == 100
    assert not CreditTransaction.objects.filter(kind__startswith="transfer").exists()


def test_credits_moved_in_release_the_target_s_held_leads(
    chain, django_capture_on_commit_callbacks
):
    _, one, two, owner = chain
    fund(one, 500)
    with django_capture_on_commit_callbacks(execute=True):
        lead = leads.submit_enquiry(**_enquiry(two))
    assert Lead.objects.get(pk=lead.pk).billing_state == Lead.Billing.HELD
    with django_capture_on_commit_callbacks(execute=True):
        move(one, two, 300, owner)
    assert Lead.objects.get(pk=lead.pk).billing_state == Lead.Billing.CHARGED
    assert account_balance(clinic=two) == 300 - lead.price_credits


def test_a_transfer_into_an_overdraft_covers_it_first(chain):
    _, one, two, owner = chain
    fund(one, 500)
    CreditAccount.objects.filter(clinic=two).update(overdraft_limit=200)
    services.charge_lead(lead=LeadFactory(clinic=two))
    assert account_balance(clinic=two) == -100
    move(one, two, 150, owner)
    assert account_balance(clinic=two) == 50
    assert (
        sum(CreditLot.objects.filter(account__clinic=two).values_list("remaining", flat=True)) == 50
    )
    assert list(ledger_discrepancies()) == []
    assert identity_problems() == []
    # The move paid for the lead already charged: revenue at the location it arrived at. The
    # report once failed here (no line for a transfer-in's draw).
    month = finance_months(month=timezone.localdate().replace(day=1))
    target = month[two.credit_account.pk]
    assert (target.paise["transferred"], target.paise["recognised"]) == (150_00, 100_00)
    assert target.identity_gap() == 0


def test_every_kind_of_draw_has_its_finance_line():
    from billing.finance import _DRAW_LINE

    assert set(Kind) - set(_DRAW_LINE) == {Kind.TRANSFER_OUT}  # signed, on its own line


def test_both_halves_share_one_time_so_a_move_never_straddles_a_month(chain, monkeypatch):
    _, one, two, owner = chain
    fund(one, 100)
    ticks = iter(range(10))
    real_now = timezone.now
    monkeypatch.setattr(timezone, "now", lambda: real_now() + timedelta(seconds=next(ticks)))
    out, received = move(one, two, 40, owner)
    monkeypatch.undo()
    stored = CreditTransaction.objects.filter(pk__in=[out.pk, received.pk])
    assert len({entry.created_at for entry in stored}) == 1


def test_a_move_out_does_not_set_off_the_source_s_automatic_top_up(
    chain, django_capture_on_commit_callbacks
):
    _, one, two, owner = chain
    fund(one, 500)
    lowered = []

    def record(sender, clinic_id, credits, **kwargs):
        lowered.append((clinic_id, credits))

    balance_lowered.connect(record)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            move(one, two, 300, owner)
            services.charge_lead(lead=LeadFactory(clinic=one))
    finally:
        balance_lowered.disconnect(record)
    assert lowered == [(one.pk, -100)]  # the charge, not the move


def test_a_single_lot_piece_must_match_the_credit():
    clinic = ClinicFactory()
    piece = services.LotTerms(
        kind="bonus", expires_at=timezone.now() + timedelta(days=5), credits=9
    )
    with pytest.raises(AntidoteError, match="must add up to its credits"):
        services.post_entry(
            clinic_id=clinic.pk, kind=Kind.BONUS, credits=10, idempotency_key="x", lot=piece
        )
    assert account_balance(clinic=clinic) == 0


def test_the_finance_report_shows_the_move_and_keeps_the_identity(chain):
    _, one, two, owner = chain
    services.grant_credits(clinic=one, credits=400, paid_paise=300_00, idempotency_key="buy")
    services.grant_credits(clinic=one, credits=40, kind=Kind.BONUS, idempotency_key="gift")
    move(one, two, 240, owner)  # 40 bonus, then 200 paid worth ₹150
    month = timezone.localdate().replace(day=1)
    figures = finance_months(month=month)
    source, target = one.credit_account.pk, two.credit_account.pk
    assert figures[source].paise["transferred"] == -150_00
    assert figures[target].paise["transferred"] == 150_00
    assert figures[target].paise["sold"] == 0
    assert figures[target].bonus["bonus_issued"] == 0
    assert figures[source].bonus["bonus_consumed"] == 0
    for account in (source, target):
        assert figures[account].identity_gap() == 0
    total = finance_report(month=month)
    assert (total.paise["transferred"], total.paise["closing"]) == (0, 300_00)
    assert total.identity_gap() == 0


def _enquiry(clinic):
    return {"clinic": clinic, "name": "Asha", "phone": "+919812345678"}
