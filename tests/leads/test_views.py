"""Public enquiry pages and the clinic portal, seen from every kind of visitor."""

import csv
import io
import re
from datetime import date

import pytest
from django.core import mail
from django.core.cache import cache

from billing.models import CreditTransaction
from billing.selectors import account_balance
from leads import services
from leads.models import Lead
from tests.factories import ClinicFactory, ClinicMemberFactory, PackageFactory, UserFactory, fund

pytestmark = pytest.mark.django_db

PORTAL_PAGES = [
    "/clinic/dashboard",
    "/clinic/leads",
    "/clinic/billing-dashboard",
    "/clinic/credits/history",
    "/clinic/credits/topup",
]
JSON_ENDPOINTS = ["/clinic/credits/balance", "/clinic/credits/history?format=json"]


@pytest.fixture(autouse=True)
def fresh_rate_limit():
    cache.clear()


@pytest.fixture
def member(clinic):
    return ClinicMemberFactory(clinic=clinic).user


@pytest.fixture
def logged_in(client, member):
    client.force_login(member)
    return client


def enquiry(package=None, clinic=None, **overrides):
    data = {
        "name": "Asha Patel",
        "phone": "98765 43210",
        "email": "",
        "message": "Is Saturday possible?",
        "consent": "on",
        "website": "",
    }
    if package:
        data["package"] = package.pk
    if clinic:
        data["clinic"] = clinic.pk
    data.update(overrides)
    return data


# Public side ------------------------------------------------------------------------------


def test_package_list_detail_and_clinic_pages_show_an_enquiry_form(client, clinic):
    package = PackageFactory(clinic=clinic, name="Hydrafacial", price_paise=7_500_00)
    listing = client.get("/packages/")
    assert listing.status_code == 200
    assert "Hydrafacial" in listing.text
    assert "₹7,500" in listing.text
    for url in [f"/packages/{package.pk}/", f"/clinics/{clinic.slug}/"]:
        page = client.get(url)
        assert page.status_code == 200
        assert 'action="/contact-clinic"' in page.text


def test_inactive_package_and_clinic_pages_are_404(client, clinic):
    package = PackageFactory(clinic=clinic, is_active=False)
    assert client.get(f"/packages/{package.pk}/").status_code == 404
    clinic.is_active = False
    clinic.save()
    assert client.get(f"/clinics/{clinic.slug}/").status_code == 404


def test_enquiry_from_a_package_page_creates_a_charged_lead(client, clinic):
    fund(clinic, 1_000)
    package = PackageFactory(clinic=clinic, price_paise=25_000_00)
    response = client.post("/contact-clinic", enquiry(package))
    assert response.status_code == 302
    assert response["Location"] == "/enquiry-sent"
    lead = Lead.objects.get()
    assert (lead.phone, lead.package, lead.billing_state) == ("+919876543210", package, "charged")
    assert account_balance(clinic=clinic) == 1_000 - 320


def test_enquiry_from_a_clinic_page_needs_no_package(client, clinic):
    fund(clinic, 1_000)
    assert client.post("/contact-clinic", enquiry(clinic=clinic)).status_code == 302
    assert Lead.objects.get().package is None


def test_patient_sees_the_same_thank_you_whether_or_not_the_clinic_could_pay(client):
    rich, poor = ClinicFactory(), ClinicFactory()
    fund(rich, 1_000)
    paid = client.post("/contact-clinic", enquiry(clinic=rich), follow=True)
    held = client.post("/contact-clinic", enquiry(clinic=poor, phone="9000000001"), follow=True)
    assert paid.redirect_chain == held.redirect_chain == [("/enquiry-sent", 302)]
    assert _without_csrf(paid.text) == _without_csrf(held.text)
    assert set(Lead.objects.values_list("billing_state", flat=True)) == {"charged", "held"}


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"phone": "12345"}, "valid 10-digit Indian mobile"),
        ({"phone": "+44 7911 123456"}, "Indian mobile number"),
        ({"consent": ""}, "agree to be contacted"),
        ({"name": ""}, "This field is required"),
        ({"email": "not-an-email"}, "valid email"),
    ],
)
def test_invalid_enquiry_is_re_rendered_with_field_errors_and_saves_nothing(
    client, clinic, overrides, message
):
    package = PackageFactory(clinic=clinic)
    response = client.post("/contact-clinic", enquiry(package, **overrides))
    assert response.status_code == 400
    assert message in response.text
    assert 'action="/contact-clinic"' in response.text
    assert not Lead.objects.exists()


def test_enquiry_to_an_inactive_clinic_or_package_is_refused(client, clinic):
    package = PackageFactory(clinic=clinic, is_active=False)
    response = client.post("/contact-clinic", enquiry(package))
    assert response.status_code == 400
    assert "no longer available" in response.text
    clinic.is_active = False
    clinic.save()
    response = client.post("/contact-clinic", enquiry(clinic=clinic))
    assert response.status_code == 400
    assert "not taking enquiries" in response.text
    assert not Lead.objects.exists()


def test_enquiry_without_clinic_or_package_is_refused(client):
    response = client.post("/contact-clinic", enquiry())
    assert response.status_code == 400
    assert "Choose a clinic or a package" in response.text


def test_honeypot_looks_successful_but_records_nothing(client, clinic):
    response = client.post("/contact-clinic", enquiry(clinic=clinic, website="http://spam"))
    assert response.status_code == 302
    assert not Lead.objects.exists()


def test_rate_limit_answers_429_with_a_friendly_page(client, clinic, settings):
    settings.LEAD_RATE_LIMIT = 3
    for i in range(3):
        phone = f"900000000{i}"
        assert (
            client.post("/contact-clinic", enquiry(clinic=clinic, phone=phone)).status_code == 302
        )
    response = client.post("/contact-clinic", enquiry(clinic=clinic, phone="9000000009"))
    assert response.status_code == 429
    minutes = -(-settings.LEAD_RATE_WINDOW_SECONDS // 60)
    assert f"please try again in {minutes} minute" in response.text
    assert Lead.objects.count() == 3


def test_contact_clinic_only_accepts_post(client):
    assert client.get("/contact-clinic").status_code == 405


# Portal: who may see what --------------------------------------------------------------------


@pytest.mark.parametrize("url", PORTAL_PAGES)
def test_portal_pages_send_anonymous_visitors_to_login(client, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")


@pytest.mark.parametrize("url", JSON_ENDPOINTS)
def test_json_endpoints_refuse_anonymous_visitors(client, url):
    response = client.get(url, HTTP_ACCEPT="application/json")
    assert response.status_code == 403
    assert "detail" in response.json()


@pytest.mark.parametrize("url", PORTAL_PAGES)
def test_a_user_without_a_clinic_gets_a_clear_403(client, url):
    client.force_login(UserFactory())
    response = client.get(url)
    assert response.status_code == 403
    assert "not linked to a clinic" in response.text


@pytest.mark.parametrize("url", JSON_ENDPOINTS)
def test_json_endpoints_refuse_a_user_without_a_clinic(client, url):
    client.force_login(UserFactory())
    assert client.get(url).status_code == 403


@pytest.mark.parametrize("url", PORTAL_PAGES)
def test_portal_pages_work_for_a_member(logged_in, url):
    response = logged_in.get(url)
    assert response.status_code == 200
    assert 'data-testid="header-balance"' in response.text


def test_lead_of_another_clinic_is_404_and_cannot_be_updated(logged_in, clinic):
    other = ClinicFactory()
    fund(other, 1_000)
    theirs = services.submit_enquiry(clinic=other, name="Ravi", phone="9000000001")
    assert logged_in.get(f"/clinic/leads/{theirs.pk}").status_code == 404
    response = logged_in.post(
        "/clinic/leads/update-status", {"lead_id": theirs.pk, "status": "lost"}
    )
    assert response.status_code == 404
    theirs.refresh_from_db()
    assert theirs.status == "new"


def test_inbox_and_history_show_only_the_members_clinic(logged_in, clinic):
    other = ClinicFactory()
    fund(clinic, 1_000, key="mine")
    fund(other, 2_000, key="theirs")
    services.submit_enquiry(clinic=clinic, name="Mine Patient", phone="9000000001")
    services.submit_enquiry(clinic=other, name="Their Patient", phone="9000000002")
    inbox = logged_in.get("/clinic/leads").text
    assert "Mine Patient" in inbox
    assert "Their Patient" not in inbox
    data = logged_in.get("/clinic/credits/history?format=json").json()
    assert data["total"] == 2
    assert {t["credits"] for t in data["transactions"]} == {1_000, -100}
    assert logged_in.get("/clinic/credits/balance").json() == {"balance": 900, "status": "success"}


# Portal pages -----------------------------------------------------------------------------


def test_dashboard_has_exactly_one_top_up_button_and_the_month_figures(logged_in, clinic):
    fund(clinic, 1_000)
    services.submit_enquiry(clinic=clinic, name="A", phone="9000000001")
    page = logged_in.get("/clinic/dashboard").text
    assert page.count("Top up credits") == 1
    assert 'href="/clinic/credits/topup"' in page
    assert 'data-testid="balance">900<' in page
    assert "credits spent this month" in page
    assert "₹1,00,000" in page or "₹100,000" in page  # the tier table


def test_top_up_page_offers_the_packages_and_labels_test_payment_mode(logged_in):
    response = logged_in.get("/clinic/credits/topup")
    assert response.status_code == 200
    assert "Test-payment mode" in response.text
    assert "₹50,000 → 62,500 credits" in response.text
    assert 'action="/create-razorpay-order"' in response.text
    assert "checkout.razorpay.com" not in response.text  # nothing loads from the internet


def test_low_and_negative_balance_banners(logged_in, clinic):
    clinic.credit_account.__class__.objects.filter(clinic=clinic).update(
        low_balance_threshold=500, overdraft_limit=200
    )
    fund(clinic, 300)
    assert "Low balance" in logged_in.get("/clinic/dashboard").text
    for i in range(5):
        services.submit_enquiry(clinic=clinic, name="A", phone=f"900000000{i}")
    page = logged_in.get("/clinic/dashboard").text
    assert "balance is negative" in page
    assert "Low balance" not in page


def test_inbox_filters_and_search(logged_in, clinic):
    fund(clinic, 10_000)
    peel = PackageFactory(clinic=clinic, name="Chemical peel")
    a = services.submit_enquiry(clinic=clinic, package=peel, name="Asha", phone="9000000001")
    b = services.submit_enquiry(clinic=clinic, name="Bala", phone="9000000002")
    services.update_lead_status(lead=b, status="booked", booked_for=date(2026, 5, 4))

    def shown(query):
        return [int(pk) for pk in _row_ids(logged_in.get(f"/clinic/leads?{query}").text)]

    assert shown("status=booked") == [b.pk]
    assert shown(f"package={peel.pk}") == [a.pk]
    assert shown("q=Bala") == [b.pk]
    assert shown("q=9000000001") == [a.pk]
    assert a.pk in shown(f"q={a.pk}")  # by lead number (digits may also match phones)
    assert shown("billing_state=charged") == [b.pk, a.pk]


def _without_csrf(html):
    return re.sub(r'("X-CSRFToken": "|name="csrfmiddlewaretoken" value=")[^"]+', r"\1", html)


def _row_ids(html):
    return re.findall(r'<tr id="lead-(\d+)"', html)


def test_held_leads_cannot_be_found_by_their_hidden_contact(logged_in, clinic):
    services.submit_enquiry(clinic=clinic, name="Hidden Person", phone="9000000005")
    text = logged_in.get("/clinic/leads?q=Hidden").text
    assert "No leads match" in text
    assert "9000000005" not in logged_in.get("/clinic/leads").text


def test_inbox_paginates_twenty_per_page(logged_in, clinic):
    fund(clinic, 10_000)
    for i in range(25):
        services.submit_enquiry(clinic=clinic, name=f"P{i}", phone=f"90000000{i:02d}")
    first, second = logged_in.get("/clinic/leads"), logged_in.get("/clinic/leads?page=2")
    assert len(_row_ids(first.text)) == 20
    assert len(_row_ids(second.text)) == 5
    assert "page=2" in first.text


def test_htmx_inbox_request_gets_only_the_table_fragment(logged_in, clinic):
    fund(clinic, 1_000)
    services.submit_enquiry(clinic=clinic, name="Asha", phone="9000000001")
    response = logged_in.get("/clinic/leads?status=new", HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert response.text.lstrip().startswith('<div id="lead-table"')
    assert "<html" not in response.text
    assert "Asha" in response.text


def test_status_update_by_htmx_returns_the_updated_row(logged_in, clinic):
    fund(clinic, 1_000)
    lead = services.submit_enquiry(clinic=clinic, name="Asha", phone="9000000001")
    response = logged_in.post(
        "/clinic/leads/update-status",
        {"lead_id": lead.pk, "status": "contacted"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    assert response.text.lstrip().startswith(f'<tr id="lead-{lead.pk}"')
    assert '<option value="contacted" selected>' in response.text
    lead.refresh_from_db()
    assert lead.status == "contacted"


def test_status_update_without_htmx_redirects_back(logged_in, clinic):
    fund(clinic, 1_000)
    lead = services.submit_enquiry(clinic=clinic, name="Asha", phone="9000000001")
    response = logged_in.post(
        "/clinic/leads/update-status",
        {
            "lead_id": lead.pk,
            "status": "booked",
            "booked_for": "2026-05-04",
            "next": "/clinic/leads?status=new",
        },
    )
    assert response.status_code == 302
    assert response["Location"] == "/clinic/leads?status=new"
    lead.refresh_from_db()
    assert lead.status == "booked"


@pytest.mark.parametrize(
    ("data", "code"),
    [({"lead_id": "abc", "status": "booked"}, 400), ({"lead_id": "999999", "status": "x"}, 404)],
)
def test_status_update_refuses_bad_input(logged_in, data, code):
    assert logged_in.post("/clinic/leads/update-status", data).status_code == code


def test_status_update_refuses_an_unknown_status_and_a_held_lead(logged_in, clinic):
    held = services.submit_enquiry(clinic=clinic, name="Asha", phone="9000000001")
    for status in ["contacted", "paid"]:
        response = logged_in.post(
            "/clinic/leads/update-status",
            {"lead_id": held.pk, "status": status},
            HTTP_HX_REQUEST="true",
        )
        assert response.status_code == 400
        assert 'role="alert"' in response.text
    held.refresh_from_db()
    assert held.status == "new"


def test_lead_detail_masks_a_held_lead(logged_in, clinic):
    lead = services.submit_enquiry(clinic=clinic, name="Asha Patel", phone="9876543210")
    page = logged_in.get(f"/clinic/leads/{lead.pk}").text
    assert "Asha Patel" not in page
    assert "9876543210" not in page
    assert "held" in page


def test_billing_dashboard_draws_thirty_days_of_spend(logged_in, clinic):
    fund(clinic, 1_000)
    services.submit_enquiry(clinic=clinic, name="A", phone="9000000001")
    page = logged_in.get("/clinic/billing-dashboard").text
    assert page.count("<rect ") == 30
    assert 'data-credits="100"' in page


def test_history_filters_paginate_and_download_csv(logged_in, clinic):
    for i in range(23):
        fund(clinic, 10 + i)
    services.submit_enquiry(clinic=clinic, name="A", phone="9000000001")
    page = logged_in.get("/clinic/credits/history")
    assert page.text.count('class="num credit"') + page.text.count('class="num debit"') == 20
    only_charges = logged_in.get("/clinic/credits/history?kind=lead_charge").text
    assert only_charges.count('class="num debit"') == 1
    assert 'class="num credit"' not in only_charges
    download = logged_in.get("/clinic/credits/history?kind=purchase&format=csv")
    assert download["Content-Type"] == "text/csv"
    assert "attachment" in download["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(b"".join(download.streaming_content).decode())))
    assert rows[0][:4] == ["id", "created_at", "kind", "credits"]
    assert len(rows) == 24
    assert {row[2] for row in rows[1:]} == {"purchase"}


def test_history_json_by_accept_header_and_by_format(logged_in, clinic):
    for i in range(5):
        fund(clinic, 100 + i)
    by_header = logged_in.get(
        "/clinic/credits/history?limit=2&page=2", HTTP_ACCEPT="application/json"
    )
    by_format = logged_in.get("/clinic/credits/history?format=json&limit=2&page=2")
    assert by_header.json() == by_format.json()
    body = by_header.json()
    assert (body["total"], body["page"], len(body["transactions"])) == (5, 2, 2)
    assert body["transactions"][0]["credits"] == 102
    assert set(body["transactions"][0]) == {
        "id",
        "created_at",
        "kind",
        "credits",
        "balance_after",
        "lead",
        "memo",
    }


@pytest.mark.parametrize("query", ["limit=0", "page=-1", "limit=abc", "date_from=yesterday"])
def test_history_json_refuses_bad_parameters(logged_in, query):
    response = logged_in.get(f"/clinic/credits/history?format=json&{query}")
    assert response.status_code == 400


def test_history_json_past_the_last_page_is_empty(logged_in, clinic):
    fund(clinic, 100)
    body = logged_in.get("/clinic/credits/history?format=json&page=9").json()
    assert (body["transactions"], body["total"], body["page"]) == ([], 1, 9)


def test_a_member_of_two_clinics_can_switch_between_them(client):
    user = UserFactory()
    first = ClinicMemberFactory(user=user, clinic=ClinicFactory(name="Alpha Clinic")).clinic
    second = ClinicMemberFactory(user=user, clinic=ClinicFactory(name="Beta Clinic")).clinic
    fund(second, 777)
    client.force_login(user)
    assert "Alpha Clinic" in client.get("/clinic/dashboard").text.split("</header>")[0]
    response = client.post("/clinic/switch", {"clinic_id": second.pk})
    assert response.status_code == 302
    assert client.get("/clinic/credits/balance").json()["balance"] == 777
    assert first.pk != second.pk


def test_switching_to_a_clinic_you_do_not_belong_to_is_refused(logged_in, clinic):
    stranger = ClinicFactory()
    fund(stranger, 5_000)
    response = logged_in.post("/clinic/switch", {"clinic_id": stranger.pk}, follow=True)
    assert "not a member of that clinic" in response.text
    assert logged_in.get("/clinic/credits/balance").json()["balance"] == 0
    assert CreditTransaction.objects.filter(account__clinic=clinic).count() == 0


def test_login_logout_and_password_reset_work(client, member):
    member.email = "owner@example.com"
    member.save()
    assert client.get("/accounts/login/").status_code == 200
    response = client.post("/accounts/password_reset/", {"email": "owner@example.com"})
    assert response.status_code == 302
    assert len(mail.outbox) == 1
    assert "/accounts/reset/" in mail.outbox[0].body
    client.force_login(member)
    assert client.post("/accounts/logout/").status_code == 302
    assert client.get("/clinic/dashboard").status_code == 302
