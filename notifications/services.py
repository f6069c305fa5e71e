"""Writes for notifications: emitting events into the outbox, sending what is due, and clinics'
webhook endpoints.

``emit`` is called by each domain app inside its own transaction; it writes the event and one
outbox row per recipient, and queues a send task only after that transaction commits. A send
never raises into the code that caused it: failures are recorded on the row and retried with
backoff by the task or, if the task was lost, by ``sweep_outbox``.
"""

import logging
from collections.abc import Iterable
from datetime import timedelta
from functools import partial

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from antidote.errors import AntidoteError
from notifications import channels, webhooks
from notifications.models import (
    SUBSCRIBABLE,
    Channel,
    DeliveryAttempt,
    Event,
    EventType,
    NotificationPreference,
    OutboxMessage,
    WebhookEndpoint,
)

logger = logging.getLogger(__name__)

# Sent by email to the clinic's contact address unless the clinic turned it off.
EMAIL_ON_BY_DEFAULT = frozenset(
    {
        EventType.LEAD_DELIVERED,
        EventType.LEAD_HELD,
        EventType.LEAD_RELEASED,
        EventType.BALANCE_LOW,
        EventType.CREDITS_EXPIRING,
        EventType.DISPUTE_DECIDED,
        EventType.ENDPOINT_DISABLED,
    }
)
HUMAN_CHANNELS = (Channel.EMAIL, Channel.SMS, Channel.WHATSAPP)
RETRY_WINDOW = timedelta(hours=24)
DISABLE_AFTER = timedelta(days=3)
CLAIM_SECONDS = 120


# Emitting ---------------------------------------------------------------------------------------


def emit(
    *,
    type: str,
    clinic_id: int,
    data: dict,
    subject: str = "",
    text: str = "",
    contact_email: str = "",
    to: Iterable[str] = (),
) -> Event:
    """Record an event and its messages in the caller's transaction; send after commit.

    ``subject`` and ``text`` are what people read (email, SMS, WhatsApp); ``data`` is what
    webhooks receive. ``contact_email`` is the clinic's address, used where a preference names
    no recipients. ``to`` addresses a message to people rather than the clinic (an invitation):
    those email addresses only, whatever the clinic's preferences say.
    """
    if type not in EventType.values:
        raise AntidoteError(f"Unknown event type {type!r}.")
    with transaction.atomic():
        event = Event.objects.create(type=type, clinic_id=clinic_id, data=data)
        now = timezone.now()
        rows = [
            OutboxMessage(
                event=event,
                channel=channel,
                recipient=recipient,
                subject=subject[:255],
                body=text,
                next_attempt_at=now,
                give_up_at=now + RETRY_WINDOW,
            )
            for channel, recipient in (
                [(Channel.EMAIL, address) for address in dict.fromkeys(to)]
                if to
                else _human_recipients(event, contact_email)
            )
        ]
        if type in SUBSCRIBABLE:
            rows += [
                OutboxMessage(
                    event=event,
                    channel=Channel.WEBHOOK,
                    endpoint=endpoint,
                    next_attempt_at=now,
                    give_up_at=now + RETRY_WINDOW,
                )
                for endpoint in WebhookEndpoint.objects.filter(clinic_id=clinic_id, is_active=True)
                if type in endpoint.events
            ]
        messages = OutboxMessage.objects.bulk_create(rows)
        _enqueue_after_commit([m.pk for m in messages])
    return event


def _human_recipients(event: Event, contact_email: str) -> list[tuple[str, str]]:
    prefs = {
        p.channel: p
        for p in NotificationPreference.objects.filter(
            clinic_id=event.clinic_id, event_type=event.type
        )
    }
    found = []
    for channel in HUMAN_CHANNELS:
        pref = prefs.get(channel)
        if pref is None:
            enabled, listed = channel == Channel.EMAIL and event.type in EMAIL_ON_BY_DEFAULT, []
        else:
            enabled, listed = pref.enabled, split_recipients(pref.recipients)
        if not enabled:
            continue
        if not listed and channel == Channel.EMAIL and contact_email:
            listed = [contact_email]
        found += [(channel, r) for r in dict.fromkeys(listed)]
    return found


def split_recipients(raw: str) -> list[str]:
    return [part.strip() for part in (raw or "").replace(";", ",").split(",") if part.strip()]


def _enqueue_after_commit(message_ids: list[int]) -> None:
    if message_ids:
        transaction.on_commit(partial(enqueue, message_ids), robust=True)


def enqueue(message_ids: Iterable[int], countdown: int | None = None) -> None:
    """Hand messages to the task queue; a broker that is down only delays them (the sweep)."""
    from notifications.tasks import deliver

    for message_id in message_ids:
        try:
            if countdown and not settings.CELERY_TASK_ALWAYS_EAGER:
                deliver.apply_async(args=[message_id], countdown=countdown)
            elif not countdown:
                deliver.delay(message_id)
        except Exception:
            logger.exception("Could not queue outbox message #%s; the sweep will", message_id)


# Sending ----------------------------------------------------------------------------------------


def backoff(attempts: int) -> timedelta:
    """1, 2, 4 … minutes after each failure, at most 6 hours apart."""
    return timedelta(minutes=min(2 ** max(attempts - 1, 0), 360))


def _claim(message_id: int) -> OutboxMessage | None:
    """Take a due message for this worker alone (a conditional update): None if it is not due,
    already sent, or another worker holds it."""
    now = timezone.now()
    claimed = OutboxMessage.objects.filter(
        Q(claimed_until__isnull=True) | Q(claimed_until__lt=now),
        pk=message_id,
        status=OutboxMessage.Status.PENDING,
        next_attempt_at__lte=now,
    ).update(claimed_until=now + timedelta(seconds=CLAIM_SECONDS), attempts=F("attempts") + 1)
    if not claimed:
        return None
    return OutboxMessage.objects.select_related("event", "endpoint").get(pk=message_id)


def deliver_message(*, message_id: int) -> OutboxMessage | None:
    """Send one outbox message if it is due; record the try; never raise for a failed send."""
    message = _claim(message_id)
    if message is None:
        return None
    if message.channel == Channel.WEBHOOK and not message.endpoint.is_active:
        _finish(message, status=OutboxMessage.Status.CANCELLED, error="endpoint disabled")
        message.refresh_from_db()
        return message
    started = timezone.now()
    result = _send(message)
    DeliveryAttempt.objects.create(
        message=message,
        ok=result.ok,
        status_code=result.status_code,
        duration_ms=result.duration_ms,
        response_excerpt=result.excerpt[:500],
        error=result.error[:500],
    )
    if result.ok:
        _finish(message, status=OutboxMessage.Status.SENT, sent_at=started)
        if message.endpoint_id:
            WebhookEndpoint.objects.filter(pk=message.endpoint_id).update(failing_since=None)
        message.refresh_from_db()
        return message
    logger.warning("Outbox message #%s failed: %s", message.pk, result.error)
    retry_at = timezone.now() + backoff(message.attempts)
    if retry_at > message.give_up_at:
        _finish(message, status=OutboxMessage.Status.FAILED, error=result.error)
    else:
        OutboxMessage.objects.filter(pk=message.pk).update(
            next_attempt_at=retry_at, claimed_until=None, last_error=result.error[:2000]
        )
        enqueue([message.pk], countdown=int((retry_at - timezone.now()).total_seconds()) + 1)
    if message.endpoint_id:
        _note_endpoint_failure(message.endpoint)
    message.refresh_from_db()
    return message


def _send(message: OutboxMessage) -> channels.Result:
    try:
        if message.channel == Channel.WEBHOOK:
            return webhooks.post_event(endpoint=message.endpoint, event=message.event)
        if message.channel == Channel.EMAIL:
            return channels.timed(
                lambda: send_mail(
                    message.subject,
                    message.body,
                    settings.DEFAULT_FROM_EMAIL,
                    [message.recipient],
                )
            )
        return channels.text_backend().send(
            channel=message.channel, to=message.recipient, text=channels.short_text(message)
        )
    except Exception as error:  # a channel's own bug must not kill the worker's loop
        logger.exception("Outbox message #%s raised", message.pk)
        return channels.Result(ok=False, error=f"{type(error).__name__}: {error}")


def _finish(message: OutboxMessage, *, status: str, error: str = "", sent_at=None) -> None:
    OutboxMessage.objects.filter(pk=message.pk).update(
        status=status, claimed_until=None, last_error=error[:2000], sent_at=sent_at
    )


def _note_endpoint_failure(endpoint: WebhookEndpoint) -> None:
    """Start the endpoint's failure clock; after 3 days of failures, disable it and tell the
    clinic (once: the disabling is a conditional update)."""
    now = timezone.now()
    WebhookEndpoint.objects.filter(pk=endpoint.pk, failing_since__isnull=True).update(
        failing_since=now
    )
    with transaction.atomic():
        disabled = WebhookEndpoint.objects.filter(
            pk=endpoint.pk, is_active=True, failing_since__lte=now - DISABLE_AFTER
        ).update(
            is_active=False,
            disabled_at=now,
            disabled_reason="Every delivery failed for 3 days.",
        )
        if disabled:
            emit(
                type=EventType.ENDPOINT_DISABLED,
                clinic_id=endpoint.clinic_id,
                data={"endpoint": endpoint.pk, "url": endpoint.url},
                subject="A webhook endpoint was disabled",
                text=(
                    f"Every delivery to {endpoint.url} failed for 3 days, so Antidote stopped "
                    "sending to it. Fix the receiver, then turn the endpoint on again in the "
                    f"portal: {settings.SITE_URL}/clinic/webhooks"
                ),
                contact_email=endpoint.notify_email,
            )


def sweep_outbox(*, older_than: timedelta = timedelta(seconds=60)) -> int:
    """Queue again every due message nobody holds that has waited longer than ``older_than``:
    a lost enqueue or a crashed worker only delays a message. Returns how many."""
    now = timezone.now()
    stuck = list(
        OutboxMessage.objects.filter(
            Q(claimed_until__isnull=True) | Q(claimed_until__lt=now),
            status=OutboxMessage.Status.PENDING,
            next_attempt_at__lte=now - older_than,
        )
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:1000]
    )
    enqueue(stuck)
    return len(stuck)


# Webhook endpoints ------------------------------------------------------------------------------


def _clean_events(events) -> list[str]:
    events = list(dict.fromkeys(events or []))
    unknown = [e for e in events if e not in SUBSCRIBABLE]
    if unknown:
        raise AntidoteError(f"Unknown event type(s): {', '.join(map(str, unknown))}.")
    if not events:
        raise AntidoteError("Choose at least one event for the endpoint to receive.")
    return events


def create_webhook_endpoint(
    *, clinic, url: str, events, description: str = "", actor=None
) -> WebhookEndpoint:
    """Register a clinic's endpoint. Its ``secret`` is for the caller to show once."""
    url = webhooks.check_url(url)
    return WebhookEndpoint.objects.create(
        clinic=clinic,
        url=url,
        events=_clean_events(events),
        description=(description or "").strip()[:200],
        created_by=actor if getattr(actor, "pk", None) else None,
        notify_email=(getattr(actor, "email", "") or clinic.contact_email),
    )


def update_webhook_endpoint(
    *, endpoint: WebhookEndpoint, url=None, events=None, description=None, is_active=None
) -> WebhookEndpoint:
    """Change an endpoint; turning it on again restarts its failure clock."""
    fields = []
    if url is not None:
        endpoint.url = webhooks.check_url(url)
        fields.append("url")
    if events is not None:
        endpoint.events = _clean_events(events)
        fields.append("events")
    if description is not None:
        endpoint.description = description.strip()[:200]
        fields.append("description")
    if is_active is not None and is_active != endpoint.is_active:
        endpoint.is_active = is_active
        endpoint.failing_since = None
        endpoint.disabled_at = None if is_active else timezone.now()
        endpoint.disabled_reason = "" if is_active else "Turned off by the clinic."
        fields += ["is_active", "failing_since", "disabled_at", "disabled_reason"]
    if fields:
        endpoint.save(update_fields=fields)
    return endpoint


def delete_webhook_endpoint(*, endpoint: WebhookEndpoint) -> None:
    endpoint.delete()


def roll_webhook_secret(*, endpoint: WebhookEndpoint) -> WebhookEndpoint:
    """A new secret, effective at once; the caller shows it once."""
    from notifications.models import new_webhook_secret

    endpoint.secret = new_webhook_secret()
    endpoint.save(update_fields=["secret"])
    return endpoint


def send_test_event(*, endpoint: WebhookEndpoint) -> OutboxMessage:
    """A ``webhook.test`` event to this one endpoint, through the outbox like any other."""
    if not endpoint.is_active:
        raise AntidoteError("Turn the endpoint on before sending it a test event.")
    now = timezone.now()
    with transaction.atomic():
        event = Event.objects.create(
            type=EventType.WEBHOOK_TEST,
            clinic_id=endpoint.clinic_id,
            data={"message": "A test event from Antidote.", "endpoint": endpoint.pk},
        )
        message = OutboxMessage.objects.create(
            event=event,
            channel=Channel.WEBHOOK,
            endpoint=endpoint,
            next_attempt_at=now,
            give_up_at=now + RETRY_WINDOW,
        )
        _enqueue_after_commit([message.pk])
    return message


def redeliver(*, message: OutboxMessage) -> OutboxMessage:
    """Send a webhook message again, with the same event id, and retry it for another day."""
    if message.channel != Channel.WEBHOOK:
        raise AntidoteError("Only webhook deliveries can be redelivered.")
    if not message.endpoint.is_active:
        raise AntidoteError("Turn the endpoint on before redelivering to it.")
    now = timezone.now()
    with transaction.atomic():
        OutboxMessage.objects.filter(pk=message.pk).update(
            status=OutboxMessage.Status.PENDING,
            next_attempt_at=now,
            give_up_at=now + RETRY_WINDOW,
            claimed_until=None,
        )
        _enqueue_after_commit([message.pk])
    message.refresh_from_db()
    return message


# Preferences ------------------------------------------------------------------------------------


def set_preference(
    *, clinic, event_type: str, channel: str, enabled: bool, recipients: str = ""
) -> NotificationPreference:
    if event_type not in SUBSCRIBABLE:
        raise AntidoteError(f"Unknown event type {event_type!r}.")
    if channel not in HUMAN_CHANNELS:
        raise AntidoteError(f"Unknown channel {channel!r}.")
    listed = split_recipients(recipients)
    for recipient in listed:
        channels.check_recipient(channel, recipient)
    if enabled and channel != Channel.EMAIL and not listed:
        raise AntidoteError(f"Give at least one mobile number for {Channel(channel).label}.")
    pref, _ = NotificationPreference.objects.update_or_create(
        clinic=clinic,
        event_type=event_type,
        channel=channel,
        defaults={"enabled": enabled, "recipients": ", ".join(listed)},
    )
    return pref
