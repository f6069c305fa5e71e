"""Structured logs (000's troubleshooting section): one JSON line per event with a request id,
failures at ERROR, and never a patient's contact details."""

import io
import json
import logging

import pytest
from django.core.cache import cache
from django.test import Client

from antidote.logs import JsonFormatter, redact
from leads.models import Lead
from tests.commands import run_command
from tests.factories import ClinicMemberFactory, PackageFactory, fund
from tests.payments.conftest import session_clinic

pytestmark = pytest.mark.django_db

PATIENT = {
    "name": "Kavya Raghunathan",
    "phone": "98765 43210",
    "email": "kavya.r@example.com",
    "message": "Please call me on 9876543210 or write to kavya.r@example.com",
}


@pytest.fixture
def log_lines():
    """What the configured handlers write: their stream swapped for a buffer."""
    handlers = [h for h in logging.getLogger().handlers if isinstance(h.formatter, JsonFormatter)]
    assert handlers, "LOGGING must send the root logger through antidote.logs.JsonFormatter"
    buffer = io.StringIO()
    previous = [h.setStream(buffer) for h in handlers]
    logging.getLogger().setLevel(logging.INFO)
    yield lambda: [json.loads(line) for line in buffer.getvalue().splitlines()]
    for handler, stream in zip(handlers, previous, strict=True):
        handler.setStream(stream)


@pytest.fixture(autouse=True)
def fresh_rate_limit():
    cache.clear()


def test_every_response_carries_a_request_id_and_a_proxys_id_is_kept(client):
    first = client.get("/")["X-Request-ID"]
    assert len(first) == 32
    assert client.get("/")["X-Request-ID"] != first
    assert client.get("/", HTTP_X_REQUEST_ID="edge-1234abcd")["X-Request-ID"] == "edge-1234abcd"
    forged = client.get("/", HTTP_X_REQUEST_ID="bad id\nwith newline")["X-Request-ID"]
    assert forged != "bad id\nwith newline" and len(forged) == 32


def test_a_paid_lead_a_dispute_and_a_top_up_log_structured_lines_without_contact_details(
    log_lines, clinic
):
    owner = ClinicMemberFactory(clinic=clinic, role="owner")
    fund(clinic, 1_000)
    package = PackageFactory(clinic=clinic)
    patient = Client()
    response = patient.post(
        "/contact-clinic",
        {**PATIENT, "package": package.pk, "consent": "on", "website": ""},
        HTTP_X_REQUEST_ID="req-enquiry-1",
    )
    assert response.status_code in (200, 302), response.content[:300]
    lead = Lead.objects.get()
    member = Client()
    member.force_login(owner.user)
    member.post(
        f"/clinic/disputes/create/{lead.pk}",
        {"dispute_type": "invalid_contact", "description": "Number never answers " * 3},
        HTTP_X_REQUEST_ID="req-dispute-1",
    )
    member.post(
        "/create-razorpay-order",
        {"clinic": session_clinic(member), "amount": 1000},
        HTTP_X_REQUEST_ID="req-order-1",
    )
    lines = log_lines()
    events = {(line["event"], line["request_id"]) for line in lines}
    assert ("ledger.posted", "req-enquiry-1") in events  # the lead's charge
    assert ("dispute.opened", "req-dispute-1") in events
    assert ("payment.order_created", "req-order-1") in events
    for line in lines:
        assert {"time", "level", "logger", "event", "request_id", "message"} <= set(line)
    text = "\n".join(json.dumps(line) for line in lines)
    for secret in ("Kavya", "Raghunathan", "98765", "9876543210", "kavya.r@example.com"):
        assert secret not in text, f"{secret!r} reached the logs"


def test_a_refused_webhook_is_logged_at_error(log_lines, client, settings):
    settings.RAZORPAY_WEBHOOK_SECRET = "secret"
    client.post(
        "/webhooks/razorpay",
        b"{}",
        content_type="application/json",
        HTTP_X_RAZORPAY_SIGNATURE="ab" * 32,
        HTTP_X_RAZORPAY_EVENT_ID="evt_1",
    )
    [line] = [line for line in log_lines() if line["event"] == "webhook.bad_signature"]
    assert (line["level"], line["event_id"]) == ("ERROR", "evt_1")


def test_commands_log_start_and_end_under_their_own_id(log_lines):
    code, _ = run_command("reconcile_ledger")
    assert code == 0
    lines = [line for line in log_lines() if line["event"].startswith("command.")]
    assert [line["event"] for line in lines] == ["command.started", "command.finished"]
    assert lines[0]["request_id"].startswith("cmd-")
    assert lines[0]["request_id"] == lines[1]["request_id"]
    assert lines[0]["command"] == "reconcile_ledger"


def test_a_failing_command_logs_at_error(log_lines, clinic):
    from billing.models import CreditAccount

    CreditAccount.objects.filter(clinic=clinic).update(balance=5)  # disagrees with the ledger
    code, _ = run_command("reconcile_ledger")
    assert code != 0
    [line] = [line for line in log_lines() if line["event"] == "command.failed"]
    assert line["level"] == "ERROR"


@pytest.mark.parametrize(
    "text",
    [
        "+919876543210",
        "+91 98765 43210",
        "09876543210",
        "9876543210",
        "98765-43210",
        "asha.patel+spa@example.co.in",
    ],
)
def test_contact_details_are_redacted_from_any_message(text):
    assert redact(f"lead from {text} arrived") == "lead from [redacted] arrived"


def test_ids_and_amounts_are_not_mistaken_for_phone_numbers():
    line = "order #42 paid 1000000 paise, payment pay_29QQoUBi66xm2f, lead 1234"
    assert redact(line) == line
