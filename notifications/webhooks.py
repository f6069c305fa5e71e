"""Delivering an event to a clinic's endpoint: the payload, the signature, and the SSRF guard.

A clinic chooses the URL, so the server must not become a way into our own network: the host
is resolved once, every address must be public (loopback only where ``WEBHOOK_ALLOW_LOOPBACK``
is set, as the tests do), and the connection goes to the address that was checked, so a DNS
answer that changes between the check and the connect cannot point it inward. Redirects are
never followed; connect and read each have a timeout.
"""

import http.client
import ipaddress
import json
import socket
import ssl
import time
from urllib.parse import urlsplit

from django.conf import settings

from antidote.errors import AntidoteError
from notifications import signing
from notifications.channels import Result

MAX_RESPONSE_BYTES = 64 * 1024


def payload(event) -> bytes:
    return json.dumps(
        {
            "id": event.public_id,
            "type": event.type,
            "created": int(event.created_at.timestamp()),
            "data": event.data,
        },
        separators=(",", ":"),
        sort_keys=True,
    ).encode()


def check_url(url: str) -> str:
    """A URL we may post to, or a clear error: https, a host, and only public addresses (plain
    http only to loopback, which itself needs ``WEBHOOK_ALLOW_LOOPBACK``)."""
    url = (url or "").strip()
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise AntidoteError("Enter an http:// or https:// URL with a host name.")
    if parts.username or parts.password:
        raise AntidoteError("Leave credentials out of the URL; verify our signature instead.")
    if len(url) > 500:
        raise AntidoteError("A webhook URL is at most 500 characters.")
    try:
        _address(parts)
    except ValueError:
        raise AntidoteError("That URL has an invalid port.") from None
    return url


def _address(parts) -> str:
    """The checked address to connect to for a split URL (also at send time, for endpoints
    saved before a rule tightened). Payloads carry patients' contact details and our
    signature: plain http only to a receiver on this machine, where tests run theirs."""
    address = _resolve(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))
    if parts.scheme == "http" and not ipaddress.ip_address(address.split("%", 1)[0]).is_loopback:
        raise AntidoteError("Use an https:// URL: webhooks carry patients' contact details.")
    return address


def _allowed(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if getattr(ip, "ipv4_mapped", None):
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return settings.WEBHOOK_ALLOW_LOOPBACK
    return ip.is_global and not ip.is_multicast


def _resolve(host: str, port: int) -> str:
    """The first address of ``host``, after checking that every one of them is allowed."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise AntidoteError(f"The host {host!r} could not be resolved.") from None
    addresses = [info[4][0] for info in infos]
    refused = [a for a in addresses if not _allowed(a)]
    if refused or not addresses:
        raise AntidoteError(
            f"{host} resolves to a private, loopback or link-local address; "
            "webhooks go only to public addresses."
        )
    return addresses[0]


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, host, port, *, address, connect_timeout, read_timeout):
        super().__init__(host, port, timeout=connect_timeout)
        self._address, self._read_timeout = address, read_timeout

    def connect(self):
        self.sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock.settimeout(self._read_timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, host, port, *, address, connect_timeout, read_timeout):
        super().__init__(host, port, timeout=connect_timeout, context=ssl.create_default_context())
        self._address, self._read_timeout = address, read_timeout

    def connect(self):
        raw = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(raw, server_hostname=self.host)
        self.sock.settimeout(self._read_timeout)


def post_event(*, endpoint, event) -> Result:
    """POST one signed event; a 2xx is success, anything else (a redirect too) a failure."""
    body = payload(event)
    started = time.monotonic()
    parts = urlsplit(endpoint.url)
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        address = _address(parts)
    except (AntidoteError, ValueError) as error:
        return Result(ok=False, error=str(error))
    connection_class = _PinnedHTTPSConnection if parts.scheme == "https" else _PinnedHTTPConnection
    connection = connection_class(
        parts.hostname,
        port,
        address=address,
        connect_timeout=settings.WEBHOOK_CONNECT_TIMEOUT_SECONDS,
        read_timeout=settings.WEBHOOK_READ_TIMEOUT_SECONDS,
    )
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    try:
        connection.request(
            "POST",
            path,
            body=body,
            headers={
                "Content-Type": "application/json",
                "User-Agent": "Antidote-Webhooks/1",
                "Antidote-Event-Id": event.public_id,
                "Antidote-Signature": signing.sign(secret=endpoint.secret, body=body),
            },
        )
        response = connection.getresponse()
        excerpt = response.read(MAX_RESPONSE_BYTES).decode("utf-8", "replace")[:500]
    except (OSError, http.client.HTTPException) as error:
        elapsed = int((time.monotonic() - started) * 1000)
        return Result(ok=False, duration_ms=elapsed, error=f"{type(error).__name__}: {error}")
    finally:
        connection.close()
    elapsed = int((time.monotonic() - started) * 1000)
    ok = 200 <= response.status < 300
    return Result(
        ok=ok,
        status_code=response.status,
        duration_ms=elapsed,
        excerpt=excerpt,
        error="" if ok else f"The endpoint answered {response.status}.",
    )
