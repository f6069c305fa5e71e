"""The posting service: tier prices, each operation, every refusal, idempotent replays."""

import pytest
from django.db import IntegrityError, connection, transaction

from antidote.errors import AntidoteError, InsufficientCredits
from billing import services
from billing.models import (
    CreditAccount,
    CreditLot,
    CreditTransaction,
    Kind,
    LotAllocation,
    PricingTier,
)
from billing.selectors import account_balance, ledger_discrepancies
from tests.conftest import requires_postgres
from tests.factories import ClinicFactory, LeadFactory, PackageFactory, UserFactory, fund

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("price_paise", "credits"),
    [
        (None, 100),
        (0, 100),
        (4_999_99, 100),
        (5_000_00, 180),
        (9_999_99, 180),
        (10_000_00, 250),
        (19_999_99, 250),
        (20_000_00, 320),
        (49_999_99, 320),
        (50_000_00, 400),
        (99_999_99, 400),
        (100_000_00, 500),
        (10_000_000_00, 500),
    ],
)
def test_lead_cost_is_exact_at_every_tier_boundary(price_paise, credits):
    assert services.lead_cost(price_paise) == credits


def test_lead_price_quote_names_the_tier_it_used():
    quote = services.quote_lead_price(package_price_paise=7_500_00)
    assert (quote.tier_min_price_paise, quote.credits) == (5_000_00, 180)


@pytest.mark.parametrize("bad", [-1, 4999.99, "5000", True])
def test_lead_cost_refuses_prices_that_are_not_whole_paise(bad):
    with pytest.raises(AntidoteError, match="whole paise"):
        services.lead_cost(bad)


def test_lead_cost_follows_tiers_edited_by_staff():
    PricingTier.objects.filter(min_price_paise=5_000_00).update(credits=200)
    assert services.lead_cost(5_000_00) == 200


def test_lead_cost_without_any_tier_is_a_clear_error():
    PricingTier.objects.all().delete()
    with pytest.raises(AntidoteError, match="No pricing tier"):
        services.lead_cost(1_00)


def test_every_clinic_gets_an_empty_account_on_creation(clinic):
    account = CreditAccount.objects.get(clinic=clinic)
    assert (account.balance, account.overdraft_limit) == (0, 0)
    assert account_balance(clinic=clinic) == 0


def test_grant_adds_credits_and_records_the_entry(clinic):
    entry = services.grant_credits(
        clinic=clinic, credits=1_000, idempotency_key="purchase:order:1", memo="₹1,000 pack"
    )
    assert account_balance(clinic=clinic) == 1_000
    stored = CreditTransaction.objects.get()
    assert (stored.pk, stored.kind, stored.credits, stored.balance_after) == (
        entry.pk,
        Kind.PURCHASE,
        1_000,
        1_000,
    )
    assert stored.memo == "₹1,000 pack"
    assert entry.created_at == stored.created_at


def test_charge_lead_debits_the_snapshot_price_and_links_the_lead(clinic):
    fund(clinic, 1_000)
    lead = LeadFactory(clinic=clinic, package=PackageFactory(clinic=clinic, price_paise=12_000_00))
    entry = services.charge_lead(lead=lead)
    assert (entry.kind, entry.credits, entry.balance_after, entry.lead_id) == (
        Kind.LEAD_CHARGE,
        -250,
        750,
        lead.pk,
    )
    assert account_balance(clinic=clinic) == 750


def test_charging_the_same_lead_twice_returns_the_first_charge(clinic):
    fund(clinic, 1_000)
    lead = LeadFactory(clinic=clinic)
    first = services.charge_lead(lead=lead)
    second = services.charge_lead(lead=lead)
    assert second.pk == first.pk
    assert account_balance(clinic=clinic) == 900
    assert CreditTransaction.objects.filter(kind=Kind.LEAD_CHARGE).count() == 1


def test_unaffordable_charge_raises_and_writes_nothing(clinic):
    fund(clinic, 99)
    lead = LeadFactory(clinic=clinic)
    with pytest.raises(InsufficientCredits, match="has 99 credits"):
        services.charge_lead(lead=lead)
    assert account_balance(clinic=clinic) == 99
    assert not CreditTransaction.objects.filter(kind=Kind.LEAD_CHARGE).exists()


def test_overdraft_lets_the_balance_go_negative_down_to_the_limit_only(clinic):
    CreditAccount.objects.filter(clinic=clinic).update(overdraft_limit=150)
    services.charge_lead(lead=LeadFactory(clinic=clinic))  # 0 → -100
    assert account_balance(clinic=clinic) == -100
    with pytest.raises(InsufficientCredits, match="floor of -150"):
        services.charge_lead(lead=LeadFactory(clinic=clinic))
    assert account_balance(clinic=clinic) == -100


def test_a_refusal_inside_a_callers_transaction_leaves_it_usable(clinic):
    with transaction.atomic():
        with pytest.raises(InsufficientCredits):
            services.charge_lead(lead=LeadFactory(clinic=clinic))
        fund(clinic, 500)  # the caller carries on in the same transaction
    assert account_balance(clinic=clinic) == 500


def test_same_key_with_a_different_amount_is_refused(clinic):
    fund(clinic, 1_000, key="purchase:order:9")
    with pytest.raises(AntidoteError, match="already used for a different entry"):
        fund(clinic, 2_000, key="purchase:order:9")
    assert account_balance(clinic=clinic) == 1_000


def test_same_key_for_another_clinic_is_refused(clinic):
    fund(clinic, 1_000, key="purchase:order:10")
    other = ClinicFactory()
    with pytest.raises(AntidoteError, match="already used"):
        fund(other, 1_000, key="purchase:order:10")
    assert account_balance(clinic=other) == 0


def test_replayed_grant_returns_original_and_adds_nothing(clinic):
    first = fund(clinic, 1_000, key="purchase:order:11")
    again = fund(clinic, 1_000, key="purchase:order:11")
    assert again.pk == first.pk
    assert account_balance(clinic=clinic) == 1_000


def test_replayed_charge_is_recognised_even_when_the_clinic_could_not_pay_again(clinic):
    fund(clinic, 100)
    lead = LeadFactory(clinic=clinic)
    first = services.charge_lead(lead=lead)
    assert services.charge_lead(lead=lead).pk == first.pk
    assert account_balance(clinic=clinic) == 0


@pytest.mark.parametrize(
    ("credits", "message"),
    [
        (0, "zero credits"),
        (-5, "adds credits"),
        (2.5, "whole number"),
        ("100", "whole number"),
        (True, "whole number"),
        (None, "whole number"),
        (10_000_001, "more than one entry may move"),
    ],
)
def test_grant_refuses_bad_amounts_and_writes_nothing(clinic, credits, message):
    with pytest.raises(AntidoteError, match=message):
        services.grant_credits(clinic=clinic, credits=credits, idempotency_key="k")
    assert account_balance(clinic=clinic) == 0
    assert not CreditTransaction.objects.exists()


def test_grant_refuses_a_kind_that_is_not_a_grant(clinic):
    with pytest.raises(AntidoteError, match="not a kind of grant"):
        services.grant_credits(clinic=clinic, credits=10, idempotency_key="k", kind="lead_charge")


def test_post_entry_refuses_an_unknown_kind(clinic):
    with pytest.raises(AntidoteError, match="Unknown ledger entry kind"):
        services.post_entry(clinic_id=clinic.pk, kind="gift", credits=5, idempotency_key="k")


def test_post_entry_refuses_a_sign_that_contradicts_the_kind(clinic):
    with pytest.raises(AntidoteError, match="cannot be"):
        services.post_entry(clinic_id=clinic.pk, kind="purchase", credits=-5, idempotency_key="k")
    with pytest.raises(AntidoteError, match="cannot be"):
        services.post_entry(clinic_id=clinic.pk, kind="lead_charge", credits=5, idempotency_key="k")


@pytest.mark.parametrize("key", ["", "x" * 121])
def test_post_entry_refuses_a_missing_or_oversized_key(clinic, key):
    with pytest.raises(AntidoteError, match="idempotency key"):
        services.post_entry(clinic_id=clinic.pk, kind="bonus", credits=5, idempotency_key=key)


def test_post_entry_refuses_a_clinic_without_an_account(db):
    with pytest.raises(AntidoteError, match="has no credit account"):
        services.post_entry(clinic_id=999_999, kind="bonus", credits=5, idempotency_key="k")


def test_inactive_clinic_gets_nothing_posted(clinic):
    fund(clinic, 500)
    clinic.is_active = False
    clinic.save()
    with pytest.raises(AntidoteError, match="inactive"):
        fund(clinic, 500)
    with pytest.raises(AntidoteError, match="inactive"):
        services.charge_lead(lead=LeadFactory(clinic=clinic))
    assert account_balance(clinic=clinic) == 500
    assert CreditTransaction.objects.count() == 1


def test_refund_gives_back_the_full_charge_by_default(clinic):
    fund(clinic, 1_000)
    lead = LeadFactory(clinic=clinic)
    services.charge_lead(lead=lead)
    entry = services.refund_lead_charge(lead=lead, idempotency_key="refund:dispute:1")
    assert (entry.kind, entry.credits, entry.lead_id) == (Kind.DISPUTE_REFUND, 100, lead.pk)
    assert account_balance(clinic=clinic) == 1_000


def test_refund_replay_refunds_once(clinic):
    fund(clinic, 1_000)
    lead = LeadFactory(clinic=clinic)
    services.charge_lead(lead=lead)
    first = services.refund_lead_charge(lead=lead, idempotency_key="refund:dispute:2")
    again = services.refund_lead_charge(lead=lead, idempotency_key="refund:dispute:2")
    assert again.pk == first.pk
    assert account_balance(clinic=clinic) == 1_000


def test_partial_refunds_never_exceed_the_charge(clinic):
    fund(clinic, 1_000)
    lead = LeadFactory(clinic=clinic)
    services.charge_lead(lead=lead)
    services.refund_lead_charge(lead=lead, credits=60, idempotency_key="refund:dispute:3")
    with pytest.raises(AntidoteError, match="at most 40 can be refunded"):
        services.refund_lead_charge(lead=lead, credits=41, idempotency_key="refund:dispute:4")
    services.refund_lead_charge(lead=lead, idempotency_key="refund:dispute:5")
    assert account_balance(clinic=clinic) == 1_000
    with pytest.raises(AntidoteError, match="at most 0"):
        services.refund_lead_charge(lead=lead, idempotency_key="refund:dispute:6")


def test_refund_of_a_lead_never_charged_is_refused(clinic):
    lead = LeadFactory(clinic=clinic)
    with pytest.raises(AntidoteError, match="never charged"):
        services.refund_lead_charge(lead=lead, idempotency_key="refund:dispute:7")
    assert not CreditTransaction.objects.exists()


@pytest.mark.parametrize("credits", [0, -10, 1.5])
def test_refund_refuses_bad_amounts(clinic, credits):
    fund(clinic, 1_000)
    lead = LeadFactory(clinic=clinic)
    services.charge_lead(lead=lead)
    with pytest.raises(AntidoteError):
        services.refund_lead_charge(lead=lead, credits=credits, idempotency_key="refund:x")
    assert account_balance(clinic=clinic) == 900


def test_adjustment_moves_credits_both_ways_with_reason_and_actor(clinic, staff):
    services.adjust_credits(clinic=clinic, credits=300, actor=staff, reason="Goodwill")
    entry = services.adjust_credits(clinic=clinic, credits=-120, actor=staff, reason="Typo fix")
    assert (entry.kind, entry.credits, entry.balance_after, entry.actor_id, entry.memo) == (
        Kind.ADMIN_ADJUSTMENT,
        -120,
        180,
        staff.pk,
        "Typo fix",
    )


def test_negative_adjustment_respects_the_floor(clinic, staff):
    with pytest.raises(InsufficientCredits):
        services.adjust_credits(clinic=clinic, credits=-1, actor=staff, reason="oops")
    assert not CreditTransaction.objects.exists()


def test_adjustment_needs_a_reason_and_a_staff_actor(clinic, staff):
    with pytest.raises(AntidoteError, match="reason"):
        services.adjust_credits(clinic=clinic, credits=10, actor=staff, reason="   ")
    with pytest.raises(AntidoteError, match="staff"):
        services.adjust_credits(clinic=clinic, credits=10, actor=UserFactory(), reason="why")
    with pytest.raises(AntidoteError, match="staff"):
        services.adjust_credits(clinic=clinic, credits=10, actor=None, reason="why")
    assert not CreditTransaction.objects.exists()


def test_credits_added_fires_after_commit_only(clinic, django_capture_on_commit_callbacks):
    from billing.signals import credits_added

    seen = []

    def listener(sender, clinic_id, entry, **kwargs):
        seen.append((clinic_id, entry.credits))

    credits_added.connect(listener)
    try:
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            fund(clinic, 700)
        assert seen == []
        for callback in callbacks:
            callback()
        assert seen == [(clinic.pk, 700)]
    finally:
        credits_added.disconnect(listener)


def test_a_charge_from_one_lot_is_one_statement_on_postgresql_and_six_on_sqlite(
    clinic, django_assert_num_queries
):
    fund(clinic, 1_000)
    lead = LeadFactory(clinic=clinic)
    # PostgreSQL: one call of billing_charge (lock, lot scan, insert, draw, allocation and
    # balance inside it), as before lots: the gate is today's round trips + 1. SQLite: select
    # the account, read the lots, insert, draw, record the allocation, update. Never a SUM.
    with django_assert_num_queries(1 if connection.vendor == "postgresql" else 6):
        services.charge_lead(lead=lead)
    assert account_balance(clinic=clinic) == 900
    assert list(LotAllocation.objects.values_list("credits", flat=True)) == [100]


def test_a_charge_over_two_lots_is_still_one_statement_on_postgresql(
    clinic, django_assert_num_queries
):
    fund(clinic, 60)
    fund(clinic, 560)
    # 620 -> 520 stays above the low-balance level (500), so no alert query is counted here.
    lead = LeadFactory(clinic=clinic)
    with django_assert_num_queries(1 if connection.vendor == "postgresql" else 7):
        services.charge_lead(lead=lead)
    assert account_balance(clinic=clinic) == 520
    assert sorted(LotAllocation.objects.values_list("credits", flat=True)) == [40, 60]


@requires_postgres
def test_a_charge_updates_its_lot_in_place_without_touching_the_lot_indexes(clinic):
    # Every charge rewrites one lot's ``remaining``. If an index depended on it (as the
    # ``remaining > 0`` predicates once did), each charge would write a new entry into every
    # lot index and leave a dead one: a lot drawn a few hundred times made the charge crawl.
    fund(clinic, 1_000)
    leads = LeadFactory.create_batch(3, clinic=clinic)

    def updates():  # (updated, heap-only updated) of lot rows in this transaction so far
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_stat_get_xact_tuples_updated(%s::regclass), "
                "pg_stat_get_xact_tuples_hot_updated(%s::regclass)",
                [CreditLot._meta.db_table] * 2,
            )
            return cursor.fetchone()

    before = updates()
    for lead in leads:
        services.charge_lead(lead=lead)
    after = updates()
    # All three were heap-only updates: no index entry written.
    assert (after[0] - before[0], after[1] - before[1]) == (3, 3)
    assert CreditLot.objects.get(account__clinic=clinic).remaining == 700


def test_ledger_model_refuses_update_and_delete(clinic):
    entry = fund(clinic, 100)
    stored = CreditTransaction.objects.get(pk=entry.pk)
    stored.credits = 1_000_000
    with pytest.raises(AntidoteError, match="append-only"):
        stored.save()
    with pytest.raises(AntidoteError, match="append-only"):
        stored.delete()
    with pytest.raises(AntidoteError, match="append-only"):
        CreditTransaction.objects.filter(pk=entry.pk).update(credits=5)
    with pytest.raises(AntidoteError, match="append-only"):
        CreditTransaction.objects.all().delete()
    assert CreditTransaction.objects.get(pk=entry.pk).credits == 100


def _raw_entry(clinic, **overrides):
    values = {
        "account": clinic.credit_account,
        "kind": Kind.BONUS,
        "credits": 10,
        "balance_after": 10,
        "idempotency_key": "raw",
    }
    values.update(overrides)
    return CreditTransaction(**values)


@pytest.mark.parametrize(
    "overrides",
    [
        {"credits": 0},
        {"kind": Kind.PURCHASE, "credits": -10},
        {"kind": Kind.DISPUTE_REFUND, "credits": -10},
        {"kind": Kind.LEAD_CHARGE, "credits": 10},
        {"kind": "gift"},
    ],
)
def test_database_refuses_bad_rows_that_bypass_the_service(clinic, overrides):
    with pytest.raises(IntegrityError), transaction.atomic():
        CreditTransaction.objects.bulk_create([_raw_entry(clinic, **overrides)])


def test_database_refuses_a_second_charge_of_one_lead_under_another_key(clinic):
    fund(clinic, 1_000)
    lead = LeadFactory(clinic=clinic)
    services.charge_lead(lead=lead)
    with pytest.raises(IntegrityError), transaction.atomic():
        CreditTransaction.objects.bulk_create(
            [_raw_entry(clinic, kind=Kind.LEAD_CHARGE, credits=-100, lead=lead)]
        )
    with pytest.raises(AntidoteError, match="already been charged"):
        services.post_entry(
            clinic_id=clinic.pk,
            kind=Kind.LEAD_CHARGE,
            credits=-100,
            idempotency_key="another-key",
            lead_id=lead.pk,
        )
    assert account_balance(clinic=clinic) == 900


def test_database_refuses_a_duplicate_idempotency_key(clinic):
    fund(clinic, 10, key="dup")
    with pytest.raises(IntegrityError), transaction.atomic():
        CreditTransaction.objects.bulk_create([_raw_entry(clinic, idempotency_key="dup")])


def test_database_refuses_a_balance_below_the_floor(clinic):
    with pytest.raises(IntegrityError), transaction.atomic():
        CreditAccount.objects.filter(clinic=clinic).update(balance=-1)


def test_reconciliation_is_clean_after_normal_postings(clinic, staff):
    fund(clinic, 1_000)
    services.charge_lead(lead=LeadFactory(clinic=clinic))
    services.adjust_credits(clinic=clinic, credits=-50, actor=staff, reason="fix")
    assert list(ledger_discrepancies()) == []
