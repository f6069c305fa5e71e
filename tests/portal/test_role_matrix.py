"""Every portal URL and JSON endpoint, as each role: allowed is never a 403, refused always is.

The URLs come from the root resolver, as the fuzz test's do, so a new page cannot escape: each
pattern is either in ``antidote.portal.PORTAL_ACCESS`` (the one map of who may open what), or
named below as not a clinic page (public, staff, accounts, the webhook). A portal URL missing
from the map is refused to every role by the helper, and fails here until it is classified.
"""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from antidote import api_keys
from antidote.portal import PORTAL_ACCESS
from disputes import services as disputes
from leads import services as leads
from leads.models import ClinicMember
from notifications import services as notifications
from tests.disputes.conftest import DESCRIPTION, PNG
from tests.factories import ClinicFactory, ClinicMemberFactory, fund, paid_order
from tests.test_fuzz import ROUTES

pytestmark = pytest.mark.django_db

ROLES = list(ClinicMember.Role.values)

# Not clinic pages: for patients, for staff, for logging in, or for Razorpay. Each says why.
NOT_PORTAL = {
    "leads:home": "public package list",
    "leads:package-list": "public package list",
    "leads:package-detail": "public package page",
    "leads:clinic-page": "public clinic page",
    "leads:contact-clinic": "the patient's enquiry form",
    "leads:enquiry-sent": "the patient's confirmation",
    "payments:webhook": "Razorpay, authenticated by its signature",
    "disputes:admin-queue": "staff with a second factor",
    "disputes:admin-resolve": "staff with a second factor",
    "leads:accept-invitation": "the invitee, not a member yet (tests/leads/test_invitations.py)",
    "bench-reference": "the load test's one-query view, a 404 unless BENCH_REFERENCE_VIEW",
    "login": "accounts",
    "logout": "accounts",
    "password_reset": "accounts",
    "password_reset_done": "accounts",
    "password_reset_confirm": "accounts",
    "password_reset_complete": "accounts",
    "password_change": "accounts",
    "password_change_done": "accounts",
}


def _is_admin(route) -> bool:
    return route.key.startswith("admin/") and route.name not in NOT_PORTAL


def _is_rest_api(route) -> bool:
    """The REST API authenticates by API key, never by the portal's session (tests/api/)."""
    return (route.name or "").startswith("api-v1:")


PORTAL_ROUTES = [r for r in ROUTES if r.name in PORTAL_ACCESS]
MONEY_ROUTES = [
    r
    for r in PORTAL_ROUTES
    if (r.name.split(":")[0] in ("billing", "payments") or r.name == "leads:analytics")
    and r.name != "billing:transfer"
]
TEAM_ROUTES = [r for r in PORTAL_ROUTES if r.name.startswith("leads:team")]
NOTIFICATION_ROUTES = [r for r in PORTAL_ROUTES if r.name.startswith("notifications:")]
OWNER_ROUTES = [
    *TEAM_ROUTES,
    *NOTIFICATION_ROUTES,
    *(
        r
        for r in PORTAL_ROUTES
        if r.name in ("two-factor", "api-keys", "api-key-revoke", "billing:transfer")
    ),
]


def test_every_url_is_classified():
    unclassified = [
        r.key
        for r in ROUTES
        if not (_is_admin(r) or _is_rest_api(r) or r.name in NOT_PORTAL or r.name in PORTAL_ACCESS)
    ]
    assert unclassified == [], "add these to antidote.portal.PORTAL_ACCESS or to NOT_PORTAL"


def test_every_classified_name_is_a_url():
    names = {r.name for r in ROUTES}
    assert set(PORTAL_ACCESS) <= names
    assert set(NOT_PORTAL) <= names
    assert not set(PORTAL_ACCESS) & set(NOT_PORTAL)


def test_money_and_team_pages_are_found():
    """The counts below prove something only if the resolver found the pages."""
    assert len(MONEY_ROUTES) >= 12
    assert len(TEAM_ROUTES) >= 5
    assert len(NOTIFICATION_ROUTES) >= 8


@pytest.fixture
def world():
    clinic = ClinicFactory()
    members = {role: ClinicMemberFactory(clinic=clinic, role=role) for role in ROLES}
    fund(clinic, 1_000)
    lead = leads.submit_enquiry(clinic=clinic, name="Asha Patel", phone="9000000001")
    dispute = disputes.open_dispute(
        lead=lead,
        user=members["owner"].user,
        dispute_type="spam",
        description=DESCRIPTION,
        evidence=[SimpleUploadedFile("shot.png", PNG, content_type="image/png")],
    )
    order = paid_order(clinic=clinic, user=members["owner"].user, amount=1_000)
    invitation = leads.invite_member(
        clinic=clinic, email="new@example.com", role="billing", actor=members["owner"].user
    )
    key = api_keys.create_api_key(
        clinic=clinic, name="CRM", scope="read", actor=members["owner"].user
    ).key
    endpoint = notifications.create_webhook_endpoint(
        clinic=clinic, url="http://127.0.0.1:9/hook", events=["lead.delivered"]
    )
    delivery = notifications.send_test_event(endpoint=endpoint)
    values = {
        "key_id": key.pk,
        "endpoint_id": endpoint.pk,
        "message_id": delivery.pk,
        "invitation_id": invitation.pk,
        "lead_id": lead.pk,
        "dispute_id": dispute.pk,
        "evidence_id": dispute.evidence.first().pk,
        "razorpay_order_id": order.razorpay_order_id,
        "member_id": members["front_desk"].pk,
        "leads:lead-detail": lead.pk,
        "leads:add-note": lead.pk,
        "leads:assign": lead.pk,
        "payments:receipt": order.pk,
        "payments:pay-link": order.pk,
        "payments:invoice": order.pk,
        "payments:invoice-pdf": order.pk,
        "payments:credit-note": order.pk,  # no such note: a 404 for those let in, a 403 for others
        "payments:credit-note-pdf": order.pk,
    }
    return members, values


def _path(route, values) -> str:
    filled = {p.name: str(values.get(route.name, values.get(p.name))) for p in route.params}
    return route.path(filled)


def request_as(role, route, world, **extra):
    """GET, or POST (empty) where the view takes only POST: the status a role meets first."""
    members, values = world
    client = Client()
    client.force_login(members[role].user)
    path = _path(route, values)
    response = client.get(path, **extra)
    if response.status_code == 405:
        response = client.post(path, **extra)
    return response.status_code


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("route", PORTAL_ROUTES, ids=lambda r: r.key)
def test_role_matrix(route, role, world):
    status = request_as(role, route, world)
    if role in PORTAL_ACCESS[route.name]:
        assert status != 403, f"{role} refused {route.key}, which the map allows"
    else:
        assert status == 403, f"{role} got {status} from {route.key}, which the map refuses"


@pytest.mark.parametrize("route", MONEY_ROUTES, ids=lambda r: r.key)
def test_front_desk_reaches_no_money_page_nor_its_json(route, world):
    """Independent of the map: every billing or payments URL, page or JSON, is a 403."""
    as_json = {"HTTP_ACCEPT": "application/json"}
    assert request_as("front_desk", route, world) == 403
    assert request_as("front_desk", route, world, **as_json) == 403


def test_front_desk_gets_403_on_the_history_json(world):
    members, _ = world
    client = Client()
    client.force_login(members["front_desk"].user)
    response = client.get("/clinic/credits/history?format=json")
    assert response.status_code == 403
    assert "does not include this" in response.json()["detail"]


@pytest.mark.parametrize("role", ["billing", "front_desk"])
@pytest.mark.parametrize("route", OWNER_ROUTES, ids=lambda r: r.key)
def test_only_owners_reach_team_pages(route, role, world):
    assert request_as(role, route, world) == 403


def test_front_desk_sees_no_money_links_or_balance(world):
    members, _ = world
    client = Client()
    client.force_login(members["front_desk"].user)
    page = client.get("/clinic/dashboard").content.decode()
    for money in ("/clinic/credits/topup", "/clinic/credits/history", "/clinic/payments"):
        assert money not in page
    assert "header-balance" not in page
    assert "/clinic/team" not in page
    assert "/clinic/leads" in page


def test_billing_sees_money_links_but_not_leads_or_team(world):
    members, _ = world
    client = Client()
    client.force_login(members["billing"].user)
    page = client.get("/clinic/dashboard").content.decode()
    assert "/clinic/credits/topup" in page and "header-balance" in page
    assert 'href="/clinic/leads"' not in page and "/clinic/team" not in page


def test_owner_sees_every_link(world):
    members, _ = world
    client = Client()
    client.force_login(members["owner"].user)
    page = client.get("/clinic/dashboard").content.decode()
    for link in ("/clinic/credits/topup", "/clinic/leads", "/clinic/team", "/clinic/disputes"):
        assert link in page
