"""The REST API's endpoints, through a real key: what each returns, and each refusal."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test.client import MULTIPART_CONTENT

from disputes.models import Dispute
from leads.models import Lead
from tests.disputes.conftest import DESCRIPTION, PDF, PNG
from tests.factories import fund

pytestmark = pytest.mark.django_db


def ids(response):
    return [item["id"] for item in response.json()["results"]]


def test_leads_list_newest_first_with_contact_masked_while_held(a):
    response = a.client("read").get("/api/v1/leads/")
    assert response.status_code == 200
    results = {lead["id"]: lead for lead in response.json()["results"]}
    assert ids(response) == [a.held.pk, a.booked.pk, a.charged.pk]
    held = results[a.held.pk]["contact"]
    assert held["masked"] is True
    assert "Hidden Person" not in str(held) and a.held.phone not in str(held)
    assert results[a.booked.pk]["contact"] == {
        "name": "Ravi Kumar",
        "phone": a.booked.phone,
        "email": "",
        "message": "",
        "masked": False,
    }


def test_held_lead_detail_is_masked_until_a_top_up_releases_it(
    a, django_capture_on_commit_callbacks
):
    client = a.client("read")
    assert client.get(f"/api/v1/leads/{a.held.pk}/").json()["contact"]["masked"] is True
    with django_capture_on_commit_callbacks(execute=True):
        fund(a.clinic, 1_000)  # releases the held lead
    contact = client.get(f"/api/v1/leads/{a.held.pk}/").json()["contact"]
    assert contact["masked"] is False and contact["name"] == "Hidden Person"


def test_leads_filters(a):
    client = a.client("read")
    assert ids(client.get("/api/v1/leads/?status=booked")) == [a.booked.pk]
    assert ids(client.get("/api/v1/leads/?billing_state=held")) == [a.held.pk]
    assert ids(client.get("/api/v1/leads/?date_from=2000-01-01&date_to=2000-01-02")) == []


@pytest.mark.parametrize(
    "query, field",
    [
        ("status=nope", "status"),
        ("billing_state=²", "billing_state"),
        ("date_from=2026-02-30", "date_from"),
        ("package=" + "9" * 30, "package"),
        ("date_from=2026-02-02&date_to=2026-02-01", None),
        ("limit=0", "limit"),
        ("limit=²", "limit"),
        ("cursor=garbage", "cursor"),
    ],
)
def test_bad_filters_are_a_400_problem_naming_the_field(a, query, field):
    response = a.client("read").get(f"/api/v1/leads/?{query}")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == 400 and body["title"] == "Bad Request" and body["type"]
    assert body["errors"][0]["field"] == field and body["detail"]


def test_cursor_pagination_walks_every_lead_once(a):
    client = a.client("read")
    seen, url = [], "/api/v1/leads/?limit=1"
    while url:
        page = client.get(url).json()
        seen += [lead["id"] for lead in page["results"]]
        url = page["next"]
    assert seen == [a.held.pk, a.booked.pk, a.charged.pk]


def test_status_update(a):
    response = a.client().patch(
        f"/api/v1/leads/{a.booked.pk}/", {"status": "treated", "revenue_paise": 4_500_000}
    )
    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["revenue_paise"], body["booked_for"]) == (
        "treated",
        4_500_000,
        None,
    )
    a.booked.refresh_from_db()
    assert a.booked.status == Lead.Status.TREATED
    step = a.booked.events.order_by("-at", "-id").first()
    assert (step.from_status, step.to_status, step.via) == ("booked", "treated", "api")


def test_an_outcome_without_its_details_is_a_400_with_the_reason(a):
    client = a.client()
    response = client.patch(f"/api/v1/leads/{a.charged.pk}/", {"status": "lost"})
    assert response.status_code == 400
    assert "Choose why the lead was lost" in str(response.json())
    response = client.patch(
        f"/api/v1/leads/{a.charged.pk}/", {"status": "lost", "lost_reason": "price"}
    )
    assert response.status_code == 200 and response.json()["lost_reason"] == "price"
    response = client.patch(
        f"/api/v1/leads/{a.charged.pk}/", {"status": "booked", "booked_for": "someday"}
    )
    assert response.status_code == 400
    assert "booked_for" in str(response.json())


def test_status_update_of_a_held_lead_is_refused_with_the_portals_reason(a):
    response = a.client().patch(f"/api/v1/leads/{a.held.pk}/", {"status": "contacted"})
    assert response.status_code == 400
    assert response.json()["detail"] == "Top up to release this lead before working it."
    a.held.refresh_from_db()
    assert a.held.status == Lead.Status.NEW


def test_status_update_with_a_bad_status_names_the_field(a):
    response = a.client().patch(f"/api/v1/leads/{a.booked.pk}/", {"status": "won"})
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {"field": "status", "message": '"won" is not a valid choice.'}
    ]


def test_balance(a):
    assert a.client("read").get("/api/v1/balance/").json() == {
        "balance": 1_800,
        "overdraft_limit": 0,
        "low_balance_threshold": 500,
        "in_debt": False,
    }


def test_ledger_entries_newest_first_and_filtered(a):
    client = a.client("read")
    entries = client.get("/api/v1/ledger-entries/").json()["results"]
    assert [e["kind"] for e in entries] == ["purchase", "lead_charge", "lead_charge", "purchase"]
    assert entries[0]["balance_after"] == 1_800
    charges = client.get("/api/v1/ledger-entries/?kind=lead_charge").json()["results"]
    assert {e["lead"] for e in charges} == {a.charged.pk, a.booked.pk}


def test_payments_and_documents(a):
    client = a.client("read")
    payments = client.get("/api/v1/payments/").json()["results"]
    assert [(p["id"], p["status"], p["amount_paise"]) for p in payments] == [
        (a.order.pk, "paid", 1_000_00)
    ]
    documents = client.get("/api/v1/documents/").json()["results"]
    assert documents == [
        {
            "id": f"receipt-{a.order.pk}",
            "type": "receipt",
            "payment": a.order.pk,
            "amount_paise": 1_000_00,
            "issued_at": documents[0]["issued_at"],
            "url": f"/clinic/payments/{a.order.pk}/receipt",
        }
    ]


def test_disputes_list_and_detail(a):
    client = a.client("read")
    assert ids(client.get("/api/v1/disputes/")) == [a.dispute.pk]
    assert ids(client.get("/api/v1/disputes/?status=approved")) == []
    detail = client.get(f"/api/v1/disputes/{a.dispute.pk}/").json()
    assert detail["status"] == "pending" and detail["evidence"][0]["content_type"] == "image/png"


def test_open_a_dispute_with_evidence_files(a):
    data = {
        "lead": a.booked.pk,
        "dispute_type": "invalid_contact",
        "description": DESCRIPTION,
        "evidence": [
            SimpleUploadedFile("call-log.png", PNG, content_type="image/png"),
            SimpleUploadedFile("note.pdf", PDF, content_type="application/pdf"),
        ],
    }
    response = a.client().post("/api/v1/disputes/", data, content_type=MULTIPART_CONTENT)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["lead"] == a.booked.pk and body["status"] == "pending"
    assert sorted(e["content_type"] for e in body["evidence"]) == ["application/pdf", "image/png"]
    assert Dispute.objects.get(pk=body["id"]).opened_by == a.owner


def test_open_a_dispute_as_json_without_evidence(a):
    data = {"lead": a.booked.pk, "dispute_type": "spam", "description": DESCRIPTION}
    response = a.client().post("/api/v1/disputes/", data)
    assert response.status_code == 201


def test_a_dispute_the_rules_refuse_is_a_400_with_their_reason(a):
    data = {"lead": a.held.pk, "dispute_type": "spam", "description": DESCRIPTION}
    response = a.client().post("/api/v1/disputes/", data)
    assert response.status_code == 400
    assert "held and not yet charged" in response.json()["detail"]


def test_evidence_that_is_not_an_image_or_pdf_is_refused(a):
    data = {
        "lead": a.booked.pk,
        "dispute_type": "spam",
        "description": DESCRIPTION,
        "evidence": [SimpleUploadedFile("x.html", b"<html><script>", content_type="text/html")],
    }
    response = a.client().post("/api/v1/disputes/", data, content_type=MULTIPART_CONTENT)
    assert response.status_code == 400
    assert "is not an image" in response.json()["detail"]
    assert not Dispute.objects.filter(lead=a.booked).exists()


def test_cancel_a_pending_dispute_and_not_twice(a):
    client = a.client()
    response = client.post(f"/api/v1/disputes/{a.dispute.pk}/cancel/")
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    again = client.post(f"/api/v1/disputes/{a.dispute.pk}/cancel/")
    assert again.status_code == 400
    assert again.json()["detail"] == "Only a pending dispute can be cancelled."


WRITES = [
    ("patch", "/api/v1/leads/{booked}/", {"status": "lost"}),
    ("post", "/api/v1/disputes/", {"lead": "{booked}", "dispute_type": "spam"}),
    ("post", "/api/v1/disputes/{dispute}/cancel/", {}),
]


@pytest.mark.parametrize("method, path, data", WRITES)
def test_a_read_key_gets_403_on_every_write(a, method, path, data):
    values = {"booked": a.booked.pk, "dispute": a.dispute.pk}
    data = {k: v.format(**values) if isinstance(v, str) else v for k, v in data.items()}
    data.setdefault("description", DESCRIPTION) if "lead" in data else None
    response = getattr(a.client("read"), method)(path.format(**values), data)
    assert response.status_code == 403
    assert "read-only" in response.json()["detail"]
    a.booked.refresh_from_db()
    a.dispute.refresh_from_db()
    assert a.booked.status == "booked" and a.dispute.status == "pending"
    assert Dispute.objects.filter(clinic=a.clinic).count() == 1


def test_no_key_is_a_401_with_the_scheme_to_use(a):
    response = a.client().get("/api/v1/leads/", HTTP_AUTHORIZATION="")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'
    assert response.json()["code"] == "not_authenticated"


@pytest.mark.parametrize("header", ["Bearer nope", "Basic dXNlcjpwYXNz", "Bearer", "Token x"])
def test_a_bad_authorization_header_is_a_401(a, header):
    response = a.client().get("/api/v1/leads/", HTTP_AUTHORIZATION=header)
    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"


def test_a_portal_session_is_not_a_key(a):
    from django.test import Client

    client = Client()
    client.force_login(a.owner)
    assert client.get("/api/v1/leads/").status_code == 401


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/leads/abc/",
        "/api/v1/leads/-1/",
        "/api/v1/leads/1.5/",
        "/api/v1/nothing/",
        "/api/v1/",
    ],
)
def test_other_paths_under_the_api_are_404_problems(a, path):
    """Not the site's HTML pages (and no CSRF page for a POST): the API's one error shape."""
    for response in (a.client().get(path), a.client().post(path, {})):
        assert response.status_code == 404
        assert response["Content-Type"] == "application/problem+json"
        assert response.json()["code"] == "not_found"
