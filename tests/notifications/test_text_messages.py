"""SMS and WhatsApp through MSG91's HTTP API (a local fake of it), and the console default."""

import pytest

from notifications import services
from notifications.models import DeliveryAttempt, NotificationPreference, OutboxMessage
from tests.factories import ClinicFactory
from tests.notifications.fake_msg91 import AUTH_KEY, FakeMsg91

pytestmark = pytest.mark.django_db


@pytest.fixture
def msg91(settings):
    with FakeMsg91() as fake:
        settings.SMS_BACKEND = "msg91"
        settings.MSG91_API_BASE = fake.url
        settings.MSG91_AUTH_KEY = AUTH_KEY
        settings.MSG91_SMS_TEMPLATE_ID = "tmpl-lead"
        settings.MSG91_WHATSAPP_NUMBER = "919000000000"
        yield fake


def _lead_texts(clinic, *channels):
    for channel in channels:
        NotificationPreference.objects.create(
            clinic=clinic,
            event_type="lead.delivered",
            channel=channel,
            enabled=True,
            recipients="+919876543210",
        )


def _emit(clinic):
    return services.emit(
        type="lead.delivered",
        clinic_id=clinic.pk,
        data={},
        subject="New enquiry for Glow (lead #7)",
        text="A patient enquired.",
    )


def test_sms_and_whatsapp_go_through_msg91s_api(msg91, django_capture_on_commit_callbacks):
    clinic = ClinicFactory()
    _lead_texts(clinic, "sms", "whatsapp")
    with django_capture_on_commit_callbacks(execute=True):
        _emit(clinic)
    assert set(OutboxMessage.objects.values_list("channel", "status")) == {
        ("sms", "sent"),
        ("whatsapp", "sent"),
    }
    by_path = {call["path"]: call for call in msg91.calls}
    sms = by_path["/api/v5/flow"]
    assert sms["authkey"] == AUTH_KEY
    assert sms["body"]["template_id"] == "tmpl-lead"
    assert sms["body"]["recipients"] == [
        {"mobiles": "919876543210", "text": "New enquiry for Glow (lead #7)"}
    ]
    whatsapp = by_path["/api/v5/whatsapp/whatsapp-outbound-message/bulk/"]["body"]
    assert whatsapp["integrated_number"] == "919000000000"
    (target,) = whatsapp["payload"]["template"]["to_and_components"]
    assert target["to"] == ["919876543210"]


def test_a_provider_error_is_recorded_and_retried_never_raised(
    msg91, settings, django_capture_on_commit_callbacks
):
    msg91.fail = True
    clinic = ClinicFactory()
    _lead_texts(clinic, "sms")
    with django_capture_on_commit_callbacks(execute=True):
        _emit(clinic)
    message = OutboxMessage.objects.get(channel="sms")
    assert (message.status, message.attempts) == ("pending", 1)
    attempt = DeliveryAttempt.objects.get(message=message)
    assert (attempt.ok, attempt.status_code) == (False, 500)
    assert "Internal error" in attempt.response_excerpt


def test_a_wrong_key_is_a_failed_send(msg91, settings, django_capture_on_commit_callbacks):
    settings.MSG91_AUTH_KEY = "wrong"
    clinic = ClinicFactory()
    _lead_texts(clinic, "sms")
    with django_capture_on_commit_callbacks(execute=True):
        _emit(clinic)
    attempt = DeliveryAttempt.objects.get()
    assert (attempt.ok, attempt.status_code) == (False, 401)


def test_the_console_backend_is_the_default(settings, django_capture_on_commit_callbacks, caplog):
    assert settings.SMS_BACKEND == "console"
    clinic = ClinicFactory()
    _lead_texts(clinic, "sms")
    with caplog.at_level("INFO"), django_capture_on_commit_callbacks(execute=True):
        _emit(clinic)
    assert OutboxMessage.objects.get(channel="sms").status == "sent"
    assert "[sms to +919876543210] New enquiry for Glow (lead #7)" in caplog.text
