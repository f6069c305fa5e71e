"""The back office's view of the ledger: read-only, filterable, searchable."""

import pytest

from billing import services
from billing.models import CreditAccount, CreditTransaction
from tests.factories import ClinicFactory, LeadFactory, UserFactory, fund
from tests.otp import login_with_otp

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    login_with_otp(client, UserFactory(username="boss", is_staff=True, is_superuser=True))
    return client


@pytest.fixture
def books():
    glow, lotus = ClinicFactory(name="Glow Skin"), ClinicFactory(name="Lotus Derma")
    fund(glow, 1_000, key="purchase:order:1")
    fund(lotus, 500, key="purchase:order:2")
    services.charge_lead(lead=LeadFactory(clinic=glow))
    return glow, lotus


def test_ledger_changelist_filters_and_searches(admin_client, books):
    glow, _ = books
    url = "/admin/billing/credittransaction/"
    everything = admin_client.get(url)
    assert everything.status_code == 200
    assert everything.context["cl"].result_count == 3
    assert admin_client.get(f"{url}?kind__exact=lead_charge").context["cl"].result_count == 1
    by_clinic = admin_client.get(f"{url}?account__clinic__id__exact={glow.pk}")
    assert by_clinic.context["cl"].result_count == 2
    assert admin_client.get(f"{url}?q=Lotus").context["cl"].result_count == 1


def test_ledger_admin_cannot_add_change_or_delete(admin_client, books):
    entry = CreditTransaction.objects.first()
    base = "/admin/billing/credittransaction/"
    assert admin_client.get(f"{base}add/").status_code == 403
    view = admin_client.get(f"{base}{entry.pk}/change/")
    assert view.status_code == 200  # view-only page
    assert "Save" not in view.text.split('id="content"')[1].split("</form>")[0]
    post = admin_client.post(f"{base}{entry.pk}/change/", {"credits": 1_000_000})
    assert post.status_code == 403
    assert admin_client.post(f"{base}{entry.pk}/delete/", {"post": "yes"}).status_code == 403
    assert CreditTransaction.objects.get(pk=entry.pk).credits == entry.credits


def test_clinic_page_shows_the_account_with_a_read_only_balance(admin_client, books):
    glow, _ = books
    page = admin_client.get(f"/admin/leads/clinic/{glow.pk}/change/")
    assert page.status_code == 200
    assert "900" in page.text
    assert 'name="credit_account-0-balance"' not in page.text
    assert 'name="credit_account-0-overdraft_limit"' in page.text


def test_overdraft_limit_below_a_negative_balance_is_refused_not_a_500(admin_client, clinic):
    CreditAccount.objects.filter(clinic=clinic).update(overdraft_limit=300)
    services.charge_lead(lead=LeadFactory(clinic=clinic))  # balance -100
    account = CreditAccount.objects.get(clinic=clinic)
    response = admin_client.post(
        f"/admin/billing/creditaccount/{account.pk}/change/",
        {"overdraft_limit": 50, "low_balance_threshold": 500},
    )
    assert response.status_code == 200
    assert "cannot be below 100" in response.text
    account.refresh_from_db()
    assert (account.overdraft_limit, account.balance) == (300, -100)


def test_a_clinic_user_without_staff_rights_cannot_open_the_admin(client, clinic):
    client.force_login(UserFactory())
    response = client.get("/admin/billing/credittransaction/")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
