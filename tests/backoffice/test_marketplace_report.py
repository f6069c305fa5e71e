"""Staff's monthly marketplace report: credits, revenue, disputes and conversion by tier, speed
to lead, and the clinics at risk, from the same aggregate as the clinics' analytics."""

from datetime import date, timedelta

import pytest
from django.contrib.auth.models import Group
from django.core.cache import cache
from django.utils import timezone

from billing import finance
from billing import services as billing
from disputes import services as disputes
from leads import analytics
from leads import services as leads
from leads.models import Lead
from tests.disputes.conftest import DESCRIPTION
from tests.factories import ClinicFactory, LeadFactory, StaffFactory, fund
from tests.otp import login_with_otp

pytestmark = pytest.mark.django_db

REPORT = "/admin/marketplace-report/"


@pytest.fixture(autouse=True)
def no_auto_approval(settings):
    settings.DISPUTE_AUTO_APPROVE = False
    cache.clear()


def charged(clinic, phone):
    fund(clinic, 100)
    return leads.submit_enquiry(clinic=clinic, name="Asha", phone=phone)


def test_the_report_by_hand_for_this_month(client, clinic):
    fund(clinic, 1_000)  # 1,000 sold; the charges below buy their own 100 each
    a, b = charged(clinic, "9000000001"), charged(clinic, "9000000002")
    leads.update_lead_status(lead=a, status="booked", booked_for=date(2026, 5, 4))
    leads.update_lead_status(lead=b, status="contacted")
    disputes.reject_dispute(
        dispute=disputes.open_dispute(
            lead=b, user=None, dispute_type="spam", description=DESCRIPTION
        ),
        actor=StaffFactory(),
        notes="Answered.",
    )
    report = analytics.marketplace_report(month=timezone.localdate().replace(day=1))
    assert (report.credits_sold, report.credits_spent) == (1_200, 200)
    assert report.revenue_recognised_paise == 20_000  # fund() buys at ₹1 a credit
    (tier,) = report.by_tier
    assert (tier.leads, tier.booked, tier.disputes) == (2, 1, 1)
    assert tier.cells[7] == "50.0%" and tier.cells[11] == "50.0%"
    assert report.median_response_seconds is not None


def test_revenue_recognised_agrees_with_the_finance_report(client, clinic):
    """Paid lots at ₹1,000 for 120 credits across two clinics, a bonus lot, a partial refund:
    the staff report's revenue is the finance report's line for the same month, to the paisa."""
    other = ClinicFactory()
    for target in (clinic, other):
        billing.grant_credits(
            clinic=target, credits=50, kind="bonus", idempotency_key=f"b{target.pk}"
        )
        billing.grant_credits(
            clinic=target, credits=120, paid_paise=100_000, idempotency_key=f"p{target.pk}"
        )
    lead = leads.submit_enquiry(clinic=clinic, name="Asha", phone="9000000001")
    leads.submit_enquiry(clinic=other, name="Asha", phone="9000000002")
    leads.submit_enquiry(clinic=other, name="Asha", phone="9000000003")  # 70 paid left: held
    disputes.approve_dispute(
        dispute=disputes.open_dispute(
            lead=lead, user=None, dispute_type="spam", description=DESCRIPTION
        ),
        actor=StaffFactory(),
        refund_credits=30,
    )
    month = timezone.localdate().replace(day=1)
    report = analytics.marketplace_report(month=month)
    finance_line = finance.finance_report(month=month).rounded("recognised")
    # Two charges each drew 50 bonus and 50 paid: 100 × ₹1,000/120 = ₹833.333…
    assert report.revenue_recognised_paise == finance_line == 83_333
    previous = (month - timedelta(days=1)).replace(day=1)
    assert analytics.marketplace_report(month=previous).revenue_recognised_paise == 0
    user = StaffFactory(username="finance-check", is_superuser=True)
    login_with_otp(client, user)
    page = client.get(f"{REPORT}?month={month:%Y-%m}").content.decode()
    assert "₹833.33" in page and "estimate" not in page


def test_clinics_at_risk_each_reason(clinic):
    now = timezone.now()
    # Low balance with held leads: the clinic's alert level is above its empty balance.
    starved = ClinicFactory(name="Starved")
    starved.credit_account.low_balance_threshold = 500
    starved.credit_account.save(update_fields=["low_balance_threshold"])
    for _ in range(3):
        LeadFactory(clinic=starved)
    # Slow: 5 charged leads a week old, never contacted.
    slow = ClinicFactory(name="Slow")
    for i in range(5):
        lead = charged(slow, f"900000010{i}")
        Lead.objects.filter(pk=lead.pk).update(charged_at=now - timedelta(days=7))
    # Disputed: 2 disputes on 5 charged leads, each contacted at once.
    disputed = ClinicFactory(name="Disputed")
    for i in range(5):
        lead = charged(disputed, f"900000020{i}")
        leads.update_lead_status(lead=lead, status="contacted")
        if i < 2:
            disputes.open_dispute(
                lead=lead, user=None, dispute_type="spam", description=DESCRIPTION
            )
    # Fine: 5 charged and contacted, no disputes, enough credits.
    fine = ClinicFactory(name="Fine")
    for i in range(5):
        leads.update_lead_status(lead=charged(fine, f"900000030{i}"), status="contacted")
    risks = {r.clinic.name: r.reasons for r in analytics.clinics_at_risk()}
    assert risks == {
        "Disputed": ["2 disputes on 5 charged leads"],
        "Slow": ["5 of 5 leads not contacted within 24 hours"],
        "Starved": ["low balance with 3 held leads"],
    }


def test_staff_open_it_with_a_month_and_bad_months_are_a_400(client, clinic):
    user = StaffFactory(username="auditor")
    user.groups.add(Group.objects.get(name="Read-only auditors"))
    login_with_otp(client, user)
    charged(clinic, "9000000001")
    page = client.get(REPORT)
    assert page.status_code == 200
    assert 'data-testid="at-risk"' in page.content.decode()
    assert client.get(f"{REPORT}?month=2026-01").status_code == 200
    for bad in ("2026-13", "abc", "2026-01-01x"):
        response = client.get(f"{REPORT}?month={bad}")
        assert response.status_code == 400
        assert "Month (YYYY-MM)" in response.content.decode()


def test_staff_without_clinic_view_permission_are_refused(client):
    login_with_otp(client, StaffFactory(username="nobody"))
    assert client.get(REPORT).status_code == 403


def test_the_report_takes_only_get(client):
    user = StaffFactory(username="boss-post", is_superuser=True)
    login_with_otp(client, user)
    assert client.post(REPORT).status_code == 405
