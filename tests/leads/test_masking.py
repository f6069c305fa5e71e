"""While a patient's original lead is held, every duplicate of it is masked too: in the
inbox, on the lead page, in search, in exports and in the API. One rule decides it
(``Lead.contact_masked`` / ``CONTACT_PAID_FOR``)."""

from urllib.parse import quote_plus

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from leads import services
from leads.models import Lead
from leads.selectors import lead_contact
from tests.factories import ClinicFactory, ClinicMemberFactory, fund

pytestmark = pytest.mark.django_db

NAME, PHONE, EMAIL, SECRET = "Asha Patel", "9876543210", "asha@example.com", "call after 6pm"
REVEALING = [NAME, PHONE, EMAIL, SECRET]


@pytest.fixture(autouse=True)
def fresh_rate_limit():
    cache.clear()


@pytest.fixture
def logged_in(client, clinic):
    client.force_login(ClinicMemberFactory(clinic=clinic).user)
    return client


def enquire(clinic, phone=PHONE):
    return services.submit_enquiry(
        clinic=clinic, name=NAME, phone=phone, email=EMAIL, message=SECRET
    )


@pytest.fixture
def held_pair(clinic):
    """The clinic has no credits: the original is held, the repeat is a free duplicate."""
    original, duplicate = enquire(clinic), enquire(clinic)
    assert (original.billing_state, duplicate.billing_state) == ("held", "duplicate")
    assert duplicate.duplicate_of_id == original.pk
    return original, duplicate


def _reveals(text):
    return [secret for secret in REVEALING if secret in text]


def test_a_duplicate_of_a_held_lead_is_masked(held_pair):
    _, duplicate = held_pair
    duplicate = Lead.objects.get(pk=duplicate.pk)
    assert duplicate.contact_masked
    contact = lead_contact(duplicate)
    assert contact.masked
    assert _reveals(" ".join([contact.name, contact.phone, contact.email, contact.message])) == []


def test_inbox_shows_nothing_of_a_held_lead_or_its_duplicate(logged_in, held_pair):
    for headers in [{}, {"HTTP_HX_REQUEST": "true"}]:
        page = logged_in.get("/clinic/leads", **headers)
        assert page.status_code == 200
        assert _reveals(page.text) == []
        assert page.text.count('data-testid="lead-row"') == 2


def test_lead_page_of_the_duplicate_shows_nothing(logged_in, held_pair):
    _, duplicate = held_pair
    page = logged_in.get(f"/clinic/leads/{duplicate.pk}")
    assert page.status_code == 200
    assert _reveals(page.text) == []
    assert "held" in page.text


@pytest.mark.parametrize("query", [PHONE, "+91" + PHONE, PHONE[-4:], "Asha", "Patel"])
def test_search_by_contact_finds_neither_the_held_lead_nor_its_duplicate(
    logged_in, held_pair, query
):
    page = logged_in.get("/clinic/leads", {"q": query})
    assert "No leads match" in page.text
    # Bar the search itself: the box, and the links that keep it (export, reload).
    echoed = page.text.replace(f'value="{query}"', "").replace(f"q={quote_plus(query)}", "")
    assert _reveals(echoed) == []


def test_the_duplicate_cannot_be_worked_while_the_original_is_held(logged_in, held_pair):
    _, duplicate = held_pair
    response = logged_in.post(
        "/clinic/leads/update-status",
        {"lead_id": duplicate.pk, "status": "contacted"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 400
    assert _reveals(response.text) == []
    duplicate.refresh_from_db()
    assert duplicate.status == "new"


def test_exports_and_json_never_carry_the_contact(logged_in, clinic, held_pair):
    fund(ClinicFactory(), 10)  # someone else's activity, so the exports are not trivially empty
    surfaces = [
        b"".join(logged_in.get("/clinic/credits/history?format=csv").streaming_content).decode(),
        logged_in.get("/clinic/credits/history?format=json").text,
        logged_in.get("/clinic/credits/balance").text,
        logged_in.get("/clinic/dashboard").text,
    ]
    assert [_reveals(text) for text in surfaces] == [[]] * len(surfaces)


def test_both_are_revealed_once_the_original_is_paid_for(
    logged_in, clinic, held_pair, django_capture_on_commit_callbacks
):
    original, duplicate = held_pair
    with django_capture_on_commit_callbacks(execute=True):
        fund(clinic, 100)  # releases the original
    original.refresh_from_db()
    assert original.billing_state == "charged"
    assert not Lead.objects.get(pk=duplicate.pk).contact_masked
    assert NAME in logged_in.get(f"/clinic/leads/{duplicate.pk}").text
    found = logged_in.get("/clinic/leads", {"q": PHONE}).text
    assert found.count('data-testid="lead-row"') == 2


def test_a_duplicate_of_a_charged_lead_is_visible_at_once(logged_in, clinic):
    fund(clinic, 1_000)
    enquire(clinic)
    duplicate = enquire(clinic)
    assert duplicate.billing_state == "duplicate"
    assert not lead_contact(Lead.objects.get(pk=duplicate.pk)).masked
    assert PHONE in logged_in.get(f"/clinic/leads/{duplicate.pk}").text


def test_the_inbox_reads_the_rule_in_a_constant_number_of_queries(logged_in, clinic):
    def queries():
        with CaptureQueriesContext(connection) as captured:
            logged_in.get("/clinic/leads")
        return len(captured)

    enquire(clinic)
    enquire(clinic)
    few = queries()
    for _ in range(5):
        enquire(clinic)
    assert queries() == few
