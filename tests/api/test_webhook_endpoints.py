"""The REST API's webhook endpoints, through a real key: register (secret once), read, change,
delete, roll the secret, send a test event to a real local receiver, the delivery log, and
every refusal as problem details with nothing written."""

import pytest

from notifications.models import OutboxMessage, WebhookEndpoint
from tests.notifications.receiver import Receiver

pytestmark = pytest.mark.django_db

BASE = "/api/v1/webhook-endpoints/"


def problem(response, status):
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    return response.json()


def test_register_returns_the_secret_once(a):
    client = a.client()
    response = client.post(
        BASE,
        {"url": "https://127.0.0.1/hooks", "events": ["lead.delivered", "dispute.decided"]},
    )
    assert response.status_code == 201
    body = response.json()
    endpoint = WebhookEndpoint.objects.get(pk=body["id"], clinic=a.clinic)
    assert body["secret"] == endpoint.secret and body["secret"].startswith("whsec_")
    assert body["events"] == ["lead.delivered", "dispute.decided"] == endpoint.events
    assert body["enabled"] is True and body["url"] == "https://127.0.0.1/hooks"
    assert endpoint.created_by == a.owner
    listed = client.get(BASE).content.decode()
    detail = client.get(f"{BASE}{endpoint.pk}/").content.decode()
    assert endpoint.secret not in listed and endpoint.secret not in detail
    assert client.get(f"{BASE}{endpoint.pk}/").json()["secret_hint"] == endpoint.secret[:10] + "…"


def test_list_is_the_clinics_endpoints_newest_first(a):
    client = a.client("read")
    first = a.endpoint.pk
    second = a.client().post(BASE, {"url": "http://127.0.0.1/2", "events": ["lead.held"]})
    assert [e["id"] for e in client.get(BASE).json()["results"]] == [second.json()["id"], first]


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://10.0.0.1/hook", "private, loopback or link-local"),
        ("http://169.254.169.254/latest/meta-data", "private, loopback or link-local"),
        ("http://[::1]/hook", "private, loopback or link-local"),
        ("http://127.0.0.1:8000/hook", "private, loopback or link-local"),
        ("http://93.184.216.34/hook", "Use an https:// URL"),
        ("ftp://example.com/hook", "http:// or https:// URL"),
        ("not a url", "http:// or https:// URL"),
        ("https://user:pw@127.0.0.1/hook", "Leave credentials out"),
        ("https://127.0.0.1:99999/hook", "invalid port"),
        ("https://no-such-host.invalid/hook", "could not be resolved"),
    ],
)
def test_unsafe_or_bad_urls_are_refused_as_problems(a, settings, url, message):
    settings.WEBHOOK_ALLOW_LOOPBACK = False  # production's rule
    before = WebhookEndpoint.objects.count()
    body = problem(a.client().post(BASE, {"url": url, "events": ["lead.held"]}), 400)
    assert message in body["detail"]
    assert WebhookEndpoint.objects.count() == before
    body = problem(a.client().patch(f"{BASE}{a.endpoint.pk}/", {"url": url}), 400)
    assert message in body["detail"]
    a.endpoint.refresh_from_db()
    assert a.endpoint.url == "http://127.0.0.1:9/alpha"


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"url": "http://127.0.0.1/h", "events": ["lead.eaten"]}, "events.0"),
        ({"url": "http://127.0.0.1/h", "events": ["webhook.test"]}, "events.0"),
        ({"url": "http://127.0.0.1/h", "events": []}, "events"),
        ({"url": "http://127.0.0.1/h", "events": "lead.held"}, "events"),
        ({"url": "http://127.0.0.1/h"}, "events"),
        ({"events": ["lead.held"]}, "url"),
        ({"url": "http://127.0.0.1/" + "a" * 500, "events": ["lead.held"]}, "url"),
        ({"url": "http://127.0.0.1/h", "events": ["lead.held"], "description": "d" * 201}, None),
    ],
)
def test_bad_fields_are_field_errors(a, data, field):
    before = WebhookEndpoint.objects.count()
    body = problem(a.client().post(BASE, data), 400)
    assert body["code"] == "invalid"
    assert field is None or body["errors"][0]["field"] == field
    assert WebhookEndpoint.objects.count() == before


def test_bad_events_on_update_change_nothing(a):
    body = problem(a.client().patch(f"{BASE}{a.endpoint.pk}/", {"events": ["nope"]}), 400)
    assert body["errors"][0]["field"] == "events.0"
    a.endpoint.refresh_from_db()
    assert a.endpoint.events == ["lead.held"]


def test_a_read_key_may_look_but_not_change(a):
    client = a.client("read")
    assert client.get(f"{BASE}{a.endpoint.pk}/").status_code == 200
    assert client.get(f"{BASE}{a.endpoint.pk}/deliveries/").status_code == 200
    calls = [
        client.post(BASE, {"url": "http://127.0.0.1/h", "events": ["lead.held"]}),
        client.patch(f"{BASE}{a.endpoint.pk}/", {"enabled": False}),
        client.delete(f"{BASE}{a.endpoint.pk}/"),
        client.post(f"{BASE}{a.endpoint.pk}/roll-secret/"),
        client.post(f"{BASE}{a.endpoint.pk}/send-test/"),
    ]
    for response in calls:
        assert "read-only" in problem(response, 403)["detail"]
    secret = a.endpoint.secret
    a.endpoint.refresh_from_db()
    assert a.endpoint.is_active and a.endpoint.secret == secret
    assert WebhookEndpoint.objects.filter(clinic=a.clinic).count() == 1
    assert not OutboxMessage.objects.filter(endpoint=a.endpoint).exists()


def test_update_url_events_description_and_turn_off_and_on(a):
    client, path = a.client(), f"{BASE}{a.endpoint.pk}/"
    response = client.patch(
        path,
        {"url": "https://127.0.0.1/new", "events": ["lead.held", "lead.held", "balance.low"]},
    )
    assert response.status_code == 200
    assert response.json()["url"] == "https://127.0.0.1/new"
    assert response.json()["events"] == ["lead.held", "balance.low"]
    off = client.patch(path, {"enabled": False, "description": " CRM "}).json()
    assert off["enabled"] is False and off["disabled_reason"] == "Turned off by the clinic."
    assert off["description"] == "CRM" and off["disabled_at"]
    on = client.patch(path, {"enabled": True}).json()
    assert on["enabled"] is True and on["disabled_at"] is None and on["disabled_reason"] == ""


def test_delete_then_it_is_gone(a):
    client, path = a.client(), f"{BASE}{a.endpoint.pk}/"
    response = client.delete(path)
    assert response.status_code == 204 and response.content == b""
    assert not WebhookEndpoint.objects.filter(pk=a.endpoint.pk).exists()
    assert problem(client.delete(path), 404)["detail"] == "Not found (or not your clinic's)."
    assert problem(client.get(path), 404)["code"] == "not_found"


def test_roll_secret_shows_the_new_one_once(a):
    old = a.endpoint.secret
    response = a.client().post(f"{BASE}{a.endpoint.pk}/roll-secret/")
    assert response.status_code == 200
    a.endpoint.refresh_from_db()
    assert response.json()["secret"] == a.endpoint.secret != old


def test_send_test_reaches_a_real_receiver_and_shows_in_the_log(
    a, django_capture_on_commit_callbacks
):
    client = a.client()
    with Receiver() as receiver:
        created = client.post(BASE, {"url": receiver.url, "events": ["lead.held"]}).json()
        receiver.secret = created["secret"]
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(f"{BASE}{created['id']}/send-test/")
    assert response.status_code == 202
    queued = response.json()
    assert queued["event_type"] == "webhook.test" and queued["status"] == "pending"
    assert receiver.accepted == [queued["event_id"]]
    log = a.client("read").get(f"{BASE}{created['id']}/deliveries/").json()["results"]
    assert [d["id"] for d in log] == [queued["id"]]
    assert log[0]["status"] == "sent" and log[0]["attempts"] == 1
    assert log[0]["tries"][0]["ok"] is True and log[0]["tries"][0]["status_code"] == 200


def test_send_test_to_a_turned_off_endpoint_is_refused(a):
    a.client().patch(f"{BASE}{a.endpoint.pk}/", {"enabled": False})
    body = problem(a.client().post(f"{BASE}{a.endpoint.pk}/send-test/"), 400)
    assert body["detail"] == "Turn the endpoint on before sending it a test event."
    assert not OutboxMessage.objects.filter(endpoint=a.endpoint).exists()


def test_deliveries_are_cursor_pages_and_a_bad_limit_is_a_400(a):
    client = a.client()
    for _ in range(3):
        client.post(f"{BASE}{a.endpoint.pk}/send-test/")
    page = client.get(f"{BASE}{a.endpoint.pk}/deliveries/?limit=2").json()
    assert len(page["results"]) == 2 and page["next"]
    rest = client.get(page["next"]).json()
    assert len(rest["results"]) == 1 and rest["next"] is None
    body = problem(client.get(f"{BASE}{a.endpoint.pk}/deliveries/?limit=0"), 400)
    assert body["errors"][0]["field"] == "limit"


def test_registering_with_an_idempotency_key_creates_one_endpoint(a):
    client = a.client()
    data = {"url": "http://127.0.0.1/once", "events": ["lead.held"]}
    first = client.post(BASE, data, HTTP_IDEMPOTENCY_KEY="reg-1")
    again = client.post(BASE, data, HTTP_IDEMPOTENCY_KEY="reg-1")
    assert first.status_code == again.status_code == 201
    assert again["Idempotent-Replayed"] == "true" and again.json() == first.json()
    assert WebhookEndpoint.objects.filter(url="http://127.0.0.1/once").count() == 1
    other = client.post(BASE, {**data, "events": ["lead.delivered"]}, HTTP_IDEMPOTENCY_KEY="reg-1")
    assert problem(other, 409)["code"] == "idempotency_key_reused"


def test_a_refused_registration_is_replayed_as_the_same_refusal(a, settings):
    settings.WEBHOOK_ALLOW_LOOPBACK = False
    data = {"url": "http://10.1.2.3/hook", "events": ["lead.held"]}
    first = a.client().post(BASE, data, HTTP_IDEMPOTENCY_KEY="bad-1")
    again = a.client().post(BASE, data, HTTP_IDEMPOTENCY_KEY="bad-1")
    assert problem(first, 400)["detail"] == problem(again, 400)["detail"]
    assert again["Idempotent-Replayed"] == "true"
