"""Hostile and malformed input on the lead pages: refused with a 4xx, never a 5xx, never an
open redirect. Every value is parsed by a form field (no isdigit() then int())."""

import pytest
from django.core.cache import cache
from django.utils.encoding import iri_to_uri

from leads import services
from leads.models import Lead
from tests.factories import ClinicMemberFactory, PackageFactory, fund

pytestmark = pytest.mark.django_db

HUGE = "9" * 5000  # more digits than int() accepts from a string
BIGGER_THAN_BIGINT = "9" * 20
NOT_NUMBERS = ["x", "1.5", "²", "٣٣x", HUGE, BIGGER_THAN_BIGINT, "-1", "1\x00", " ", "1e3"]


@pytest.fixture(autouse=True)
def fresh_rate_limit():
    cache.clear()


@pytest.fixture
def logged_in(client, clinic):
    client.force_login(ClinicMemberFactory(clinic=clinic).user)
    return client


@pytest.fixture
def charged(clinic):
    fund(clinic, 1_000)
    return services.submit_enquiry(clinic=clinic, name="Asha", phone="9000000001")


def _enquiry(**fields):
    data = {"name": "Asha Patel", "phone": "98765 43210", "consent": "on", "website": ""}
    data.update(fields)
    return data


# Open redirect ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example",
        "https://evil.example/clinic/leads",
        "//evil.example",
        "///evil.example",
        "/\\evil.example",
        "\\\\evil.example",
        "a:b",
        "javascript:alert(1)",
        "JavaScript:alert(1)",
        "http://testserver@evil.example/",
    ],
)
def test_status_form_never_redirects_off_site(logged_in, charged, target):
    response = logged_in.post(
        "/clinic/leads/update-status",
        {"lead_id": charged.pk, "status": "contacted", "next": target},
    )
    assert response.status_code == 302
    assert response["Location"] == f"/clinic/leads/{charged.pk}"
    charged.refresh_from_db()
    assert charged.status == "contacted"


@pytest.mark.parametrize("target", ["²", "x", "leads:dashboard", "dashboard"])
def test_status_form_never_takes_next_for_a_view_name(logged_in, charged, target):
    """redirect() reverses a string without "/" or "." as a view name: "²" was a 500."""
    response = logged_in.post(
        "/clinic/leads/update-status",
        {"lead_id": charged.pk, "status": "contacted", "next": target},
    )
    assert response.status_code == 302
    assert response["Location"] in (f"/clinic/leads/{charged.pk}", iri_to_uri(target))
    charged.refresh_from_db()
    assert charged.status == "contacted"


def test_status_form_keeps_a_local_next(logged_in, charged):
    response = logged_in.post(
        "/clinic/leads/update-status",
        {"lead_id": charged.pk, "status": "lost", "next": "/clinic/leads?status=new&page=2"},
    )
    assert response["Location"] == "/clinic/leads?status=new&page=2"


# Numbers that are not numbers ---------------------------------------------------------------


@pytest.mark.parametrize("lead_id", NOT_NUMBERS)
def test_status_update_refuses_a_lead_id_that_is_not_a_lead_number(logged_in, charged, lead_id):
    response = logged_in.post(
        "/clinic/leads/update-status", {"lead_id": lead_id, "status": "contacted"}
    )
    assert response.status_code in (400, 404)
    charged.refresh_from_db()
    assert charged.status == "new"


def test_status_update_refuses_a_status_with_a_nul_byte(logged_in, charged):
    response = logged_in.post(
        "/clinic/leads/update-status",
        {"lead_id": charged.pk, "status": "contacted\x00"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 400
    charged.refresh_from_db()
    assert charged.status == "new"


@pytest.mark.parametrize("query", NOT_NUMBERS)
def test_inbox_search_survives_anything_that_looks_like_a_number(logged_in, charged, query):
    response = logged_in.get("/clinic/leads", {"q": query})
    # Text is a search; what no search can be (a NUL, 5,000 digits) is a shown error (issue 18).
    assert response.status_code in (200, 400)
    if response.status_code == 400:
        assert 'data-testid="filter-errors"' in response.text


@pytest.mark.parametrize("param", ["package", "page", "date_from", "status", "billing_state"])
@pytest.mark.parametrize("value", ["x", "²", HUGE, BIGGER_THAN_BIGINT, "\x00"])
def test_inbox_filters_survive_garbage(logged_in, charged, param, value):
    response = logged_in.get("/clinic/leads", {param: value})
    if param == "page":  # a page past the end or not a number is the last or first page
        assert response.status_code == 200
    else:  # a filter that cannot be applied is said, never ignored (issue 18, item 8)
        assert response.status_code == 400
        assert 'data-testid="filter-errors"' in response.text


@pytest.mark.parametrize("path", ["/packages/{}/", "/clinic/leads/{}"])
def test_out_of_range_ids_in_the_path_are_404(logged_in, path):
    assert logged_in.get(path.format(BIGGER_THAN_BIGINT)).status_code == 404


@pytest.mark.parametrize("value", NOT_NUMBERS)
@pytest.mark.parametrize("field", ["package", "clinic"])
def test_enquiry_refuses_a_package_or_clinic_that_is_not_a_number(client, clinic, field, value):
    PackageFactory(clinic=clinic)
    response = client.post("/contact-clinic", _enquiry(**{field: value}))
    assert response.status_code == 400
    assert "Your enquiry was not sent" in response.text or 'role="alert"' in response.text
    assert not Lead.objects.exists()


def test_enquiry_with_a_valid_package_and_a_garbage_clinic_re_renders_the_package_page(
    client, clinic
):
    package = PackageFactory(clinic=clinic, name="Hydrafacial")
    response = client.post("/contact-clinic", _enquiry(package=package.pk, phone="12345"))
    assert response.status_code == 400
    assert "Hydrafacial" in response.text
    assert 'value="Asha Patel"' in response.text  # the patient's input is kept


@pytest.mark.parametrize("field", ["name", "phone", "email", "message", "website"])
def test_enquiry_refuses_nul_bytes_in_every_text_field(client, clinic, field):
    value = {"email": "asha\x00@example.com", "phone": "98765\x0043210"}.get(field, "Asha\x00")
    response = client.post("/contact-clinic", _enquiry(clinic=clinic.pk, **{field: value}))
    assert response.status_code == 400
    assert not Lead.objects.exists()


def test_switching_to_a_clinic_id_that_is_not_a_number_is_refused(logged_in):
    for value in ["²", HUGE, "\x00", "1.5"]:
        response = logged_in.post("/clinic/switch", {"clinic_id": value}, follow=True)
        assert "not a member of that clinic" in response.text
