"""The portal's view of credit lots: the paid/bonus split, the lots table, which lots each
ledger row drew from, and "N credits expire on D" on the dashboard and the top-up page."""

import pytest
from django.core.cache import cache

from billing import services
from billing.models import CreditLot, Kind
from tests.factories import ClinicFactory, ClinicMemberFactory, LeadFactory, fund

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_rate_limit():
    cache.clear()


@pytest.fixture
def logged_in(client, clinic):
    client.force_login(ClinicMemberFactory(clinic=clinic).user)
    return client


@pytest.fixture
def books(clinic):
    fund(clinic, 1_000)
    services.grant_credits(
        clinic=clinic, credits=40, kind=Kind.BONUS, idempotency_key="b", validity_days=5
    )
    lead = LeadFactory(clinic=clinic)
    services.charge_lead(lead=lead)
    return lead


def test_the_billing_page_splits_the_balance_and_lists_the_lots(logged_in, clinic, books):
    page = logged_in.get("/clinic/billing-dashboard")
    assert page.status_code == 200
    assert "940 paid · 0 bonus" in page.text  # the bonus lot expires first: drawn first
    bonus_lot = CreditLot.objects.get(kind="bonus")
    paid_lot = CreditLot.objects.get(kind="paid")
    assert 'data-testid="credit-lots"' in page.text
    assert f"#{paid_lot.pk}" in page.text and f"#{bonus_lot.pk}" in page.text
    assert f"40 from lot #{bonus_lot.pk}, 60 from lot #{paid_lot.pk}" in page.text


def test_dashboard_and_top_up_say_how_many_credits_expire_and_when(logged_in, clinic):
    services.grant_credits(
        clinic=clinic, credits=120, kind=Kind.BONUS, idempotency_key="b", validity_days=5
    )
    for url in ["/clinic/dashboard", "/clinic/credits/topup", "/clinic/billing-dashboard"]:
        page = logged_in.get(url)
        assert page.status_code == 200, url
        assert "120 credits expire on" in page.text, url


def test_another_clinics_lots_and_expiry_never_show(logged_in, clinic):
    other = ClinicFactory(name="Other")
    services.grant_credits(
        clinic=other, credits=777, kind=Kind.BONUS, idempotency_key="o", validity_days=5
    )
    page = logged_in.get("/clinic/billing-dashboard")
    assert "777" not in page.text
    assert "expire on" not in logged_in.get("/clinic/dashboard").text
