"""000 documents ``PUT /clinic/leads/update-status``: it works, in JSON; POST stays."""

import json

import pytest
from django.test import Client

from leads.models import Lead
from tests.factories import ClinicFactory, ClinicMemberFactory, LeadFactory, fund

pytestmark = pytest.mark.django_db


@pytest.fixture
def lead(clinic):
    fund(clinic, 1_000)
    return LeadFactory(clinic=clinic, billing_state=Lead.Billing.CHARGED)


@pytest.fixture
def front_desk(client, clinic):
    client.force_login(ClinicMemberFactory(clinic=clinic, role="front_desk").user)
    return client


def test_put_with_a_json_body_updates_the_status(front_desk, lead):
    response = front_desk.put(
        "/clinic/leads/update-status",
        json.dumps({"lead_id": lead.pk, "status": "contacted"}),
        content_type="application/json",
    )
    assert response.status_code == 200
    assert response.json() == {
        "success": True,
        "lead_id": lead.pk,
        "status": "contacted",
        "message": f"Lead #{lead.pk} is now contacted.",
    }
    lead.refresh_from_db()
    assert lead.status == "contacted"


def test_put_with_a_form_body_updates_the_status(front_desk, lead):
    response = front_desk.put(
        "/clinic/leads/update-status",
        f"lead_id={lead.pk}&status=booked&booked_for=2030-01-15",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 200
    lead.refresh_from_db()
    assert lead.status == "booked"
    assert str(lead.booked_for) == "2030-01-15"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("not json", "lead_id must be a lead number."),
        ("[1, 2]", "lead_id must be a lead number."),
        ('{"lead_id": "x"}', "lead_id must be a lead number."),
    ],
)
def test_put_with_an_unreadable_body_is_a_400_with_a_message(front_desk, body, message):
    response = front_desk.put("/clinic/leads/update-status", body, content_type="application/json")
    assert response.status_code == 400
    assert response.json() == {"success": False, "message": message}


def test_put_with_an_unknown_status_is_refused_with_the_services_message(front_desk, lead):
    response = front_desk.put(
        "/clinic/leads/update-status",
        json.dumps({"lead_id": lead.pk, "status": "teleported"}),
        content_type="application/json",
    )
    assert response.status_code == 400
    assert response.json()["success"] is False
    lead.refresh_from_db()
    assert lead.status == "new"


def test_put_on_another_clinics_lead_is_not_found(lead):
    stranger = Client()
    stranger.force_login(ClinicMemberFactory(clinic=ClinicFactory()).user)
    response = stranger.put(
        "/clinic/leads/update-status",
        json.dumps({"lead_id": lead.pk, "status": "contacted"}),
        content_type="application/json",
    )
    assert response.status_code == 404
    lead.refresh_from_db()
    assert lead.status == "new"


def test_post_still_works(front_desk, lead):
    response = front_desk.post(
        "/clinic/leads/update-status",
        {"lead_id": lead.pk, "status": "lost", "lost_reason": "price"},
    )
    assert response.status_code == 302
    lead.refresh_from_db()
    assert lead.status == "lost"
