"""Hostile input the URL fuzz (tests/test_fuzz.py) found beyond the lead pages: each one a 4xx,
never a 5xx. Every value is parsed by a form or serializer field (no isdigit() then int())."""

from urllib.parse import quote

import pytest
from django.apps import apps
from django.contrib.auth.models import Group
from django_otp.plugins.otp_totp.models import TOTPDevice

from disputes import services as disputes
from leads import services as leads
from payments.models import PromoCode
from tests.disputes.conftest import DESCRIPTION
from tests.factories import ClinicMemberFactory, StaffFactory, fund

pytestmark = pytest.mark.django_db

HUGE = "9" * 5000  # more digits than int() accepts from a string


@pytest.fixture
def member(client, clinic):
    client.force_login(ClinicMemberFactory(clinic=clinic).user)
    return client


@pytest.mark.parametrize("param", ["page", "limit"])
@pytest.mark.parametrize("value", ["²", HUGE, "1.5", "0", "-1", "x", "1\x00"])
def test_history_json_refuses_a_page_or_limit_that_is_not_a_whole_number(
    member, clinic, param, value
):
    fund(clinic, 100)
    response = member.get("/clinic/credits/history", {"format": "json", param: value})
    assert response.status_code == 400
    assert param in response.json()


def test_history_json_still_reads_page_and_limit(member, clinic):
    for credits in (100, 101, 102):
        fund(clinic, credits)
    body = member.get("/clinic/credits/history?format=json&limit=2&page=2&kind=").json()
    assert (body["page"], body["total"], len(body["transactions"])) == (2, 3, 1)
    assert member.get("/clinic/credits/history?format=json&page=&limit=").json()["page"] == 1


DEEP = 5000  # deeper than Python's recursion limit


@pytest.mark.parametrize(
    "url", ["/clinic/check-promo-code", "/create-razorpay-order", "/verify-payment"]
)
@pytest.mark.parametrize(
    "body", ["[" * DEEP + "]" * DEEP, '{"a":' * DEEP + "1" + "}" * DEEP], ids=["list", "object"]
)
def test_json_nested_thousands_deep_is_a_400(member, url, body):
    response = member.post(url, body, content_type="application/json")
    assert response.status_code == 400
    assert "JSON" in response.json()["detail"]


# The admin ------------------------------------------------------------------------------------

HISTORY_ADMINS = [
    "billing/pricingtier",
    "billing/creditaccount",
    "payments/creditpackage",
    "payments/promocode",
]


@pytest.fixture
def boss(client, clinic, otp_login):
    """A verified superuser, with a row in every history admin (the clinic's account, too)."""
    PromoCode.objects.create(code="SAVE5", discount_type="percent", discount_value=5)
    otp_login(client, StaffFactory(username="boss", is_superuser=True))
    return client


@pytest.mark.parametrize("admin", HISTORY_ADMINS)
@pytest.mark.parametrize("garbage", ["x", "²", HUGE, "1.5", ":"])
def test_admin_history_pages_are_404_for_an_id_that_is_not_one(boss, clinic, admin, garbage):
    garbage = quote(garbage, safe="")
    first = apps.get_model(*admin.split("/")).objects.order_by("pk").first()
    assert boss.get(f"/admin/{admin}/{garbage}/history/").status_code == 404
    assert boss.get(f"/admin/{admin}/{garbage}/history/1/").status_code == 404
    assert boss.get(f"/admin/{admin}/{first.pk}/history/{garbage}/").status_code == 404
    assert boss.post(f"/admin/{admin}/{first.pk}/history/{garbage}/").status_code == 404


@pytest.mark.parametrize("admin", HISTORY_ADMINS)
def test_admin_history_pages_still_show_a_real_rows_history(boss, clinic, admin):
    first = apps.get_model(*admin.split("/")).objects.order_by("pk").first()
    first.save()  # rows seeded by a migration have no history yet
    version = first.history.order_by("-history_id").first()
    assert boss.get(f"/admin/{admin}/{first.pk}/history/").status_code == 200
    assert boss.get(f"/admin/{admin}/{first.pk}/history/{version.pk}/").status_code == 200


@pytest.mark.parametrize("view", ["config", "qrcode"])  # not "page": Playwright's fixture
@pytest.mark.parametrize("which", ["missing", "existing"])
def test_the_admin_never_shows_an_authenticator_seed_nor_crashes_on_a_missing_one(
    boss, view, which
):
    device = TOTPDevice.objects.get()  # the boss's own, from otp_login
    pk = device.pk + 1000 if which == "missing" else device.pk
    assert boss.get(f"/admin/otp_totp/totpdevice/{pk}/{view}/").status_code == 403
    change = boss.get(f"/admin/otp_totp/totpdevice/{device.pk}/change/")
    assert change.status_code == 200
    assert device.key not in change.text


@pytest.mark.parametrize("amount", ["²", HUGE, "1.5", "0", "-1", "1\x00", "x"])
def test_staff_resolve_path_refuses_a_refund_amount_that_is_not_whole_credits(
    client, clinic, otp_login, amount
):
    fund(clinic, 1_000)
    lead = leads.submit_enquiry(clinic=clinic, name="Asha Patel", phone="9876543210")
    dispute = disputes.open_dispute(
        lead=lead, user=None, dispute_type="spam", description=DESCRIPTION
    )
    reviewer = StaffFactory(username="reviewer")
    reviewer.groups.add(Group.objects.get(name="Dispute reviewers"))
    otp_login(client, reviewer)
    response = client.post(
        f"/admin/disputes/{dispute.pk}/resolve", {"status": "approved", "refund_amount": amount}
    )
    assert response.status_code == 400
    assert "refund_amount must be a whole number of credits." in response.text
    dispute.refresh_from_db()
    assert dispute.status == "pending"


def _changelists_with_actions():
    from django.contrib import admin as django_admin

    return sorted(
        f"{model._meta.app_label}/{model._meta.model_name}"
        for model, model_admin in django_admin.site._registry.items()
        if model_admin.actions is not None
    )


@pytest.mark.parametrize("changelist", _changelists_with_actions())
@pytest.mark.parametrize("garbage", ["abc", "1.5", "", "9" * 30, "²"])
def test_an_admin_action_on_a_selection_that_is_no_ids_is_a_400(boss, clinic, changelist, garbage):
    # Django's response_action filters pk__in on the raw strings: 'abc' was a ValueError and
    # 30 digits an OverflowError, a 500 from every changelist.
    response = boss.post(
        f"/admin/{changelist}/",
        {"action": "delete_selected", "_selected_action": ["1", garbage], "index": "0"},
    )
    assert response.status_code == 400


def test_an_admin_action_on_real_ids_still_runs(boss, clinic):
    PromoCode.objects.create(code="GONE", discount_type="percent", discount_value=5)
    gone = PromoCode.objects.get(code="GONE")
    page = boss.post(
        "/admin/payments/promocode/",
        {"action": "delete_selected", "_selected_action": [str(gone.pk)], "index": "0"},
    )
    assert page.status_code == 200 and "Are you sure" in page.text


@pytest.mark.parametrize("view", ["change", "delete"])
@pytest.mark.parametrize("method", ["get", "post"])
def test_an_empty_to_field_on_an_admin_row_page_is_a_400(boss, clinic, view, method):
    """Django looks the row up by the field ``_to_field`` names whenever it is given, so an
    empty one was a 500 on every change and delete page (the fuzz found it)."""
    url = f"/admin/leads/clinic/{clinic.pk}/{view}/?_to_field="
    assert getattr(boss, method)(url).status_code == 400
