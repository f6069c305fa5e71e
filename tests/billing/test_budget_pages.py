"""The budget in the portal (/clinic/budget), the admin, and the public pages."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone

from billing import services
from billing.models import CreditAccount
from leads.models import ClinicMember, Lead
from tests.factories import ClinicFactory, ClinicMemberFactory, PackageFactory, StaffFactory, fund
from tests.otp import login_with_otp

pytestmark = pytest.mark.django_db

URL = "/clinic/budget"


def member(clinic, role, client):
    membership = ClinicMemberFactory(clinic=clinic, role=role)
    client.force_login(membership.user)
    return membership.user


def account(clinic):
    return CreditAccount.objects.get(clinic=clinic)


def post(client, **data):
    form = {"weekly_cap": "", "monthly_cap": "", "pause": "running", "pause_until": ""}
    form.update({k: str(v) for k, v in data.items()})
    return client.post(URL, form)


def pause(clinic, **changes):
    values = {"weekly_cap": None, "monthly_cap": None, "paused": True, **changes}
    services.set_budget(account=account(clinic), actor=None, **values)


# The portal page ---------------------------------------------------------------------------


@pytest.mark.parametrize("role", [ClinicMember.Role.OWNER, ClinicMember.Role.BILLING])
def test_owners_and_billing_members_set_caps_and_the_history_names_them(client, clinic, role):
    user = member(clinic, role, client)
    response = post(client, weekly_cap=500, monthly_cap="1,500".replace(",", ""))
    assert response.status_code == 302
    saved = account(clinic)
    assert (saved.weekly_cap, saved.monthly_cap, saved.paused) == (500, 1500, False)
    assert saved.history.latest("history_id").history_user == user
    page = client.get(URL).text
    assert user.username in page  # the changes table
    assert 'data-testid="week-spent">0 / 500' in page


def test_the_page_shows_spend_against_the_caps_and_the_next_resets(client, clinic):
    member(clinic, "owner", client)
    fund(clinic, 1_000)
    services.set_budget(
        account=account(clinic), actor=None, weekly_cap=300, monthly_cap=None, paused=False
    )
    from tests.factories import LeadFactory

    services.charge_lead(lead=LeadFactory(clinic=clinic))
    page = client.get(URL).text
    assert 'data-testid="week-spent">100 / 300' in page
    assert 'data-testid="month-spent">100<' in page
    today = timezone.localdate()
    monday = today + timedelta(days=7 - today.weekday())
    assert f"resets {monday:%a} {monday.day} {monday:%b %Y}, 00:00 IST" in page


def test_pausing_until_a_date_and_until_resumed(client, clinic):
    member(clinic, "owner", client)
    tomorrow = timezone.localdate() + timedelta(days=1)
    assert post(client, pause="until_date", pause_until=tomorrow.isoformat()).status_code == 302
    saved = account(clinic)
    assert saved.paused and timezone.localdate(saved.pause_ends_at) == tomorrow
    assert "Leads are paused until" in client.get(URL).text
    assert post(client, pause="until_resumed").status_code == 302
    saved = account(clinic)
    assert saved.paused and saved.pause_ends_at is None
    assert "until you resume" in client.get(URL).text
    assert post(client).status_code == 302
    assert not account(clinic).paused


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"weekly_cap": 0}, "at least 1 credit"),
        ({"monthly_cap": -10}, "at least 1 credit"),
        ({"weekly_cap": "1.5"}, "Enter a whole number."),
        ({"weekly_cap": "lots"}, "Enter a whole number."),
        ({"pause": "until_date"}, "Choose the day the pause ends."),
        ({"pause": "until_date", "pause_until": "2020-01-01"}, "later day than today"),
        ({"pause": "until_date", "pause_until": "not a date"}, "Enter a valid date."),
        ({"pause": "sometimes"}, "Select a valid choice."),
    ],
)
def test_bad_input_is_refused_with_the_reason_and_saves_nothing(client, clinic, data, message):
    member(clinic, "owner", client)
    response = post(client, **data)
    assert response.status_code == 400
    assert message in response.text
    saved = account(clinic)
    assert (saved.weekly_cap, saved.monthly_cap, saved.paused) == (None, None, False)


def test_front_desk_may_neither_see_nor_set_the_budget(client, clinic):
    member(clinic, "front_desk", client)
    assert client.get(URL).status_code == 403
    assert post(client, weekly_cap=1).status_code == 403
    assert account(clinic).weekly_cap is None
    assert URL not in client.get("/clinic/dashboard").text


def test_a_member_of_another_clinic_changes_only_their_own(client, clinic):
    other = ClinicFactory()
    member(other, "owner", client)
    session = client.session
    session["clinic_id"] = clinic.pk  # try to act on a clinic they are not a member of
    session.save()
    assert post(client, weekly_cap=5).status_code in (302, 403)
    assert account(clinic).weekly_cap is None


def test_logged_out_visitors_are_sent_to_log_in(client):
    response = client.get(URL)
    assert response.status_code == 302 and "/login" in response["Location"]


# The admin ---------------------------------------------------------------------------------


def admin_post(client, clinic, **data):
    form = {
        "overdraft_limit": 0,
        "low_balance_threshold": 500,
        "weekly_cap": "",
        "monthly_cap": "",
        "pause_until": "",
        "change_reason": "Clinic asked by phone",
    }
    form.update(data)
    return client.post(f"/admin/billing/creditaccount/{account(clinic).pk}/change/", form)


@pytest.fixture
def billing_staff(client):
    user = StaffFactory(username="billing-staff")
    user.groups.add(Group.objects.get(name="Billing staff"))
    login_with_otp(client, user)
    return user


def test_staff_set_caps_and_pause_in_the_admin_through_the_service(client, billing_staff):
    admin_client, admin_user = client, billing_staff
    clinic = ClinicFactory()
    until = timezone.localdate() + timedelta(days=3)
    response = admin_post(
        admin_client, clinic, weekly_cap=700, paused="on", pause_until=until.isoformat()
    )
    assert response.status_code == 302
    saved = account(clinic)
    assert (saved.weekly_cap, saved.paused) == (700, True)
    assert timezone.localdate(saved.pause_ends_at) == until
    latest = saved.history.latest("history_id")
    assert (latest.history_user, latest.history_change_reason) == (
        admin_user,
        "Clinic asked by phone",
    )


def test_the_admin_shows_refusals_and_saves_nothing(client, billing_staff):
    clinic = ClinicFactory()
    response = admin_post(client, clinic, monthly_cap=0)
    assert response.status_code == 200
    assert "at least 1 credit" in response.text
    response = admin_post(client, clinic, paused="", pause_until="2030-01-01")
    assert response.status_code == 302  # the service refused: shown as a message
    assert "needs a pause" in client.get(response["Location"]).text
    assert account(clinic).monthly_cap is None


def test_read_only_staff_cannot_change_a_budget(client):
    clinic = ClinicFactory()
    auditor = StaffFactory(username="auditor")
    auditor.groups.add(Group.objects.get(name="Read-only auditors"))
    login_with_otp(client, auditor)
    assert admin_post(client, clinic, weekly_cap=1).status_code == 403
    assert account(clinic).weekly_cap is None


# The public pages --------------------------------------------------------------------------


@pytest.fixture
def market(clinic):
    mine = PackageFactory(clinic=clinic, price_paise=7_000_00)  # tier from ₹5,000
    same_tier = PackageFactory(price_paise=9_000_00, name="Peel")
    other_tier = PackageFactory(price_paise=30_000_00, name="Implant")
    closed_too = PackageFactory(price_paise=6_000_00, name="Closed")
    pause(closed_too.clinic)
    return mine, same_tier, other_tier, closed_too


def test_a_paused_clinic_says_so_and_lists_open_clinics_in_the_same_price_tier(
    client, clinic, market
):
    mine, same_tier, other_tier, closed_too = market
    pause(clinic)
    for url in [f"/clinics/{clinic.slug}/", f"/packages/{mine.pk}/"]:
        page = client.get(url).text
        assert "is not taking new enquiries at the moment" in page
        assert 'id="enquiry-form"' not in page
        assert same_tier.clinic.name in page
        assert other_tier.clinic.name not in page
        assert closed_too.clinic.name not in page


def test_a_capped_clinic_takes_no_enquiry_and_records_nothing(client, clinic, market):
    mine, *_ = market
    fund(clinic, 1_000)
    services.set_budget(
        account=account(clinic), actor=None, weekly_cap=50, monthly_cap=None, paused=False
    )
    response = client.post(
        "/contact-clinic",
        {"package": mine.pk, "name": "Asha", "phone": "9000000001", "consent": "on"},
    )
    assert response.status_code == 409
    assert "is not taking new enquiries" in response.text
    assert not Lead.objects.filter(clinic=clinic).exists()


def test_a_clinic_with_room_takes_enquiries_as_before(client, clinic, market):
    mine, *_ = market
    fund(clinic, 1_000)
    services.set_budget(
        account=account(clinic), actor=None, weekly_cap=1_000, monthly_cap=None, paused=False
    )
    assert 'id="enquiry-form"' in client.get(f"/packages/{mine.pk}/").text
    response = client.post(
        "/contact-clinic",
        {"package": mine.pk, "name": "Asha", "phone": "9000000001", "consent": "on"},
    )
    assert response.status_code == 302
    assert Lead.objects.get(clinic=clinic).billing_state == "charged"


def test_a_pause_that_has_ended_opens_the_pages_again(client, clinic, monkeypatch):
    pause(clinic, pause_until=timezone.localdate() + timedelta(days=1))
    assert "not taking new enquiries" in client.get(f"/clinics/{clinic.slug}/").text
    later = timezone.now() + timedelta(days=2)
    monkeypatch.setattr(timezone, "now", lambda: later)
    assert "not taking new enquiries" not in client.get(f"/clinics/{clinic.slug}/").text


def test_an_over_budget_lead_page_explains_and_masks(client, clinic):
    from leads import services as leads

    pause(clinic)
    lead = leads.submit_enquiry(clinic=clinic, name="Asha Patel", phone="9000000001")
    member(clinic, "owner", client)
    page = client.get(f"/clinic/leads/{lead.pk}").text
    assert "arrived over your budget" in page
    assert "Asha Patel" not in page and "90000 00001" not in page
    assert "waiting over your budget" in client.get("/clinic/dashboard").text
