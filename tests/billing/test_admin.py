"""The back office's view of the ledger: read-only, filterable, searchable."""

import threading

import pytest
from django.db.models import Sum
from django.db.models.signals import post_init, pre_save

from antidote.errors import AntidoteError
from billing import services
from billing.models import CreditAccount, CreditTransaction
from tests.backoffice.admin_forms import page_post_data
from tests.concurrency import run_concurrently
from tests.conftest import requires_postgres
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
        {"overdraft_limit": 50, "low_balance_threshold": 500, "change_reason": "Test change"},
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


# Account settings never write the balance -------------------------------------------------------


def assert_balance_matches_ledger(clinic, expected):
    account = CreditAccount.objects.get(clinic=clinic)
    entries = CreditTransaction.objects.filter(account=account).aggregate(s=Sum("credits"))["s"]
    assert account.balance == entries == expected


@pytest.fixture
def charge_while_saving(clinic):
    """Arms a lead charge that lands after the admin read the account, just before it writes
    the row (on PostgreSQL a concurrent charge would instead wait for the service's lock)."""
    lead = LeadFactory(clinic=clinic)

    def charge(sender, instance, **kwargs):
        if instance.clinic_id == clinic.pk and not CreditTransaction.objects.filter(lead=lead):
            services.charge_lead(lead=lead)

    def arm():
        pre_save.connect(charge, sender=CreditAccount, dispatch_uid="charge_while_saving")

    yield arm
    pre_save.disconnect(sender=CreditAccount, dispatch_uid="charge_while_saving")


def test_a_stale_account_form_saved_after_charges_keeps_the_balance(
    admin_client, clinic, charge_while_saving
):
    fund(clinic, 1_000)
    account = CreditAccount.objects.get(clinic=clinic)
    url = f"/admin/billing/creditaccount/{account.pk}/change/"
    data = page_post_data(admin_client.get(url))
    services.charge_lead(lead=LeadFactory(clinic=clinic))  # after the form was read
    charge_while_saving()
    response = admin_client.post(
        url, {**data, "overdraft_limit": 200, "change_reason": "Test change"}
    )
    assert response.status_code == 302
    assert_balance_matches_ledger(clinic, 1_000 - 100 - 100)
    assert CreditAccount.objects.get(clinic=clinic).overdraft_limit == 200


def test_a_stale_clinic_form_saved_after_charges_keeps_the_balance(
    admin_client, clinic, charge_while_saving
):
    fund(clinic, 1_000)
    url = f"/admin/leads/clinic/{clinic.pk}/change/"
    data = page_post_data(admin_client.get(url))
    services.charge_lead(lead=LeadFactory(clinic=clinic))
    charge_while_saving()
    response = admin_client.post(
        url,
        {
            **data,
            "credit_account-0-low_balance_threshold": 50,
            "credit_account-0-change_reason": "Test",
        },
    )
    assert response.status_code == 302, response.context and response.context["errors"]
    assert_balance_matches_ledger(clinic, 1_000 - 100 - 100)
    assert CreditAccount.objects.get(clinic=clinic).low_balance_threshold == 50


def test_reverting_account_settings_restores_settings_but_never_a_balance(
    admin_client, clinic, charge_while_saving
):
    account = CreditAccount.objects.get(clinic=clinic)
    admin_client.post(
        f"/admin/billing/creditaccount/{account.pk}/change/",
        {"overdraft_limit": 0, "low_balance_threshold": 400, "change_reason": "Test change"},
    )
    first = account.history.order_by("history_id").first()
    fund(clinic, 1_000)
    url = f"/admin/billing/creditaccount/{account.pk}/history/{first.history_id}/"
    data = page_post_data(admin_client.get(url))
    services.charge_lead(lead=LeadFactory(clinic=clinic))
    charge_while_saving()
    response = admin_client.post(url, data)
    assert response.status_code == 302
    assert_balance_matches_ledger(clinic, 1_000 - 100 - 100)
    assert CreditAccount.objects.get(clinic=clinic).low_balance_threshold == 500


def test_a_limit_that_a_charge_made_too_low_meanwhile_is_refused_with_a_message(
    admin_client, clinic
):
    CreditAccount.objects.filter(clinic=clinic).update(overdraft_limit=200)
    fund(clinic, 50)
    account = CreditAccount.objects.get(clinic=clinic)
    lead = LeadFactory(clinic=clinic)

    def charge_once_read(sender, instance, **kwargs):  # after the admin loaded the row
        if instance.pk == account.pk and not CreditTransaction.objects.filter(lead=lead):
            services.charge_lead(lead=lead)

    post_init.connect(charge_once_read, sender=CreditAccount, dispatch_uid="charge_once_read")
    try:
        response = admin_client.post(
            f"/admin/billing/creditaccount/{account.pk}/change/",
            {"overdraft_limit": 20, "low_balance_threshold": 500, "change_reason": "Test change"},
            follow=True,
        )
    finally:
        post_init.disconnect(sender=CreditAccount, dispatch_uid="charge_once_read")
    assert response.redirect_chain  # the form passed; billing refused under its lock
    assert "cannot be below 50 until the clinic tops up" in response.text
    account.refresh_from_db()
    assert (account.overdraft_limit, account.balance) == (200, -50)


def test_account_settings_service_writes_only_the_settings(clinic, staff):
    fund(clinic, 700)
    stale = CreditAccount.objects.get(clinic=clinic)
    stale.balance = 123_456  # whatever the caller holds is never written
    saved = services.update_account_settings(
        account=stale, actor=staff, overdraft_limit=10, low_balance_threshold=0
    )
    assert (saved.balance, stale.balance) == (700, 700)
    assert_balance_matches_ledger(clinic, 700)
    assert saved.history.first().history_user == staff
    services.update_account_settings(account=saved, actor=staff, overdraft_limit=10)
    assert saved.history.count() == 2  # opening + one change; an unchanged save adds nothing


@pytest.mark.parametrize(
    ("settings", "error"),
    [
        (
            {"overdraft_limit": -1},
            "overdraft limit must be a whole number",
        ),
        ({"low_balance_threshold": "5"}, "low balance threshold must be a whole number"),
        (
            {"overdraft_limit": True},
            "overdraft limit must be a whole number",
        ),
        (
            {"overdraft_limit": 50},
            "cannot be below 100 until the clinic tops up",
        ),
    ],
)
def test_account_settings_service_refuses_bad_settings(clinic, staff, settings, error):
    CreditAccount.objects.filter(clinic=clinic).update(overdraft_limit=300)
    services.charge_lead(lead=LeadFactory(clinic=clinic))  # balance -100
    account = CreditAccount.objects.get(clinic=clinic)
    with pytest.raises(AntidoteError, match=error):
        services.update_account_settings(account=account, actor=staff, **settings)
    account.refresh_from_db()
    assert (account.overdraft_limit, account.low_balance_threshold) == (300, 500)


# Links from the ledger to what caused each entry ------------------------------------------------


def test_ledger_links_each_entry_to_its_clinic_lead_order_and_dispute(admin_client, clinic):
    from disputes import services as disputes
    from leads import services as leads
    from payments.models import PaymentOrder
    from tests.disputes.conftest import DESCRIPTION

    order = PaymentOrder.objects.create(
        clinic=clinic, base_amount_paise=5_000_00, amount_paise=5_000_00, credits=5_000
    )
    fund(clinic, 5_000, key=f"purchase:order:{order.pk}")
    fund(clinic, 250, key=f"promo-bonus:order:{order.pk}")
    lead = leads.submit_enquiry(clinic=clinic, name="Asha", phone="9000000001")
    dispute = disputes.open_dispute(
        lead=lead, user=None, dispute_type="spam", description=DESCRIPTION
    )
    disputes.approve_dispute(dispute=dispute, actor=UserFactory(is_staff=True))
    fund(clinic, 10, key="purchase:order:not-a-number")  # foreign keys link to nothing
    page = admin_client.get("/admin/billing/credittransaction/").text
    order_link = f'<a href="/admin/payments/paymentorder/{order.pk}/change/">order #{order.pk}</a>'
    assert page.count(order_link) == 2
    assert page.count(f'href="/admin/leads/lead/{lead.pk}/change/"') == 2  # charge, refund
    assert f'<a href="/admin/disputes/dispute/{dispute.pk}/change/">dispute #{dispute.pk}</a>' in (
        page
    )
    assert page.count(f'href="/admin/leads/clinic/{clinic.pk}/change/"') == 5
    assert "order #not-a-number" not in page


@requires_postgres
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_charge_from_another_connection_during_a_settings_save_is_kept(client, seeded_tiers):
    """PostgreSQL: the charge commits on its own connection while the admin is saving. Before
    the fix it landed and was then overwritten; now it waits for the settings' row lock."""
    clinic = ClinicFactory()
    fund(clinic, 1_000)
    login_with_otp(client, UserFactory(is_staff=True, is_superuser=True))
    lead = LeadFactory(clinic=clinic)
    account = CreditAccount.objects.get(clinic=clinic)
    charger = threading.Thread(target=lambda: run_concurrently(charge, [lead], workers=1))

    def charge(lead):
        services.charge_lead(lead=lead)

    def charge_elsewhere(sender, instance, **kwargs):
        if not charger.is_alive() and charger.ident is None:
            charger.start()
            charger.join(timeout=1)  # done at once unless our transaction holds the row

    pre_save.connect(charge_elsewhere, sender=CreditAccount, dispatch_uid="charge_elsewhere")
    try:
        response = client.post(
            f"/admin/billing/creditaccount/{account.pk}/change/",
            {"overdraft_limit": 100, "low_balance_threshold": 500, "change_reason": "Test change"},
        )
    finally:
        pre_save.disconnect(sender=CreditAccount, dispatch_uid="charge_elsewhere")
    charger.join()
    assert response.status_code == 302
    assert_balance_matches_ledger(clinic, 900)
    assert CreditAccount.objects.get(clinic=clinic).overdraft_limit == 100


def test_the_clinic_filter_lists_the_chosen_clinic_only_and_refuses_a_bad_id(admin_client, books):
    _, lotus = books
    url = "/admin/billing/credittransaction/"
    unfiltered = admin_client.get(url).text
    assert "Lotus" not in unfiltered.split('id="changelist-filter"')[1]  # no link per clinic
    chosen = admin_client.get(f"{url}?account__clinic__id__exact={lotus.pk}")
    assert chosen.context["cl"].result_count == 1
    assert lotus.name in chosen.text.split('id="changelist-filter"')[1]
    assert chosen.context["cl"].show_full_result_count is False  # no COUNT(*) of the ledger
    bad = admin_client.get(f"{url}?account__clinic__id__exact=abc")
    assert bad.status_code in (200, 302) and "e=1" in (bad.get("Location") or "e=1")
