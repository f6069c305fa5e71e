"""Webhook delivery: at least once, signed, each event id once for a receiver that drops
repeats, retried with backoff, and never lost between a commit and the queue."""

import json
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from antidote.errors import AntidoteError
from notifications import services, signing, webhooks
from notifications.models import DeliveryAttempt, EventType, OutboxMessage
from tests.factories import ClinicFactory
from tests.notifications.receiver import Receiver

pytestmark = pytest.mark.django_db


def _endpoint(clinic, url, events=(EventType.LEAD_DELIVERED,)):
    return services.create_webhook_endpoint(clinic=clinic, url=url, events=list(events))


def _emit(clinic, **data):
    return services.emit(
        type=EventType.LEAD_DELIVERED,
        clinic_id=clinic.pk,
        data={"lead": 1, **data},
        subject="New enquiry",
        text="A patient enquired.",
        contact_email=clinic.contact_email,
    )


def _make_due(message):
    """Time passes until the retry is due (the backoff is minutes)."""
    OutboxMessage.objects.filter(pk=message.pk).update(
        next_attempt_at=timezone.now() - timedelta(seconds=1)
    )


def test_receiver_failing_twice_then_succeeding_gets_the_event_exactly_once(
    django_capture_on_commit_callbacks,
):
    clinic = ClinicFactory()
    with Receiver(fail_first=2) as receiver:
        endpoint = _endpoint(clinic, receiver.url)
        receiver.secret = endpoint.secret
        with django_capture_on_commit_callbacks(execute=True):
            event = _emit(clinic)
        message = OutboxMessage.objects.get(endpoint=endpoint)
        assert (message.status, message.attempts) == ("pending", 1)
        # The first retry waits a minute, the second two: backoff, not a tight loop.
        assert message.next_attempt_at > timezone.now() + timedelta(seconds=50)
        for _ in range(2):
            _make_due(message)
            services.sweep_outbox(older_than=timedelta(0))
        message.refresh_from_db()

    assert message.status == "sent" and message.attempts == 3
    assert receiver.accepted == [event.public_id]
    # Every try carried the same event id: that is what lets the receiver drop repeats.
    assert {r["headers"]["Antidote-Event-Id"] for r in receiver.requests} == {event.public_id}
    log = list(DeliveryAttempt.objects.filter(message=message).order_by("pk"))
    assert [(a.ok, a.status_code) for a in log] == [(False, 500), (False, 500), (True, 200)]
    assert log[-1].response_excerpt == "answer 200"


def test_a_redelivery_repeats_the_event_id_and_the_receiver_processes_it_once(
    django_capture_on_commit_callbacks,
):
    clinic = ClinicFactory()
    with Receiver() as receiver:
        endpoint = _endpoint(clinic, receiver.url)
        receiver.secret = endpoint.secret
        with django_capture_on_commit_callbacks(execute=True):
            event = _emit(clinic)
        message = OutboxMessage.objects.get(endpoint=endpoint)
        with django_capture_on_commit_callbacks(execute=True):
            services.redeliver(message=message)
    assert len(receiver.requests) == 2
    assert receiver.accepted == [event.public_id]


def test_payload_is_id_type_created_data_and_signed_over_timestamp_and_body(
    django_capture_on_commit_callbacks,
):
    clinic = ClinicFactory()
    with Receiver() as receiver:
        endpoint = _endpoint(clinic, receiver.url)
        receiver.secret = endpoint.secret
        with django_capture_on_commit_callbacks(execute=True):
            event = _emit(clinic, package="Hydrafacial")
    (request,) = receiver.requests
    body = json.loads(request["body"])
    assert body == {
        "id": event.public_id,
        "type": "lead.delivered",
        "created": int(event.created_at.timestamp()),
        "data": {"lead": 1, "package": "Hydrafacial"},
    }
    header = request["headers"]["Antidote-Signature"]
    assert header.startswith("t=") and ",v1=" in header
    assert signing.verify(secret=endpoint.secret, body=request["body"], header=header)
    assert not signing.verify(secret="whsec_other", body=request["body"], header=header)


def test_a_receiver_rejects_a_replayed_signature(django_capture_on_commit_callbacks):
    clinic = ClinicFactory()
    with Receiver() as receiver:
        endpoint = _endpoint(clinic, receiver.url)
        receiver.secret = endpoint.secret
        with django_capture_on_commit_callbacks(execute=True):
            _emit(clinic)
        (request,) = receiver.requests
        body, header = request["body"], request["headers"]["Antidote-Signature"]
        # Replayed six minutes later: the HMAC still matches, the age does not.
        later = time.time() + 6 * 60
        assert not signing.verify(secret=endpoint.secret, body=body, header=header, now=later)
        # The same request signed ten minutes ago, sent to the receiver now, is refused.
        stale = signing.sign(secret=endpoint.secret, body=body, timestamp=int(time.time()) - 600)
        assert receiver.answer({"Antidote-Signature": stale}, body) == 400
        tampered = body.replace(b"lead.delivered", b"lead.held")
        assert receiver.answer({"Antidote-Signature": header}, tampered) == 400
    assert len(receiver.accepted) == 1


def test_the_sweep_sends_a_row_whose_task_was_never_queued(django_capture_on_commit_callbacks):
    clinic = ClinicFactory()
    with Receiver() as receiver:
        endpoint = _endpoint(clinic, receiver.url)
        receiver.secret = endpoint.secret
        # The transaction commits but the enqueue is lost (the callback never runs).
        with django_capture_on_commit_callbacks(execute=False):
            event = _emit(clinic)
        message = OutboxMessage.objects.get(endpoint=endpoint)
        assert message.status == "pending" and receiver.requests == []
        # Not yet: a row only just written is its task's to send.
        assert services.sweep_outbox() == 0
        OutboxMessage.objects.filter(event=event).update(
            next_attempt_at=timezone.now() - timedelta(minutes=2)
        )
        assert services.sweep_outbox() == 2  # the webhook and the clinic's email
        assert services.sweep_outbox() == 0
    message.refresh_from_db()
    assert message.status == "sent"
    assert receiver.accepted == [event.public_id]


def test_a_claimed_message_is_not_sent_twice(django_capture_on_commit_callbacks):
    clinic = ClinicFactory()
    with Receiver() as receiver:
        endpoint = _endpoint(clinic, receiver.url)
        receiver.secret = endpoint.secret
        with django_capture_on_commit_callbacks(execute=False):
            _emit(clinic)
        message = OutboxMessage.objects.get(endpoint=endpoint)
        # Another worker holds it (its claim has not lapsed): this one leaves it alone.
        OutboxMessage.objects.filter(pk=message.pk).update(
            claimed_until=timezone.now() + timedelta(seconds=60)
        )
        assert services.deliver_message(message_id=message.pk) is None
        OutboxMessage.objects.filter(pk=message.pk).update(claimed_until=None)
        assert services.deliver_message(message_id=message.pk).status == "sent"
        assert services.deliver_message(message_id=message.pk) is None
    assert len(receiver.requests) == 1


def test_retries_stop_after_a_day_and_three_days_of_failures_disable_the_endpoint(
    django_capture_on_commit_callbacks, mailoutbox
):
    clinic = ClinicFactory()
    with Receiver(fail_first=100) as receiver:
        endpoint = _endpoint(clinic, receiver.url)
        with django_capture_on_commit_callbacks(execute=True):
            _emit(clinic)
        message = OutboxMessage.objects.get(endpoint=endpoint)
        OutboxMessage.objects.filter(pk=message.pk).update(
            give_up_at=timezone.now() + timedelta(seconds=30)
        )
        type(endpoint).objects.filter(pk=endpoint.pk).update(
            failing_since=timezone.now() - timedelta(days=3, minutes=1)
        )
        _make_due(message)
        mailoutbox.clear()
        with django_capture_on_commit_callbacks(execute=True):
            services.sweep_outbox(older_than=timedelta(0))
    message.refresh_from_db()
    endpoint.refresh_from_db()
    assert message.status == "failed"
    assert not endpoint.is_active and endpoint.disabled_at is not None
    (notice,) = mailoutbox
    assert "disabled" in notice.subject and receiver.url in notice.body
    # A disabled endpoint receives nothing more.
    with django_capture_on_commit_callbacks(execute=True):
        _emit(clinic)
    assert not OutboxMessage.objects.filter(endpoint=endpoint, status="pending").exists()


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.5/hook",
        "http://192.168.1.1/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::ffff:10.0.0.1]/hook",
        "http://[fd00::1]/hook",
        "http://0.0.0.0/hook",
        "ftp://example.com/hook",
        "http://user:pw@example.com/hook",
        "not a url",
    ],
)
def test_private_link_local_and_malformed_urls_are_refused(url):
    with pytest.raises(AntidoteError):
        _endpoint(ClinicFactory(), url)


def test_plain_http_to_a_public_address_is_refused_https_is_not():
    with pytest.raises(AntidoteError, match="Use an https:// URL"):
        webhooks.check_url("http://93.184.216.34/hook")
    assert webhooks.check_url(" https://93.184.216.34/hook ") == "https://93.184.216.34/hook"


def test_an_http_endpoint_saved_before_the_https_rule_is_not_posted_to(
    django_capture_on_commit_callbacks,
):
    clinic = ClinicFactory()
    endpoint = _endpoint(clinic, "https://93.184.216.34/hook")
    type(endpoint).objects.filter(pk=endpoint.pk).update(url="http://93.184.216.34/hook")
    with django_capture_on_commit_callbacks(execute=True):
        _emit(clinic)
    attempt = DeliveryAttempt.objects.get(message__endpoint=endpoint)  # no connection made
    assert "Use an https:// URL" in attempt.error


def test_loopback_is_refused_unless_the_setting_allows_it(settings):
    settings.WEBHOOK_ALLOW_LOOPBACK = False
    with pytest.raises(AntidoteError, match="private, loopback or link-local"):
        _endpoint(ClinicFactory(), "http://127.0.0.1:9/hook")


def test_a_redirect_is_a_failure_never_followed(django_capture_on_commit_callbacks):
    clinic = ClinicFactory()
    with Receiver(fail_first=1, status=302) as receiver:
        endpoint = _endpoint(clinic, receiver.url)
        with django_capture_on_commit_callbacks(execute=True):
            _emit(clinic)
    attempt = DeliveryAttempt.objects.get(message__endpoint=endpoint)  # no connection made
    assert (attempt.ok, attempt.status_code) == (False, 302)
    assert len(receiver.requests) == 1
