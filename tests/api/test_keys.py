"""API keys in the portal: owners create them (shown once, stored hashed) and revoke them."""

import hashlib
import re

import pytest
from django.test import Client

from antidote import api_keys
from antidote.models import ApiKey
from tests.api.conftest import ApiClient
from tests.factories import ClinicMemberFactory

pytestmark = pytest.mark.django_db

TOKEN = re.compile(r"adk_[0-9a-f]{8}_[A-Za-z0-9_-]{43}")


def owner_client(side) -> Client:
    client = Client()
    client.force_login(side.owner)
    return client


def test_an_owner_creates_a_key_that_is_shown_once_and_stored_hashed(a):
    client = owner_client(a)
    response = client.post("/clinic/api-keys", {"name": "Our CRM", "scope": "write"})
    assert response.status_code == 201
    assert "no-store" in response["Cache-Control"]
    tokens = TOKEN.findall(response.content.decode())
    assert len(tokens) == 1
    token = tokens[0]
    key = ApiKey.objects.get(name="Our CRM")
    assert (key.clinic, key.scope, key.created_by) == (a.clinic, "write", a.owner)
    assert key.digest == hashlib.sha256(token.encode()).hexdigest()
    assert token.startswith(key.prefix)
    stored = list(ApiKey.objects.values_list("prefix", "digest", "name"))
    assert not any(token in str(value) for row in stored for value in row)
    page = client.get("/clinic/api-keys").content.decode()
    assert token not in page and f"{key.prefix}…" in page
    assert ApiClient(token).get("/api/v1/balance/").status_code == 200


def test_last_use_is_recorded(a):
    key = ApiKey.objects.get(clinic=a.clinic, scope="read")
    assert key.last_used_at is None
    a.client("read").get("/api/v1/balance/")
    key.refresh_from_db()
    assert key.last_used_at is not None


def test_a_revoked_key_answers_401_at_once(a):
    key = ApiKey.objects.get(clinic=a.clinic, scope="write")
    client = a.client()
    assert client.get("/api/v1/leads/").status_code == 200
    response = owner_client(a).post(f"/clinic/api-keys/{key.pk}/revoke")
    assert response.status_code == 302
    key.refresh_from_db()
    assert key.revoked_at is not None and key.revoked_by == a.owner
    for method, path in [("get", "/api/v1/leads/"), ("get", "/api/v1/balance/")]:
        refused = getattr(client, method)(path)
        assert refused.status_code == 401
        assert refused.json()["code"] == "revoked_key"
        assert "was revoked on" in refused.json()["detail"]
    assert a.client("read").get("/api/v1/leads/").status_code == 200  # the other key


def test_an_owner_cannot_revoke_another_clinics_key(a, b):
    key = ApiKey.objects.get(clinic=b.clinic, scope="write")
    response = owner_client(a).post(f"/clinic/api-keys/{key.pk}/revoke", follow=True)
    assert "There is no such key at this clinic." in response.content.decode()
    key.refresh_from_db()
    assert key.revoked_at is None
    assert b.client().get("/api/v1/balance/").status_code == 200


def test_the_page_lists_only_the_clinics_own_keys(a, b):
    page = owner_client(a).get("/clinic/api-keys").content.decode()
    for key in ApiKey.objects.filter(clinic=b.clinic):
        assert key.prefix not in page
    for key in ApiKey.objects.filter(clinic=a.clinic):
        assert key.prefix in page


@pytest.mark.parametrize("role", ["front_desk", "billing"])
def test_only_owners_reach_the_keys_page(a, role):
    client = Client()
    client.force_login(ClinicMemberFactory(clinic=a.clinic, role=role).user)
    assert client.get("/clinic/api-keys").status_code == 403
    assert client.post("/clinic/api-keys", {"name": "x", "scope": "write"}).status_code == 403
    key = ApiKey.objects.filter(clinic=a.clinic).first()
    assert client.post(f"/clinic/api-keys/{key.pk}/revoke").status_code == 403
    assert ApiKey.objects.filter(clinic=a.clinic).count() == 2


@pytest.mark.parametrize(
    "data, message",
    [
        ({"name": "", "scope": "read"}, "This field is required."),
        ({"name": "x", "scope": "admin"}, "Select a valid choice."),
        ({"name": "x" * 81, "scope": "read"}, "at most 80 characters"),
    ],
)
def test_bad_key_requests_are_form_errors(a, data, message):
    response = owner_client(a).post("/clinic/api-keys", data)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert ApiKey.objects.filter(clinic=a.clinic).count() == 2


def test_the_number_of_active_keys_is_capped(a):
    for n in range(api_keys.MAX_ACTIVE_KEYS - 2):
        api_keys.create_api_key(clinic=a.clinic, name=f"k{n}", scope="read", actor=a.owner)
    response = owner_client(a).post("/clinic/api-keys", {"name": "one more", "scope": "read"})
    assert response.status_code == 400
    assert "revoke one you no longer use" in response.content.decode()


def test_a_key_of_an_inactive_clinic_answers_401(a):
    a.clinic.is_active = False
    a.clinic.save(update_fields=["is_active"])
    response = a.client().get("/api/v1/balance/")
    assert response.status_code == 401 and response.json()["code"] == "inactive_clinic"


def test_a_forged_key_with_a_real_prefix_is_refused(a):
    key = ApiKey.objects.get(clinic=a.clinic, scope="write")
    forged = f"{key.prefix}_{'A' * 43}"
    assert ApiClient(forged).get("/api/v1/balance/").status_code == 401
