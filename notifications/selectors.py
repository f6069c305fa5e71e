"""Reads for notifications: a clinic's endpoints, its delivery log, its preferences."""

from notifications.models import (
    SUBSCRIBABLE,
    Channel,
    NotificationPreference,
    OutboxMessage,
    WebhookEndpoint,
)
from notifications.services import EMAIL_ON_BY_DEFAULT, HUMAN_CHANNELS


def clinic_endpoints(*, clinic_id: int):
    return WebhookEndpoint.objects.filter(clinic_id=clinic_id).order_by("pk")


def clinic_endpoint(*, clinic_id: int, endpoint_id: int) -> WebhookEndpoint | None:
    return WebhookEndpoint.objects.filter(clinic_id=clinic_id, pk=endpoint_id).first()


def endpoint_delivery_log(*, endpoint: WebhookEndpoint):
    """Every delivery to the endpoint, newest first, with its event and tries."""
    return (
        OutboxMessage.objects.filter(endpoint=endpoint)
        .select_related("event")
        .prefetch_related("tries")
        .order_by("-pk")
    )


def endpoint_deliveries(*, endpoint: WebhookEndpoint, limit: int = 50):
    return list(endpoint_delivery_log(endpoint=endpoint)[:limit])


def clinic_delivery(*, clinic_id: int, message_id: int) -> OutboxMessage | None:
    return (
        OutboxMessage.objects.filter(
            pk=message_id, channel=Channel.WEBHOOK, endpoint__clinic_id=clinic_id
        )
        .select_related("endpoint", "event")
        .first()
    )


def preference_table(*, clinic_id: int) -> list[dict]:
    """Every subscribable event with each channel's setting, the defaults filled in."""
    saved = {
        (p.event_type, p.channel): p
        for p in NotificationPreference.objects.filter(clinic_id=clinic_id)
    }
    rows = []
    for event_type in SUBSCRIBABLE:
        cells = []
        for channel in HUMAN_CHANNELS:
            pref = saved.get((event_type, channel))
            cells.append(
                {
                    "channel": channel,
                    "enabled": pref.enabled
                    if pref
                    else channel == Channel.EMAIL and event_type in EMAIL_ON_BY_DEFAULT,
                    "recipients": pref.recipients if pref else "",
                }
            )
        rows.append({"event_type": event_type, "label": event_type.label, "cells": cells})
    return rows
