"""Random sequences of postings never break the ledger's invariants."""

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from antidote.errors import AntidoteError, InsufficientCredits
from billing import services
from billing.models import CreditAccount, CreditTransaction, Kind
from billing.selectors import ledger_discrepancies
from tests.factories import ClinicFactory, LeadFactory, StaffFactory

amounts = st.integers(min_value=1, max_value=5_000)


class LedgerMachine(RuleBasedStateMachine):
    """A model of one clinic's account, checked against the database after every step."""

    @initialize(overdraft=st.sampled_from([0, 0, 250]))
    def open_clinic(self, overdraft):
        self.clinic = ClinicFactory()
        CreditAccount.objects.filter(clinic=self.clinic).update(overdraft_limit=overdraft)
        self.overdraft = overdraft
        self.staff = StaffFactory()
        self.expected = 0
        self.charged = {}  # lead pk -> credits charged
        self.refunded = {}  # lead pk -> credits refunded
        self.keys = 0

    def key(self):
        self.keys += 1
        return f"prop:{self.clinic.pk}:{self.keys}"

    @rule(credits=amounts, kind=st.sampled_from([Kind.PURCHASE, Kind.BONUS, Kind.PROMO_BONUS]))
    def grant(self, credits, kind):
        services.grant_credits(
            clinic=self.clinic, credits=credits, kind=kind, idempotency_key=self.key()
        )
        self.expected += credits

    @rule(price=st.one_of(st.none(), st.integers(min_value=0, max_value=200_000_00)))
    def charge_new_lead(self, price):
        lead = LeadFactory(clinic=self.clinic, package_price_paise=price)
        try:
            services.charge_lead(lead=lead)
        except InsufficientCredits:
            assert self.expected - lead.price_credits < -self.overdraft
            return
        self.expected -= lead.price_credits
        self.charged[lead.pk] = lead.price_credits

    @rule()
    def charge_again(self):
        for pk in list(self.charged)[:1]:
            services.charge_lead(lead=LeadFactory._meta.model.objects.get(pk=pk))

    @rule(part=st.integers(min_value=1, max_value=600), replay=st.booleans())
    def refund(self, part, replay):
        for pk, charged in list(self.charged.items())[-1:]:
            lead = LeadFactory._meta.model.objects.get(pk=pk)
            left = charged - self.refunded.get(pk, 0)
            key = self.key()
            try:
                services.refund_lead_charge(lead=lead, credits=part, idempotency_key=key)
            except AntidoteError:
                assert part > left
                return
            self.expected += part
            self.refunded[pk] = self.refunded.get(pk, 0) + part
            if replay:
                services.refund_lead_charge(lead=lead, credits=part, idempotency_key=key)

    @rule(credits=st.integers(min_value=-5_000, max_value=5_000).filter(bool))
    def adjust(self, credits):
        try:
            services.adjust_credits(
                clinic=self.clinic, credits=credits, actor=self.staff, reason="property test"
            )
        except InsufficientCredits:
            assert credits < 0 and self.expected + credits < -self.overdraft
            return
        self.expected += credits

    @invariant()
    def balance_matches_model_and_entries(self):
        account = CreditAccount.objects.get(clinic=self.clinic)
        entries = CreditTransaction.objects.filter(account=account)
        assert account.balance == self.expected >= -self.overdraft
        running = 0
        for credits, balance_after in entries.order_by("id").values_list(
            "credits", "balance_after"
        ):
            running += credits
            assert balance_after == running >= -self.overdraft
        assert running == account.balance

    def teardown(self):
        assert list(ledger_discrepancies()) == []

    @invariant()
    def no_lead_charged_twice(self):
        charges = CreditTransaction.objects.filter(
            account__clinic=self.clinic, kind=Kind.LEAD_CHARGE
        )
        assert charges.count() == len(self.charged)
        assert charges.values("lead").distinct().count() == len(self.charged)


@pytest.mark.django_db
def test_random_sequences_of_postings_keep_the_ledger_consistent():
    from hypothesis.stateful import run_state_machine_as_test

    run_state_machine_as_test(
        LedgerMachine,
        settings=settings(
            max_examples=40,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
