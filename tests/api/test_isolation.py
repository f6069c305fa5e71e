"""Key isolation: from clinic B's key, 0 of clinic A's rows over every endpoint of the API.

The endpoints come from the resolver, so a new one fails ``test_every_endpoint_is_covered``
until it is listed here with what clinic A's row would look like through it.
"""

import re

import pytest

from leads.models import Lead
from tests.disputes.conftest import DESCRIPTION
from tests.test_fuzz import ROUTES

pytestmark = pytest.mark.django_db

API_ROUTES = {r.name: r for r in ROUTES if (r.name or "").startswith("api-v1:")}
PUBLIC = {"api-v1:schema", "api-v1:docs", "api-v1:not-found"}

# List endpoints: route name -> the attribute of a Side whose rows it lists.
LISTS = {
    "api-v1:lead-list": ["charged", "booked", "held"],
    "api-v1:dispute-list": ["dispute"],
    "api-v1:payment-list": ["order"],
    "api-v1:document-list": ["order"],
    "api-v1:tax-document-list": ["invoice"],
    "api-v1:webhook-endpoint-list": ["endpoint"],
    "api-v1:ledger-entry-list": [],  # checked by lead and balance below
}
# Detail and write endpoints: route name -> (method, the Side attribute in the path, body).
OBJECTS = {
    "api-v1:lead-detail": [
        ("get", "held", None),
        ("get", "booked", None),
        ("patch", "booked", {"status": "lost"}),
    ],
    "api-v1:dispute-detail": [("get", "dispute", None)],
    "api-v1:tax-document-detail": [("get", "invoice", None)],
    "api-v1:tax-document-pdf": [("get", "invoice", None)],
    "api-v1:dispute-cancel": [("post", "dispute", {})],
    "api-v1:webhook-endpoint-detail": [
        ("get", "endpoint", None),
        ("patch", "endpoint", {"url": "http://127.0.0.1:9/stolen", "enabled": False}),
        ("delete", "endpoint", None),
    ],
    "api-v1:webhook-endpoint-roll-secret": [("post", "endpoint", {})],
    "api-v1:webhook-endpoint-send-test": [("post", "endpoint", {})],
    "api-v1:webhook-endpoint-deliveries": [("get", "endpoint", None)],
}
SINGLETONS = {"api-v1:balance"}


def test_every_endpoint_is_covered():
    assert len(API_ROUTES) >= 9
    covered = set(LISTS) | set(OBJECTS) | SINGLETONS | PUBLIC
    assert set(API_ROUTES) == covered


def _path(name, pk=None):
    route = API_ROUTES[name]
    return route.path({p.name: str(pk) for p in route.params})


@pytest.mark.parametrize("name", sorted(LISTS))
def test_lists_show_none_of_another_clinics_rows(a, b, name):
    response = b.client().get(_path(name))
    assert response.status_code == 200
    text = response.content.decode()
    for attribute in LISTS[name]:
        ids = {item["id"] for item in response.json()["results"]}
        own = getattr(a, attribute).pk
        assert own not in ids and f"receipt-{own}" not in ids
    assert "Alpha Clinic" not in text and "9000000" not in text and "Hidden Person" not in text


@pytest.mark.parametrize("name", sorted(LISTS))
def test_lists_show_only_own_rows_by_their_clinic(a, b, name):
    """Whatever the ids, every row B's key sees belongs to B."""
    results = b.client().get(_path(name)).json()["results"]
    expected = {
        "api-v1:lead-list": {lead.pk for lead in Lead.objects.filter(clinic=b.clinic)},
        "api-v1:dispute-list": {b.dispute.pk},
        "api-v1:payment-list": {b.order.pk},
        "api-v1:document-list": {f"receipt-{b.order.pk}"},
        "api-v1:tax-document-list": {b.invoice.pk},
        "api-v1:webhook-endpoint-list": {b.endpoint.pk},
    }.get(name)
    if expected is not None:
        assert {item["id"] for item in results} == expected
    else:
        own_leads = set(Lead.objects.filter(clinic=b.clinic).values_list("pk", flat=True))
        assert all(e["lead"] in own_leads | {None} for e in results)
        assert results[0]["balance_after"] == b.client().get("/api/v1/balance/").json()["balance"]


@pytest.mark.parametrize(
    "name, method, attribute, body",
    [(name, *case) for name, cases in sorted(OBJECTS.items()) for case in cases],
)
def test_another_clinics_objects_are_404_and_unchanged(a, b, name, method, attribute, body):
    target = getattr(a, attribute)
    secret, url = a.endpoint.secret, a.endpoint.url
    response = getattr(b.client(), method)(_path(name, target.pk), body)
    assert response.status_code == 404
    assert response.json()["detail"] == "Not found (or not your clinic's)."
    a.booked.refresh_from_db()
    a.dispute.refresh_from_db()
    a.endpoint.refresh_from_db()
    assert a.booked.status == "booked" and a.dispute.status == "pending"
    assert (a.endpoint.secret, a.endpoint.url, a.endpoint.is_active) == (secret, url, True)
    assert not a.endpoint.messages.exists()


def test_a_dispute_on_another_clinics_lead_is_refused(a, b):
    data = {"lead": a.booked.pk, "dispute_type": "spam", "description": DESCRIPTION}
    response = b.client().post("/api/v1/disputes/", data)
    assert response.status_code == 400
    assert response.json()["errors"][0] == {
        "field": "lead",
        "message": f"No lead #{a.booked.pk} at this clinic.",
    }
    assert not a.booked.disputes.exists()


def test_balance_is_the_keys_own_clinics(a, b):
    from billing.selectors import account_balance
    from tests.factories import fund

    fund(b.clinic, 123)
    assert b.client().get("/api/v1/balance/").json()["balance"] == account_balance(clinic=b.clinic)
    assert a.client().get("/api/v1/balance/").json()["balance"] == account_balance(clinic=a.clinic)
    assert account_balance(clinic=a.clinic) != account_balance(clinic=b.clinic)


def test_no_path_parameter_is_unchecked():
    """Every endpoint with an id in its path is in OBJECTS (so is tested from B's key)."""
    with_ids = {name for name, r in API_ROUTES.items() if r.params}
    assert with_ids <= set(OBJECTS)
    assert all(re.search(r"\{|<", r.key) for name, r in API_ROUTES.items() if name in OBJECTS)
