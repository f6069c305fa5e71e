"""The admin's big lists render a page of 100 rows without per-row template or URL work, and
still show staff Django's own markup: the checkbox actions read, the links they follow."""

from datetime import UTC, datetime

import pytest
from django.contrib import admin
from django.urls import URLResolver, reverse

from antidote.admin_bases import yes_no_icon
from disputes import services as disputes
from disputes.models import Dispute
from leads import services as leads
from leads.models import Clinic, Lead
from payments.models import PaymentOrder
from tests.disputes.conftest import DESCRIPTION
from tests.factories import ClinicFactory, LeadFactory, PackageFactory, StaffFactory, fund
from tests.otp import login_with_otp

pytestmark = pytest.mark.django_db

LISTS = {
    "disputes": "/admin/disputes/dispute/",
    "orders": "/admin/payments/paymentorder/",
    "leads": "/admin/leads/lead/",
    "clinics": "/admin/leads/clinic/",
}


def add_rows(count):
    """``count`` more rows in each of the four lists."""
    for _ in range(count):
        add_rows.made += 1
        clinic = ClinicFactory()
        fund(clinic, 1_000)
        lead = leads.submit_enquiry(clinic=clinic, name="Asha", phone=f"90000{add_rows.made:05d}")
        disputes.open_dispute(lead=lead, user=None, dispute_type="spam", description=DESCRIPTION)
        LeadFactory(clinic=clinic, package=PackageFactory(clinic=clinic))  # names its package
        PaymentOrder.objects.create(
            clinic=clinic, base_amount_paise=5_000_00, amount_paise=5_000_00, credits=5_000
        )


add_rows.made = 0


@pytest.fixture
def staff_client(client):
    login_with_otp(client, StaffFactory(is_superuser=True))
    return client


def templates_for(client, url):
    response = client.get(url)
    assert response.status_code == 200
    return sorted(t.name for t in response.templates)


@pytest.mark.parametrize("name", LISTS)
def test_big_list_renders_no_template_per_row(staff_client, name):
    # Django's row checkbox is a form widget: three templates a row, a third of the page's time.
    add_rows(1)
    one = templates_for(staff_client, LISTS[name])
    add_rows(2)
    three = templates_for(staff_client, LISTS[name])
    assert three == one, f"{len(one)} templates for 1 row, {len(three)} for 3"


@pytest.mark.parametrize("model", [Dispute, PaymentOrder, Lead, Clinic])
def test_big_list_checkbox_is_djangos_markup(model):
    add_rows(1)
    model_admin = admin.site._registry[model]
    obj = model.objects.first()
    assert model_admin.action_checkbox(obj) == admin.ModelAdmin.action_checkbox(model_admin, obj)


def reverses_for(client, url, monkeypatch):
    calls = []
    real = URLResolver._reverse_with_prefix

    def counted(resolver, lookup_view, *args, **kwargs):
        calls.append(lookup_view)
        return real(resolver, lookup_view, *args, **kwargs)

    with monkeypatch.context() as patched:
        patched.setattr(URLResolver, "_reverse_with_prefix", counted)
        assert client.get(url).status_code == 200
    return len(calls)


@pytest.mark.parametrize("name", LISTS)
def test_big_list_reverses_no_url_per_row(staff_client, name, monkeypatch):
    # Each row's link (and a dispute's lead's) reversed one at a time: 100 or 200 a page.
    add_rows(1)
    one = reverses_for(staff_client, LISTS[name], monkeypatch)
    add_rows(2)
    three = reverses_for(staff_client, LISTS[name], monkeypatch)
    assert three == one, f"{one} reverse() calls for 1 row, {three} for 3"


def test_big_lists_link_each_row_to_its_page(staff_client):
    add_rows(2)
    for name, model in [
        ("disputes", Dispute),
        ("orders", PaymentOrder),
        ("leads", Lead),
        ("clinics", Clinic),
    ]:
        page = staff_client.get(LISTS[name]).text
        for obj in model.objects.all():
            url = reverse(
                f"admin:{model._meta.app_label}_{model._meta.model_name}_change", args=[obj.pk]
            )
            assert f'<a href="{url}">' in page, (name, obj.pk)
    page = staff_client.get(LISTS["disputes"] + "?status__exact=pending").text
    for dispute in Dispute.objects.all():
        url = reverse("admin:leads_lead_change", args=[dispute.lead_id])
        assert f'<a href="{url}">#{dispute.lead_id}</a>' in page
        assert (
            reverse("admin:disputes_dispute_change", args=[dispute.pk])
            + "?_changelist_filters=status__exact%3Dpending"
            in page
        )


def test_lead_and_order_lists_show_times_in_ist_like_the_dispute_queue(staff_client):
    # The house format (antidote.when), a fifth of the cost of Django's localized datetime.
    add_rows(1)
    noon_utc = datetime(2026, 12, 1, 11, 30, tzinfo=UTC)
    Lead.objects.update(created_at=noon_utc)
    PaymentOrder.objects.update(created_at=noon_utc)
    Dispute.objects.update(created_at=noon_utc)
    for name in ["leads", "orders", "disputes"]:
        page = staff_client.get(LISTS[name]).text
        assert "1 Dec 2026, 17:00</td>" in page, name
    assert "Received (IST)" in staff_client.get(LISTS["leads"]).text
    assert "Created (IST)" in staff_client.get(LISTS["orders"]).text
    ordered = staff_client.get(LISTS["leads"] + "?o=2").context["cl"].result_list
    assert len(ordered) == 2  # sorting by the column still works


def test_boolean_columns_show_djangos_icons(staff_client):
    # Made once per value (antidote.admin_bases.yes_no_icon), not once a cell.
    from django.contrib.admin.templatetags.admin_list import _boolean_icon

    for value in [True, False, None]:
        assert yes_no_icon(value) == _boolean_icon(value)
    add_rows(1)
    Lead.objects.filter(billing_state=Lead.Billing.CHARGED).update(technical_error=True)
    page = staff_client.get(LISTS["leads"]).text
    assert page.count(f'class="field-technical_error_icon">{_boolean_icon(True)}<') == 1
    assert page.count(f'class="field-technical_error_icon">{_boolean_icon(False)}<') == 1
    page = staff_client.get(LISTS["clinics"]).text
    assert page.count(f'class="field-active">{_boolean_icon(True)}<') == Clinic.objects.count()


def test_empty_cells_show_the_sites_dash(staff_client):
    # Asked for once a cell: antidote.admin_bases.BigListMixin.get_empty_value_display.
    add_rows(1)
    assert admin.site._registry[Lead].get_empty_value_display() == "-"
    page = staff_client.get(LISTS["leads"]).text
    assert '<td class="field-package nowrap">-</td>' in page  # the enquiry without a package
