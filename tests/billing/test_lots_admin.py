"""The back office's view of credit lots: inline on the clinic, a page per lot with its
consumption, the extend-expiry action, and the finance report page."""

from datetime import timedelta

import pytest
from django.utils import timezone

from billing import services
from billing.models import CreditLot, LotExpiryChange
from tests.factories import ClinicFactory, LeadFactory, UserFactory, fund
from tests.otp import login_with_otp

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    login_with_otp(client, UserFactory(username="boss", is_staff=True, is_superuser=True))
    return client


@pytest.fixture
def lot():
    clinic = ClinicFactory(name="Glow Skin")
    entry = fund(clinic, 1_000, key="purchase:order:1")
    services.charge_lead(lead=LeadFactory(clinic=clinic))
    return CreditLot.objects.get(source=entry)


def test_the_clinic_page_lists_its_lots(admin_client, lot):
    page = admin_client.get(f"/admin/leads/clinic/{lot.account.clinic_id}/change/")
    assert page.status_code == 200
    assert f"/admin/billing/creditlot/{lot.pk}/change/" in page.text
    assert "Credit lots" in page.text and "900" in page.text


def test_a_lots_page_shows_its_value_and_consumption(admin_client, lot):
    page = admin_client.get(f"/admin/billing/creditlot/{lot.pk}/change/")
    assert page.status_code == 200
    assert "for 1,000 paid credits" in page.text
    assert "Lead charge" in page.text and "-100" in page.text


def _extend(admin_client, lot, when, reason="Clinic was closed for renovation"):
    return admin_client.post(
        "/admin/billing/creditlot/",
        {
            "action": "extend_expiry",
            "_selected_action": [lot.pk],
            "stage": "apply",
            "expires_at_0": timezone.localtime(when).strftime("%Y-%m-%d"),
            "expires_at_1": "12:00:00",
            "expires_at": timezone.localtime(when).strftime("%Y-%m-%d 12:00:00"),
            "reason": reason,
        },
        follow=True,
    )


def test_staff_extend_a_lot_from_its_list_with_a_reason(admin_client, lot):
    form = admin_client.post(
        "/admin/billing/creditlot/", {"action": "extend_expiry", "_selected_action": [lot.pk]}
    )
    assert form.status_code == 200 and "New expiry" in form.text
    response = _extend(admin_client, lot, lot.expires_at + timedelta(days=40))
    assert "now expires" in response.text
    change = LotExpiryChange.objects.get()
    assert change.reason == "Clinic was closed for renovation"


def test_extending_an_expired_lot_from_the_admin_is_refused_with_a_message(admin_client, lot):
    CreditLot.objects.filter(pk=lot.pk).update(expires_at=timezone.now())
    response = _extend(admin_client, lot, timezone.now() + timedelta(days=40))
    assert "has expired or is used up" in response.text
    assert not LotExpiryChange.objects.exists()


def test_the_finance_page_shows_the_month_and_refuses_a_bad_one(admin_client, lot):
    month = timezone.localdate().strftime("%Y-%m")
    page = admin_client.get("/admin/billing/creditlot/finance/", {"month": month})
    assert page.status_code == 200
    assert "Revenue recognised" in page.text and "100.00" in page.text
    assert "The identity" in page.text and "holds" in page.text
    for bad in ["2026-13", "x", "1999-01", "9" * 50]:
        page = admin_client.get("/admin/billing/creditlot/finance/", {"month": bad})
        assert page.status_code == 200
        assert "errorlist" in page.text


def test_the_finance_page_is_for_staff_who_may_see_lots(client, lot):
    login_with_otp(client, UserFactory(username="clerk", is_staff=True))
    assert client.get("/admin/billing/creditlot/finance/").status_code == 403
