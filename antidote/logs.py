"""Structured logs: one JSON line per event, each carrying the request id, never a patient's
contact details.

- ``RequestIdMiddleware`` gives every request an id (a well-formed ``X-Request-ID`` from the
  proxy, else a new one), answers it in the ``X-Request-ID`` header, and keeps it in a context
  variable for every log line the request writes. Commands and tasks get their own id.
- ``log_event(logger, "payment.paid", order=42)`` writes one line: the event name, the
  fields, the request id. INFO for what happened, ERROR for failures.
- ``JsonFormatter`` writes the line; ``RedactContactDetails`` (a filter on the handler, so on
  every record, ours or a library's) replaces anything shaped like a phone number or an email
  address, and drops fields named like a patient's details, before anything is written.
"""

import json
import logging
import re
import uuid
from contextvars import ContextVar

from django.utils import timezone

request_id: ContextVar[str] = ContextVar("request_id", default="-")

_INCOMING_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
# Patients' details by name: never logged as a field, whatever a caller passes.
CONTACT_FIELDS = frozenset({"phone", "email", "patient_name", "name", "message", "contact"})
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
# Indian mobile numbers in any of the forms intake accepts (+91, 0 or bare 10 digits, spaced).
_PHONE = re.compile(r"(?<!\w)(?:\+?91[\s-]?|0)?[6-9]\d(?:[\s-]?\d){8}(?!\w)")
REDACTED = "[redacted]"


def new_request_id() -> str:
    return uuid.uuid4().hex


def redact(text: str) -> str:
    return _PHONE.sub(REDACTED, _EMAIL.sub(REDACTED, text))


def log_event(logger: logging.Logger, event: str, *, level: int = logging.INFO, **fields):
    """One structured line: ``event`` names what happened (``payment.paid``)."""
    safe = {k: v for k, v in fields.items() if k not in CONTACT_FIELDS}
    logger.log(level, event, extra={"event": event, "fields": safe})


class RequestIdMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get("X-Request-ID", "")
        rid = incoming if _INCOMING_ID.match(incoming) else new_request_id()
        token = request_id.set(rid)
        request.request_id = rid
        try:
            response = self.get_response(request)
        finally:
            request_id.reset(token)
        response["X-Request-ID"] = rid
        return response


class RedactContactDetails(logging.Filter):
    def filter(self, record):
        record.msg = redact(record.getMessage())
        record.args = None
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            record.fields = {
                k: redact(v) if isinstance(v, str) else v
                for k, v in fields.items()
                if k not in CONTACT_FIELDS
            }
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record):
        line = {
            "time": timezone.localtime().isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "event": getattr(record, "event", None) or "log",
            "request_id": request_id.get(),
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            line.update({k: v for k, v in fields.items() if k not in line})
        if record.exc_text:
            line["exception"] = record.exc_text
        return json.dumps(line, default=str, ensure_ascii=False)


def logged_command(cls):
    """A management command logs its start and end under an id of its own; a failure (an
    exception or a non-zero exit) at ERROR."""
    execute = cls.execute
    logger = logging.getLogger(cls.__module__)
    name = cls.__module__.rsplit(".", 1)[-1]

    def logged_execute(self, *args, **options):
        token = request_id.set(f"cmd-{new_request_id()}")
        log_event(logger, "command.started", command=name)
        try:
            result = execute(self, *args, **options)
        except SystemExit as exit_:
            failed = exit_.code not in (None, 0)
            log_event(
                logger,
                "command.failed" if failed else "command.finished",
                level=logging.ERROR if failed else logging.INFO,
                command=name,
                exit_code=exit_.code,
            )
            raise
        except BaseException as error:
            log_event(
                logger,
                "command.failed",
                level=logging.ERROR,
                command=name,
                error=type(error).__name__,
                detail=str(error)[:300],
            )
            raise
        else:
            log_event(logger, "command.finished", command=name)
            return result
        finally:
            request_id.reset(token)

    cls.execute = logged_execute
    return cls
