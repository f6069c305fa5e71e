"""Clinics' API keys: created and revoked by the clinic's owners, checked on every request.

A key looks like ``adk_1a2b3c4d_<43 random characters>``. The part before the second
underscore is its prefix: stored and shown, so a clinic can tell its keys apart. The whole
key is shown once, when it is created; only its SHA-256 digest is kept.
"""

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from antidote.errors import AntidoteError
from antidote.models import ApiKey

KEY_FORMAT = re.compile(r"(adk_[0-9a-f]{8})_[A-Za-z0-9_-]{43}")
# last_used_at is written at most this often per key, not on every request.
LAST_USED_RESOLUTION = timedelta(minutes=1)
MAX_ACTIVE_KEYS = 20


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class NewKey:
    key: ApiKey
    token: str  # shown once, never stored


def keys_for(*, clinic):
    return ApiKey.objects.filter(clinic=clinic).select_related("created_by", "revoked_by")


def create_api_key(*, clinic, name: str, scope: str, actor) -> NewKey:
    name = (name or "").strip()
    if not name:
        raise AntidoteError("Name the key after what will use it, e.g. 'Our CRM'.")
    if scope not in ApiKey.Scope.values:
        raise AntidoteError("Choose read or write for the key.")
    if keys_for(clinic=clinic).filter(revoked_at__isnull=True).count() >= MAX_ACTIVE_KEYS:
        raise AntidoteError(
            f"{clinic} already has {MAX_ACTIVE_KEYS} active keys; revoke one you no longer use."
        )
    prefix = f"adk_{secrets.token_hex(4)}"
    token = f"{prefix}_{secrets.token_urlsafe(32)}"
    key = ApiKey.objects.create(
        clinic=clinic,
        name=name[:80],
        scope=scope,
        prefix=prefix,
        digest=_digest(token),
        created_by=actor,
    )
    return NewKey(key=key, token=token)


def revoke_api_key(*, clinic, key_id: int, actor) -> ApiKey:
    """Revoke one of ``clinic``'s keys; at once, for every request that follows."""
    with transaction.atomic():
        key = ApiKey.objects.select_for_update().filter(clinic=clinic, pk=key_id).first()
        if key is None:
            raise AntidoteError("There is no such key at this clinic.", code="not_found")
        if key.revoked_at is None:
            key.revoked_at, key.revoked_by = timezone.now(), actor
            key.save(update_fields=["revoked_at", "revoked_by"])
    return key


def key_for_token(token: str) -> ApiKey:
    """The active key this token is, or a refusal that says why not."""
    match = KEY_FORMAT.fullmatch(token)
    key = None
    if match:
        key = ApiKey.objects.select_related("clinic", "created_by").filter(prefix=match[1]).first()
    if key is None or not hmac.compare_digest(key.digest, _digest(token)):
        raise AntidoteError(
            "This API key is not valid. Copy it again from /clinic/api-keys, or create a new one.",
            code="invalid_key",
        )
    if key.revoked_at is not None:
        raise AntidoteError(
            f"The key {key.prefix}… was revoked on {timezone.localtime(key.revoked_at):%d %b %Y}.",
            code="revoked_key",
        )
    if not key.clinic.is_active:
        raise AntidoteError(f"{key.clinic} is not active.", code="inactive_clinic")
    now = timezone.now()
    if key.last_used_at is None or key.last_used_at < now - LAST_USED_RESOLUTION:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now
    return key
