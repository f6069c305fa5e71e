"""A notification that cannot be sent never fails the request, the top-up or the command
that caused it, and never holds it longer than the email timeout."""

import logging
import time
from io import StringIO

import pytest
from django.core import mail
from django.core.cache import cache
from django.core.mail import get_connection
from django.core.management import call_command

from billing.models import CreditAccount
from billing.selectors import account_balance
from disputes import services as disputes
from leads import services
from leads.models import Lead
from notifications.models import OutboxMessage
from tests.factories import ClinicFactory, fund
from tests.mail_backends import SelectiveEmailBackend, SilentSMTPServer, closed_port

pytestmark = pytest.mark.django_db

SMTP = "django.core.mail.backends.smtp.EmailBackend"


@pytest.fixture(autouse=True)
def fresh_rate_limit():
    cache.clear()


@pytest.fixture(params=["failing-backend", "smtp-port-closed"])
def broken_mail(request, settings):
    """Two real ways for mail to fail: the backend raises SMTPException, or the SMTP server
    refuses the connection."""
    if request.param == "failing-backend":
        settings.EMAIL_BACKEND = "tests.mail_backends.FailingEmailBackend"
    else:
        settings.EMAIL_BACKEND = SMTP
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", closed_port()
        settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    return request.param


def _enquiry(clinic, phone="98765 43210"):
    return {
        "name": "Asha Patel",
        "phone": phone,
        "message": "",
        "consent": "on",
        "website": "",
        "clinic": clinic.pk,
    }


def test_enquiry_succeeds_and_is_charged_when_email_fails(
    client, clinic, broken_mail, django_capture_on_commit_callbacks, caplog
):
    fund(clinic, 1_000)
    with caplog.at_level(logging.WARNING), django_capture_on_commit_callbacks(execute=True):
        response = client.post("/contact-clinic", _enquiry(clinic))
    assert (response.status_code, response["Location"]) == (302, "/enquiry-sent")
    lead = Lead.objects.get()
    assert lead.billing_state == Lead.Billing.CHARGED
    assert account_balance(clinic=clinic) == 900
    # The failure is logged and kept on the outbox row, which is retried later, not dropped.
    assert "outbox message" in caplog.text.lower()
    (email,) = OutboxMessage.objects.filter(channel="email")
    assert (email.status, email.attempts) == ("pending", 1) and email.last_error


def test_held_enquiry_succeeds_when_email_fails(
    client, clinic, broken_mail, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/contact-clinic", _enquiry(clinic))
    assert response.status_code == 302
    assert Lead.objects.get().billing_state == Lead.Billing.HELD


def test_top_up_still_releases_held_leads_when_email_fails(
    clinic, broken_mail, django_capture_on_commit_callbacks
):
    services.submit_enquiry(clinic=clinic, name="Asha", phone="9876543210")
    with django_capture_on_commit_callbacks(execute=True):
        fund(clinic, 500)
    assert Lead.objects.get().billing_state == Lead.Billing.CHARGED
    assert account_balance(clinic=clinic) == 400


def test_deciding_a_dispute_succeeds_when_email_fails(
    clinic, staff, broken_mail, django_capture_on_commit_callbacks
):
    fund(clinic, 1_000)
    lead = services.submit_enquiry(clinic=clinic, name="Asha", phone="9876543210")
    dispute = disputes.open_dispute(
        lead=lead,
        user=None,
        dispute_type="invalid_contact",
        description="The number is switched off; we called three times.",
    )
    with django_capture_on_commit_callbacks(execute=True):
        disputes.approve_dispute(dispute=dispute, actor=staff)
    dispute.refresh_from_db()
    assert dispute.status == "approved"
    assert account_balance(clinic=clinic) == 1_000


def test_low_balance_alerts_reach_everyone_the_mail_server_accepts_and_retry_the_rest(
    settings, monkeypatch, django_capture_on_commit_callbacks
):
    broken, ok = ClinicFactory(name="Aster"), ClinicFactory(name="Glow")  # the broken one first
    for clinic in (broken, ok):
        CreditAccount.objects.filter(clinic=clinic).update(low_balance_threshold=500)
        fund(clinic, 100)
    settings.EMAIL_BACKEND = "tests.mail_backends.SelectiveEmailBackend"
    monkeypatch.setattr(SelectiveEmailBackend, "fail_for", {broken.contact_email})
    with django_capture_on_commit_callbacks(execute=True):
        call_command("send_low_balance_alerts", stdout=StringIO(), stderr=StringIO())
    assert [m.to for m in mail.outbox] == [[ok.contact_email]]
    # Aster's alert waits in the outbox for its retry; its crossing is not alerted twice.
    waiting = OutboxMessage.objects.get(status="pending")
    assert waiting.recipient == broken.contact_email and waiting.last_error


def test_email_connections_time_out_after_ten_seconds_by_default():
    from antidote import settings as production

    assert production.EMAIL_TIMEOUT == 10
    assert get_connection(SMTP).timeout == 10


def test_a_mail_server_that_never_answers_holds_the_enquiry_only_for_the_timeout(
    client, clinic, settings, django_capture_on_commit_callbacks
):
    server = SilentSMTPServer()
    settings.EMAIL_BACKEND, settings.EMAIL_TIMEOUT = SMTP, 0.5
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", server.port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    fund(clinic, 1_000)
    started = time.monotonic()
    try:
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post("/contact-clinic", _enquiry(clinic))
    finally:
        server.close()
    assert response.status_code == 302
    assert time.monotonic() - started < 5
    assert Lead.objects.get().billing_state == Lead.Billing.CHARGED
