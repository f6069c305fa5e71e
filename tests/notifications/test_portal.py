"""The owners' pages: endpoints with a secret shown once, the delivery log, a test event,
redelivery, and notification preferences; another clinic's rows are 404s."""

import pytest
from django.test import Client

from notifications import services
from notifications.models import NotificationPreference, OutboxMessage, WebhookEndpoint
from tests.factories import ClinicFactory, ClinicMemberFactory
from tests.notifications.receiver import Receiver

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner(db):
    member = ClinicMemberFactory(role="owner")
    client = Client()
    client.force_login(member.user)
    return member.clinic, client


def test_an_owner_registers_an_endpoint_and_sees_its_secret_once(owner):
    clinic, client = owner
    with Receiver() as receiver:
        response = client.post(
            "/clinic/webhooks/new",
            {"url": receiver.url, "events": ["lead.delivered", "dispute.decided"]},
        )
    assert response.status_code == 201
    endpoint = WebhookEndpoint.objects.get(clinic=clinic)
    assert endpoint.events == ["lead.delivered", "dispute.decided"]
    assert endpoint.secret in response.content.decode()
    assert endpoint.secret not in client.get("/clinic/webhooks").content.decode()
    assert endpoint.secret not in client.get(f"/clinic/webhooks/{endpoint.pk}").content.decode()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"url": "http://10.1.2.3/hook", "events": ["lead.delivered"]}, "private"),
        ({"url": "http://127.0.0.1/x", "events": []}, "This field is required"),
        ({"url": "javascript:alert(1)", "events": ["lead.delivered"]}, "Enter a valid URL"),
        ({"url": "https://example.com/x", "events": ["webhook.test"]}, "Select a valid choice"),
    ],
)
def test_bad_endpoints_are_a_form_error(owner, data, message):
    _, client = owner
    response = client.post("/clinic/webhooks/new", data)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not WebhookEndpoint.objects.exists()


def test_send_test_event_then_redeliver_shows_in_the_delivery_log(
    owner, django_capture_on_commit_callbacks
):
    clinic, client = owner
    with Receiver(fail_first=1) as receiver:
        endpoint = services.create_webhook_endpoint(
            clinic=clinic, url=receiver.url, events=["lead.delivered"]
        )
        receiver.secret = endpoint.secret
        with django_capture_on_commit_callbacks(execute=True):
            assert client.post(f"/clinic/webhooks/{endpoint.pk}/test").status_code == 302
        message = OutboxMessage.objects.get(endpoint=endpoint)
        page = client.get(f"/clinic/webhooks/{endpoint.pk}").content.decode()
        assert "HTTP 500" in page and "answer 500" in page and message.event.public_id in page
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(
                f"/clinic/webhooks/{endpoint.pk}/deliveries/{message.pk}/redeliver"
            )
        assert response.status_code == 302
    message.refresh_from_db()
    assert message.status == "sent"
    assert receiver.accepted == [message.event.public_id]
    page = client.get(f"/clinic/webhooks/{endpoint.pk}").content.decode()
    assert "HTTP 200" in page and " ms" in page


def test_another_clinics_endpoint_and_delivery_are_404s(owner):
    _, client = owner
    other = services.create_webhook_endpoint(
        clinic=ClinicFactory(), url="http://127.0.0.1:9/hook", events=["lead.delivered"]
    )
    delivery = services.send_test_event(endpoint=other)
    for path in (
        f"/clinic/webhooks/{other.pk}",
        f"/clinic/webhooks/{other.pk}/test",
        f"/clinic/webhooks/{other.pk}/toggle",
        f"/clinic/webhooks/{other.pk}/delete",
        f"/clinic/webhooks/{other.pk}/deliveries/{delivery.pk}/redeliver",
    ):
        method = client.get if path.endswith(str(other.pk)) else client.post
        assert method(path).status_code == 404, path
    other.refresh_from_db()
    assert other.is_active
    assert OutboxMessage.objects.filter(endpoint=other).count() == 1
    assert other.url not in client.get("/clinic/webhooks").content.decode()


def test_a_turned_off_endpoint_refuses_a_test_event_with_a_message(owner):
    clinic, client = owner
    endpoint = services.create_webhook_endpoint(
        clinic=clinic, url="http://127.0.0.1:9/hook", events=["lead.delivered"]
    )
    client.post(f"/clinic/webhooks/{endpoint.pk}/toggle")
    response = client.post(f"/clinic/webhooks/{endpoint.pk}/test", follow=True)
    assert "Turn the endpoint on" in response.content.decode()
    assert not OutboxMessage.objects.exists()


def test_new_lead_email_is_on_by_default_and_preferences_route_events(
    owner, django_capture_on_commit_callbacks, mailoutbox
):
    clinic, client = owner
    page = client.get("/clinic/notifications").content.decode()
    assert 'name="lead_delivered__email__on" checked' in page
    response = client.post(
        "/clinic/notifications",
        {
            "lead_delivered__email__on": "on",
            "lead_delivered__email__to": "desk@example.com, doctor@example.com",
            "lead_delivered__sms__on": "on",
            "lead_delivered__sms__to": "+919876543210",
        },
    )
    assert response.status_code == 302
    with django_capture_on_commit_callbacks(execute=True):
        services.emit(
            type="lead.delivered",
            clinic_id=clinic.pk,
            data={},
            subject="New enquiry",
            text="A patient enquired.",
            contact_email=clinic.contact_email,
        )
        services.emit(type="lead.held", clinic_id=clinic.pk, data={}, subject="Held")
    assert sorted(m.to[0] for m in mailoutbox) == ["desk@example.com", "doctor@example.com"]
    sms = OutboxMessage.objects.get(channel="sms")
    assert (sms.recipient, sms.status) == ("+919876543210", "sent")  # the console backend


def test_a_text_channel_without_a_number_or_with_a_bad_one_is_refused(owner):
    _, client = owner
    for data, message in (
        ({"lead_held__whatsapp__on": "on"}, "Give at least one mobile number"),
        ({"lead_held__sms__on": "on", "lead_held__sms__to": "12345"}, "not a mobile number"),
        ({"lead_held__email__to": "not-an-address"}, "not an email address"),
    ):
        response = client.post("/clinic/notifications", data)
        assert response.status_code == 400
        assert message in response.content.decode()
    assert not NotificationPreference.objects.exists()
