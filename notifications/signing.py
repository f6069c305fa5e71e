"""The ``Antidote-Signature`` header: ``t=<unix time>,v1=<hex HMAC-SHA256 of "t.body">``.

``verify`` is what a receiver runs (the README shows the same few lines): it rejects a bad
signature and one older than five minutes, so a captured request cannot be replayed later.
"""

import hashlib
import hmac
import time

TOLERANCE_SECONDS = 300


def sign(*, secret: str, body: bytes, timestamp: int | None = None) -> str:
    timestamp = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(
    *, secret: str, body: bytes, header: str, tolerance: int = TOLERANCE_SECONDS, now=None
) -> bool:
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
    except (ValueError, KeyError):
        return False
    now = time.time() if now is None else now
    if abs(now - timestamp) > tolerance:
        return False
    expected = sign(secret=secret, body=body, timestamp=timestamp).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))
