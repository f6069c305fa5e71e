"""The billing dashboard as 001/002 list it: a Top up button, this month's spending, leads
this month, leads and credits by tier, open disputes; a chart with axes and values; and
"bought this month" labelled paid, bonus and total."""

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from billing import services as billing
from billing.views import _nice_ceiling, spending_chart
from disputes import services as disputes
from leads import services as leads
from tests.disputes.conftest import DESCRIPTION, PNG
from tests.factories import ClinicMemberFactory, PackageFactory, fund

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner(client, clinic):
    member = ClinicMemberFactory(clinic=clinic, role="owner")
    client.force_login(member.user)
    return member


def test_dashboard_shows_the_documented_figures(client, clinic, owner):
    fund(clinic, 5_000)
    billing.grant_credits(clinic=clinic, credits=500, kind="bonus", idempotency_key="b:1")
    cheap = PackageFactory(clinic=clinic, price_paise=4_000_00)
    dear = PackageFactory(clinic=clinic, price_paise=60_000_00)
    lead = leads.submit_enquiry(clinic=clinic, package=cheap, name="A", phone="9000000001")
    leads.submit_enquiry(clinic=clinic, package=cheap, name="B", phone="9000000002")
    leads.submit_enquiry(clinic=clinic, package=dear, name="C", phone="9000000003")
    disputes.open_dispute(
        lead=lead,
        user=owner.user,
        dispute_type="spam",
        description=DESCRIPTION,
        evidence=[SimpleUploadedFile("shot.png", PNG, content_type="image/png")],
    )
    page = client.get("/clinic/billing-dashboard")
    assert page.status_code == 200
    text = page.text
    assert 'data-testid="topup-button"' in text
    assert re.search(r'data-testid="spent-month">600<', text)  # 100 + 100 + 400
    assert re.search(r'data-testid="leads-month">3<', text)
    assert re.search(r'data-testid="bought-month">5,500<', text)
    assert "5,000 paid + 500 bonus" in text
    assert re.search(r'data-testid="open-disputes">1<', text)
    assert 'href="/clinic/disputes"' in text
    tiers = [(r.min_price_paise, r.leads, r.credits) for r in page.context["tiers"]]
    assert tiers == [(0, 2, 200), (50_000_00, 1, 400)]


def test_the_billing_contact_sees_the_dispute_count_without_a_link_it_cannot_open(client, clinic):
    client.force_login(ClinicMemberFactory(clinic=clinic, role="billing").user)
    text = client.get("/clinic/billing-dashboard").text
    assert 'data-testid="open-disputes">0<' in text
    assert 'href="/clinic/disputes"' not in text


def test_the_home_dashboard_labels_bought_credits_paid_and_bonus(client, clinic, owner):
    fund(clinic, 1_000)
    billing.grant_credits(clinic=clinic, credits=100, kind="promo_bonus", idempotency_key="p:1")
    text = client.get("/clinic/dashboard").text
    assert re.search(r'data-testid="bought-month">1,100<', text)
    assert "1,000 paid + 100 bonus" in text


@pytest.mark.parametrize(
    ("peak", "top"), [(0, 1), (1, 1), (3, 5), (7, 10), (120, 200), (250, 500), (1_001, 2_000)]
)
def test_the_axis_maximum_is_a_round_number_at_or_above_the_peak(peak, top):
    assert _nice_ceiling(max(peak, 1)) == top


def test_the_chart_has_axis_values_and_bars_scaled_to_the_axis():
    from datetime import date

    days = [(date(2026, 12, d), credits) for d, credits in ((1, 0), (2, 250), (3, 100))]
    chart = spending_chart(days)
    assert [t["value"] for t in chart["ticks"]] == [0, 125, 250, 375, 500]
    assert [b["height"] for b in chart["bars"]] == [0, 80, 32]  # of 160 for 500


def test_the_chart_renders_its_axes_and_values(client, clinic, owner):
    text = client.get("/clinic/billing-dashboard").text
    assert text.count('class="axis"') == 2
    assert 'class="axis-value"' in text and 'class="axis-date"' in text
