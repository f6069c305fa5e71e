"""Events, the outbox every message leaves through, clinics' webhook endpoints, the delivery
log and notification preferences.

An ``Event`` and its ``OutboxMessage`` rows are written in the transaction of whatever caused
them (a lead delivered, a dispute decided): nothing is sent unless that commits, and nothing
committed is lost, because a periodic sweep re-queues rows whose task never ran. Delivery is
at least once; every message carries its event's stable ``public_id`` so receivers can drop
repeats. This app imports no domain app: clinics are referenced by string.
"""

import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q


class EventType(models.TextChoices):
    LEAD_DELIVERED = "lead.delivered", "Lead delivered"
    LEAD_HELD = "lead.held", "Lead held (top up to see it)"
    LEAD_RELEASED = "lead.released", "Held lead released"
    BALANCE_LOW = "balance.low", "Balance below the alert level"
    CREDITS_EXPIRING = "credits.expiring", "Credits about to expire"
    CREDITS_PURCHASED = "credits.purchased", "Credits purchased"
    DISPUTE_OPENED = "dispute.opened", "Dispute opened"
    DISPUTE_DECIDED = "dispute.decided", "Dispute decided"
    INVOICE_ISSUED = "invoice.issued", "Invoice issued"
    # Not subscribable: a clinic's "Send test event" and the notice of a disabled endpoint.
    WEBHOOK_TEST = "webhook.test", "Test event"
    ENDPOINT_DISABLED = "webhook_endpoint.disabled", "Webhook endpoint disabled"
    # Not subscribable either: an invitation is addressed to the invited person, not the clinic.
    TEAM_INVITED = "team.invited", "Team invitation"


# What a clinic may subscribe an endpoint or a channel to.
SUBSCRIBABLE = [
    t
    for t in EventType
    if t not in (EventType.WEBHOOK_TEST, EventType.ENDPOINT_DISABLED, EventType.TEAM_INVITED)
]


def new_event_id() -> str:
    return f"evt_{secrets.token_hex(12)}"


class Event(models.Model):
    """Something that happened to a clinic, once; its ``public_id`` is the id receivers see."""

    public_id = models.CharField(max_length=40, unique=True, default=new_event_id, editable=False)
    type = models.CharField(max_length=40, choices=EventType.choices)
    clinic = models.ForeignKey("leads.Clinic", on_delete=models.CASCADE, related_name="+")
    data = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["clinic", "-created_at"])]

    def __str__(self):
        return f"{self.public_id} {self.type}"


class Channel(models.TextChoices):
    EMAIL = "email", "Email"
    SMS = "sms", "SMS"
    WHATSAPP = "whatsapp", "WhatsApp"
    WEBHOOK = "webhook", "Webhook"


def new_webhook_secret() -> str:
    return f"whsec_{secrets.token_urlsafe(32)}"


class WebhookEndpoint(models.Model):
    """A clinic's own URL that receives its events, signed with a secret shown once."""

    clinic = models.ForeignKey(
        "leads.Clinic", on_delete=models.CASCADE, related_name="webhook_endpoints"
    )
    url = models.URLField(max_length=500)
    description = models.CharField(max_length=200, blank=True)
    # Event types it receives; never empty (a form and the service both refuse that).
    events = models.JSONField(default=list)
    # Kept to sign every delivery (HMAC needs the secret itself); shown to the clinic once.
    secret = models.CharField(max_length=80, default=new_webhook_secret, editable=False)
    is_active = models.BooleanField(default=True)
    disabled_at = models.DateTimeField(null=True, blank=True)
    disabled_reason = models.CharField(max_length=255, blank=True)
    # First failure since the last success: 3 days of failures disable the endpoint.
    failing_since = models.DateTimeField(null=True, blank=True)
    # Who is told when it is disabled.
    notify_email = models.EmailField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["pk"]

    def __str__(self):
        return self.url

    @property
    def secret_hint(self) -> str:
        return f"{self.secret[:10]}…"


class OutboxMessage(models.Model):
    """One message to one recipient on one channel, written with its cause and sent by a task.

    At most one row per event and recipient (a constraint), so an event emitted twice, or a
    retried emit, never queues a second copy.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting to be sent"
        SENT = "sent", "Sent"
        FAILED = "failed", "Gave up"
        CANCELLED = "cancelled", "Cancelled"

    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="messages")
    channel = models.CharField(max_length=10, choices=Channel.choices)
    # An email address, an E.164 number, or empty for a webhook (the endpoint says where).
    recipient = models.CharField(max_length=254, blank=True)
    endpoint = models.ForeignKey(
        WebhookEndpoint, null=True, blank=True, on_delete=models.CASCADE, related_name="messages"
    )
    subject = models.CharField(max_length=255, blank=True)
    body = models.TextField(blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(db_index=True)
    # Retries stop here (24 hours after the message, or after a redelivery was asked for).
    give_up_at = models.DateTimeField()
    # A worker's claim: nobody else sends the row until then (a crashed worker's claim lapses).
    claimed_until = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["event", "channel", "recipient"],
                condition=Q(endpoint__isnull=True),
                name="outbox_once_per_event_recipient",
            ),
            models.UniqueConstraint(
                fields=["event", "endpoint"],
                condition=Q(endpoint__isnull=False),
                name="outbox_once_per_event_endpoint",
            ),
            models.CheckConstraint(
                condition=Q(channel="webhook", endpoint__isnull=False)
                | (~Q(channel="webhook") & Q(endpoint__isnull=True)),
                name="outbox_webhook_has_endpoint",
            ),
        ]
        indexes = [models.Index(fields=["status", "next_attempt_at"])]

    def __str__(self):
        return f"{self.get_channel_display()} #{self.pk} ({self.event.type})"


class DeliveryAttempt(models.Model):
    """Each try of an outbox message: the delivery log clinics and staff read."""

    message = models.ForeignKey(OutboxMessage, on_delete=models.CASCADE, related_name="tries")
    attempted_at = models.DateTimeField(auto_now_add=True)
    ok = models.BooleanField()
    status_code = models.PositiveIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    response_excerpt = models.CharField(max_length=500, blank=True)
    error = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-attempted_at", "-pk"]

    def __str__(self):
        return f"try of message #{self.message_id} at {self.attempted_at:%Y-%m-%d %H:%M:%S}"


class NotificationPreference(models.Model):
    """Per clinic: does an event go to a channel, and to whom (empty: the clinic's address)."""

    clinic = models.ForeignKey(
        "leads.Clinic", on_delete=models.CASCADE, related_name="notification_preferences"
    )
    event_type = models.CharField(max_length=40, choices=EventType.choices)
    channel = models.CharField(max_length=10, choices=Channel.choices)
    enabled = models.BooleanField(default=True)
    # Comma-separated addresses or +91 numbers; empty: the clinic's contact address.
    recipients = models.CharField(max_length=500, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["clinic", "event_type", "channel"], name="one_preference_per_event_channel"
            ),
            models.CheckConstraint(
                condition=~Q(channel="webhook"), name="preference_not_for_webhooks"
            ),
        ]

    def __str__(self):
        return f"{self.event_type} by {self.channel}"
