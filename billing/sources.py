"""What caused a ledger entry, for the back office's links, without billing knowing other apps.

An app that posts entries under its own idempotency keys registers each key prefix with the
model whose primary key ends the key (payments: ``purchase:order:<id>`` → ``PaymentOrder``).
Billing never parses another app's keys on its own and imports nothing from those apps.
"""

from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import models


@dataclass(frozen=True)
class EntrySource:
    model: type[models.Model]
    pk: object
    label: str


_SOURCES: dict[str, tuple[type[models.Model], str]] = {}


def register_entry_source(*, prefix: str, model: type[models.Model], label: str) -> None:
    """Entries keyed ``<prefix>:<pk>`` were caused by the ``model`` row with that pk."""
    _SOURCES[prefix] = (model, label)


def entry_source(*, idempotency_key: str) -> EntrySource | None:
    prefix, _, raw_pk = idempotency_key.rpartition(":")
    if prefix not in _SOURCES:
        return None
    model, label = _SOURCES[prefix]
    try:
        pk = model._meta.pk.to_python(raw_pk)
    except ValidationError:
        return None  # not a key this app made
    return EntrySource(model=model, pk=pk, label=label)
