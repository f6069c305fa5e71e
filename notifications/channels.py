"""Channels other than webhooks: the outcome of one send, and the SMS/WhatsApp providers.

``SMS_BACKEND`` chooses the provider: ``console`` (the default: the text is logged) or
``msg91``, MSG91's documented HTTP API (SMS through the Flow API, WhatsApp through the
outbound-message API), which serves Indian numbers under DLT rules.
"""

import logging
import re
import time
from dataclasses import dataclass

import requests
from django.conf import settings
from django.core.validators import validate_email
from django.forms import ValidationError

from antidote.errors import AntidoteError

logger = logging.getLogger(__name__)

_MOBILE = re.compile(r"\+91[6-9]\d{9}")


@dataclass(frozen=True)
class Result:
    ok: bool
    status_code: int | None = None
    duration_ms: int = 0
    excerpt: str = ""
    error: str = ""


def timed(send) -> Result:
    """Run a send that raises on failure (an email), as a Result with its duration."""
    started = time.monotonic()
    try:
        send()
    except Exception as error:
        return Result(ok=False, duration_ms=_ms(started), error=f"{type(error).__name__}: {error}")
    return Result(ok=True, duration_ms=_ms(started))


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def check_recipient(channel: str, recipient: str) -> None:
    if channel == "email":
        try:
            validate_email(recipient)
        except ValidationError:
            raise AntidoteError(f"{recipient!r} is not an email address.") from None
    elif not _MOBILE.fullmatch(recipient):
        raise AntidoteError(f"{recipient!r} is not a mobile number like +919876543210.")


def short_text(message) -> str:
    """What fits a text message: the subject, or the body's first line."""
    text = message.subject or message.body.split("\n", 1)[0]
    return text[:300]


class ConsoleBackend:
    """Logs the text; the default, so a demo needs no provider account."""

    def send(self, *, channel: str, to: str, text: str) -> Result:
        logger.info("[%s to %s] %s", channel, to, text)
        return Result(ok=True)


class Msg91Backend:
    """MSG91 (https://docs.msg91.com): SMS via ``POST /api/v5/flow`` with a DLT template whose
    one variable is the text, WhatsApp via ``POST /api/v5/whatsapp/whatsapp-outbound-message/
    bulk/`` with an approved template. Authenticated by the ``authkey`` header."""

    def send(self, *, channel: str, to: str, text: str) -> Result:
        base = settings.MSG91_API_BASE.rstrip("/")
        number = to.lstrip("+")
        if channel == "sms":
            url = f"{base}/api/v5/flow"
            body = {
                "template_id": settings.MSG91_SMS_TEMPLATE_ID,
                "short_url": "0",
                "recipients": [{"mobiles": number, "text": text}],
            }
        else:
            url = f"{base}/api/v5/whatsapp/whatsapp-outbound-message/bulk/"
            body = {
                "integrated_number": settings.MSG91_WHATSAPP_NUMBER,
                "content_type": "template",
                "payload": {
                    "messaging_product": "whatsapp",
                    "type": "template",
                    "template": {
                        "name": settings.MSG91_WHATSAPP_TEMPLATE,
                        "language": {"code": "en", "policy": "deterministic"},
                        "to_and_components": [
                            {
                                "to": [number],
                                "components": {"body_1": {"type": "text", "value": text}},
                            }
                        ],
                    },
                },
            }
        started = time.monotonic()
        try:
            response = requests.post(
                url,
                json=body,
                headers={"authkey": settings.MSG91_AUTH_KEY, "accept": "application/json"},
                timeout=settings.NOTIFY_TIMEOUT_SECONDS,
                allow_redirects=False,
            )
        except requests.RequestException as error:
            return Result(ok=False, duration_ms=_ms(started), error=f"MSG91 unreachable: {error}")
        excerpt = response.text[:500]
        try:
            accepted = response.ok and response.json().get("type") != "error"
        except ValueError:
            accepted = False
        return Result(
            ok=accepted,
            status_code=response.status_code,
            duration_ms=_ms(started),
            excerpt=excerpt,
            error="" if accepted else f"MSG91 answered {response.status_code}",
        )


BACKENDS = {"console": ConsoleBackend, "msg91": Msg91Backend}


def text_backend():
    return BACKENDS[settings.SMS_BACKEND]()
