"""Issue #18's view-level items: dispute state on leads, free duplicates, status saved in place,
phone search, bad filters, the enquiry form's message limit and rate-limit page, and #19's
quality score as the clinic sees it."""

import json

import pytest
from django.core.cache import cache

from disputes import services as disputes
from leads import services as leads
from tests.factories import ClinicFactory, ClinicMemberFactory, PackageFactory, StaffFactory, fund

pytestmark = pytest.mark.django_db

DESCRIPTION = "The number is switched off; we called three times over two days."


@pytest.fixture(autouse=True)
def fresh_rate_limit():
    cache.clear()


@pytest.fixture
def member(clinic):
    """A signed-in owner of ``clinic``: use the ``portal`` client to act as them."""
    return ClinicMemberFactory(clinic=clinic, role="owner").user


@pytest.fixture
def portal(client, member):
    client.force_login(member)
    yield client
    client.logout()


def _lead(clinic, phone="9876543210"):
    return leads.submit_enquiry(clinic=clinic, name="Asha Patel", phone=phone)


def _dispute(lead, user):
    return disputes.open_dispute(
        lead=lead, user=user, dispute_type="invalid_contact", description=DESCRIPTION, evidence=[]
    )


def _row(page, lead):
    start = page.index(f'id="lead-{lead.pk}"')
    return page[start : page.index("</tr>", start)]


# Item 5: dispute state ---------------------------------------------------------------------


def test_each_lead_shows_its_dispute_state_and_offers_dispute_only_where_possible(
    portal, clinic, member
):
    fund(clinic, 1_000)
    plain, pending, refunded, rejected, cancelled = (
        _lead(clinic, f"98765432{i:02d}") for i in range(5)
    )
    _dispute(pending, member)
    staff = StaffFactory()
    disputes.approve_dispute(dispute=_dispute(refunded, member), actor=staff)
    disputes.reject_dispute(dispute=_dispute(rejected, member), actor=staff, notes="Real lead.")
    disputes.cancel_dispute(dispute=_dispute(cancelled, member), user=member)
    page = portal.get("/clinic/leads").text
    rows = {lead: _row(page, lead) for lead in (plain, pending, refunded, rejected, cancelled)}
    assert "Disputed: pending" in rows[pending]
    assert f"Disputed: refunded {refunded.price_credits}" in rows[refunded]
    assert "Disputed: rejected" in rows[rejected]
    for lead in (plain, cancelled):  # a cancelled dispute may be opened again
        assert "Disputed" not in rows[lead] and 'data-testid="dispute-link"' in rows[lead]
    for lead in (pending, refunded, rejected):
        assert 'data-testid="dispute-link"' not in rows[lead]
    detail = portal.get(f"/clinic/leads/{refunded.pk}").text
    assert f"Disputed: refunded {refunded.price_credits}" in detail


# Item 12: free duplicates ------------------------------------------------------------------


def test_a_free_duplicate_shows_free_not_a_price(portal, clinic):
    fund(clinic, 1_000)
    _lead(clinic)
    duplicate = _lead(clinic)
    assert duplicate.billing_state == "duplicate"
    row = _row(portal.get("/clinic/leads").text, duplicate)
    assert "free (duplicate)" in row and f">{duplicate.price_credits}<" not in row
    detail = portal.get(f"/clinic/leads/{duplicate.pk}").text
    assert "free (duplicate)" in detail and f"{duplicate.price_credits} credits" not in detail


# Item 8: status change confirmed in place --------------------------------------------------


def test_a_status_change_from_the_inbox_is_confirmed_in_its_row(portal, clinic):
    fund(clinic, 1_000)
    lead = _lead(clinic)
    response = portal.post(
        "/clinic/leads/update-status",
        {"lead_id": lead.pk, "status": "contacted"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    assert 'data-testid="status-saved"' in response.text and "Saved: contacted" in response.text
    refused = portal.post(
        "/clinic/leads/update-status", {"lead_id": lead.pk, "status": "x"}, HTTP_HX_REQUEST="true"
    )
    assert refused.status_code == 400 and "status-saved" not in refused.text


# Item 8: phone search ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "typed",
    ["9876543210", "98765 43210", "+91 98765-43210", "098765 43210", "919876543210", "98765 432"],
)
def test_phone_search_finds_the_stored_number_however_it_is_typed(portal, clinic, typed):
    fund(clinic, 1_000)
    wanted = _lead(clinic, "9876543210")
    other = _lead(clinic, "9123456789")
    page = portal.get("/clinic/leads", {"q": typed}).text
    assert f'id="lead-{wanted.pk}"' in page and f'id="lead-{other.pk}"' not in page


def test_intake_stores_e164_and_refuses_numbers_that_cannot_exist():
    assert leads.normalise_phone("098765 43210") == "+919876543210"
    with pytest.raises(Exception, match="Indian mobile"):
        leads.normalise_phone("5876543210")  # a landline range, not a mobile
    with pytest.raises(Exception, match="Indian mobile"):
        leads.normalise_phone("98765abcde")  # no keypad letters


# Item 8: bad filters -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"date_from": "2026-03-10", "date_to": "2026-03-01"}, "is after the end date"),
        ({"date_from": "2026-13-45"}, "Enter a valid date"),
    ],
)
def test_bad_inbox_filters_show_an_error_not_every_lead(portal, clinic, query, message):
    fund(clinic, 1_000)
    lead = _lead(clinic)
    page = portal.get("/clinic/leads", query)
    assert page.status_code == 400
    assert 'data-testid="filter-errors"' in page.text and message in page.text
    assert f'id="lead-{lead.pk}"' not in page.text
    htmx = portal.get("/clinic/leads", query, HTTP_HX_REQUEST="true")
    assert htmx.status_code == 400 and message in htmx.text
    csv = portal.get("/clinic/leads", {**query, "format": "csv"})
    assert csv.status_code == 400 and message in csv.content.decode()


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"date_from": "2026-03-10", "date_to": "2026-03-01"}, "start date is after the end date"),
        ({"date_to": "yesterday"}, "Enter a valid date"),
        ({"kind": "gift"}, "Select a valid choice"),
    ],
)
def test_history_page_csv_and_json_all_refuse_bad_filters(portal, clinic, query, message):
    fund(clinic, 1_000)
    page = portal.get("/clinic/credits/history", query)
    assert page.status_code == 400 and message in page.text
    assert 'data-testid="filter-errors"' in page.text
    csv = portal.get("/clinic/credits/history", {**query, "format": "csv"})
    assert csv.status_code == 400 and message in csv.content.decode()
    api = portal.get("/clinic/credits/history", {**query, "format": "json"})
    assert api.status_code == 400 and message in json.dumps(api.json())


# Item 8: the enquiry message is never cut without a word -----------------------------------


def test_the_message_box_states_its_limit_and_a_longer_message_comes_back_whole(client, clinic):
    package = PackageFactory(clinic=clinic)
    form = client.get(f"/packages/{package.pk}/").text
    assert "Up to 2,000 characters." in form and 'data-max-chars="2000"' in form
    assert 'maxlength="2000"' not in form  # the browser would cut a paste silently
    long = "Is Saturday possible?" * 100  # 2,100 characters
    response = client.post(
        "/contact-clinic",
        {
            "name": "Asha",
            "phone": "9876543210",
            "message": long,
            "consent": "on",
            "package": package.pk,
        },
    )
    assert response.status_code == 400
    assert "Your message is 2100 characters; the limit is 2000" in response.text
    assert long in response.text


# Item 3: the rate-limited enquiry --------------------------------------------------------------


def test_a_rate_limited_enquiry_keeps_the_form_and_says_when_to_try_again(client, settings):
    settings.LEAD_RATE_LIMIT = 1
    clinic = ClinicFactory()
    fund(clinic, 1_000)
    base = {"name": "Asha", "consent": "on", "clinic": clinic.pk, "message": "Saturday?"}
    assert client.post("/contact-clinic", {**base, "phone": "9876543210"}).status_code == 302
    refused = client.post("/contact-clinic", {**base, "phone": "9123456789"})
    assert refused.status_code == 429
    minutes = -(-settings.LEAD_RATE_WINDOW_SECONDS // 60)
    assert f"try again in {minutes} minutes" in refused.text
    assert "9123456789" in refused.text and "Saturday?" in refused.text
    assert "reached" not in refused.text and "were sent" not in refused.text


# #19 item 14 and #18 item 13: the quality card ---------------------------------------------


def test_the_quality_card_shows_how_the_score_was_computed(portal, clinic, member):
    fund(clinic, 100_000)
    made = [_lead(clinic, f"98{i:08d}") for i in range(100)]
    _dispute(made[0], member)
    disputes.reject_dispute(dispute=_dispute(made[1], member), actor=StaffFactory(), notes="Fine.")
    page = portal.get("/clinic/disputes").text
    assert 'data-testid="quality">Good<' in page  # 1 standing dispute in 100 leads
    assert "1 standing dispute" in page and "on 100 charged leads = 0.1 per 10 leads" in page
    assert "rounded half up to 0" in page


def test_cancelling_a_dispute_in_place_tells_the_quality_card_to_refresh(portal, clinic, member):
    fund(clinic, 1_000)
    dispute = _dispute(_lead(clinic), member)
    response = portal.post(f"/clinic/disputes/{dispute.pk}/cancel", HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and response["HX-Trigger"] == "disputesChanged"
    page = portal.get("/clinic/disputes").text
    assert 'hx-trigger="disputesChanged from:body"' in page
    assert 'data-testid="quality">Good<' in page
