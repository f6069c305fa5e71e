"""Counting rules for the public enquiry form's rate limit.

- The sender is the peer address, or, when ``TRUSTED_PROXY_COUNT`` is N > 0, the Nth address
  from the right of ``X-Forwarded-For`` (what our first trusted proxy saw). A malformed
  header, or one with fewer hops than trusted proxies, falls back to the peer address.
- A valid enquiry counts once against its sender (``LEAD_RATE_LIMIT`` per
  ``LEAD_RATE_WINDOW_SECONDS``) and once against the patient's normalised mobile number
  (``LEAD_PHONE_RATE_LIMIT`` per ``LEAD_PHONE_RATE_WINDOW_SECONDS``), so rotating addresses
  cannot flood one number. Nothing is ever counted per clinic: that would let one sender
  silence a clinic.
- Invalid submissions (and bots caught by the honeypot) count in their own bucket per sender
  (``LEAD_INVALID_RATE_LIMIT`` per ``LEAD_RATE_WINDOW_SECONDS``); they never use up a valid
  enquiry's allowance.
- A refused submission counts nowhere: a bucket is only charged when every bucket it needs
  has room, and an enquiry the service then refuses is moved to the invalid bucket.

Counts live in the default cache (``CACHE_URL``), which must be shared by all workers.
Numbers are hashed before they become cache keys.
"""

import contextlib
import hashlib
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache

from antidote import accounts


def client_ip(request) -> str:
    """The address to count a submission against (see the module docstring)."""
    return accounts.client_ip(request) or "unknown"


def _try_again(seconds: int) -> str:
    """ "try again in 10 minutes": the window's length, the longest the patient may wait."""
    minutes = max(1, -(-seconds // 60))
    return f"try again in {minutes} minute{'s' if minutes != 1 else ''}"


@dataclass(frozen=True)
class Refusal:
    message: str
    retry_after: int


@dataclass(frozen=True)
class _Bucket:
    key: str
    limit: int
    window: int


def _bucket(kind: str, value: str, limit: int, window: int) -> _Bucket:
    digest = hashlib.sha256(value.encode()).hexdigest()[:32]
    return _Bucket(f"enquiry-rate:{kind}:{digest}", limit, window)


def _sender(request) -> _Bucket:
    return _bucket(
        "sender", client_ip(request), settings.LEAD_RATE_LIMIT, settings.LEAD_RATE_WINDOW_SECONDS
    )


def _number(phone: str) -> _Bucket:
    return _bucket(
        "phone",
        phone,
        settings.LEAD_PHONE_RATE_LIMIT,
        settings.LEAD_PHONE_RATE_WINDOW_SECONDS,
    )


def _invalid(request) -> _Bucket:
    return _bucket(
        "invalid",
        client_ip(request),
        settings.LEAD_INVALID_RATE_LIMIT,
        settings.LEAD_RATE_WINDOW_SECONDS,
    )


def _incr(bucket: _Bucket) -> int:
    cache.add(bucket.key, 0, timeout=bucket.window)
    try:
        return cache.incr(bucket.key)
    except ValueError:  # expired between add and incr
        cache.set(bucket.key, 1, timeout=bucket.window)
        return 1


def _decr(bucket: _Bucket) -> None:
    with contextlib.suppress(ValueError):  # already expired: nothing to give back
        cache.decr(bucket.key)


def _take(*buckets: _Bucket) -> _Bucket | None:
    """Count one in every bucket, or in none: the first full bucket, or None."""
    taken = []
    for bucket in buckets:
        taken.append(bucket)
        if _incr(bucket) > bucket.limit:
            for done in taken:
                _decr(done)
            return bucket
    return None


def admit_enquiry(request, *, phone: str) -> Refusal | None:
    """Count a valid enquiry for ``phone`` (normalised); a refusal if a limit is reached."""
    full = _take(_sender(request), _number(phone))
    if full is None:
        return None
    if full.key.startswith("enquiry-rate:phone:"):
        why = "There were several enquiries for this mobile number in a short time"
    else:
        why = "There were several enquiries from your connection in a short time"
    # Say only what is true: this one was not sent. Nothing about the earlier ones.
    message = (
        f"{why}, so this one was not sent. Your details are still in the form: please "
        f"{_try_again(full.window)}."
    )
    return Refusal(message, full.window)


def give_back_enquiry(request, *, phone: str) -> None:
    """The service refused an admitted enquiry: it reached no clinic, so count it as invalid."""
    _decr(_sender(request))
    _decr(_number(phone))
    _incr(_invalid(request))


def admit_invalid(request) -> Refusal | None:
    """Count an invalid submission in its own bucket; a refusal once there were too many."""
    full = _take(_invalid(request))
    if full is None:
        return None
    return Refusal(
        "Too many attempts from your connection, so this one was not sent. Your details are "
        f"still in the form: please {_try_again(full.window)}.",
        full.window,
    )
