"""End to end through a real Celery worker on Redis: an enquiry, its outbox row, the worker,
and the clinic's HTTP receiver. ``.ci/run`` starts the worker (one, against the test
database) and sets ``WORKER_BROKER_URL`` and ``REQUIRE_WORKER``; elsewhere this skips."""

import os
import time

import pytest
from django.core.cache import cache

from antidote.celery import app as celery_app
from leads.models import Lead
from notifications import services
from notifications.models import EventType, OutboxMessage
from tests.conftest import requires_postgres
from tests.factories import ClinicFactory, fund
from tests.notifications.receiver import Receiver

BROKER = os.environ.get("WORKER_BROKER_URL", "")

needs_worker = pytest.mark.skipif(
    not BROKER and not os.environ.get("REQUIRE_WORKER"),
    reason="needs the Celery worker that .ci/run starts (WORKER_BROKER_URL)",
)


@pytest.fixture
def through_the_worker(settings):
    """Tasks go to Redis, not in-process: what production does."""
    if not BROKER:
        pytest.fail("REQUIRE_WORKER is set but WORKER_BROKER_URL is not: .ci/run sets both.")
    previous = celery_app.conf.task_always_eager, celery_app.conf.broker_url
    celery_app.conf.update(task_always_eager=False, broker_url=BROKER)
    _forget_connections()
    settings.CELERY_TASK_ALWAYS_EAGER = False
    with celery_app.connection_for_write() as connection:
        connection.ensure_connection(max_retries=1)  # the broker is up, or fail here
    yield
    celery_app.conf.update(task_always_eager=previous[0], broker_url=previous[1])
    _forget_connections()


def _forget_connections():
    """Eager tasks earlier in the run built the producer pool for the default broker; the
    next publish must connect to the broker now configured. The pools are dropped, not closed:
    kombu keeps them in a registry by broker, and later tests take the default one again."""
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


@needs_worker
@requires_postgres
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_an_enquiry_reaches_the_clinics_receiver_through_the_outbox_and_a_real_worker(
    client, seeded_tiers, through_the_worker, caplog
):
    cache.clear()
    clinic = ClinicFactory()
    fund(clinic, 1_000)
    with Receiver() as receiver:
        endpoint = services.create_webhook_endpoint(
            clinic=clinic, url=receiver.url, events=[EventType.LEAD_DELIVERED]
        )
        receiver.secret = endpoint.secret
        started = time.monotonic()
        response = client.post(
            "/contact-clinic",
            {
                "name": "Asha Patel",
                "phone": "98765 43210",
                "consent": "on",
                "website": "",
                "clinic": clinic.pk,
            },
        )
        answered = time.monotonic() - started
        assert response.status_code == 302
        lead = Lead.objects.get()
        message = OutboxMessage.objects.get(endpoint=endpoint)
        deadline = time.monotonic() + 30
        while not receiver.accepted and time.monotonic() < deadline:
            time.sleep(0.1)
    message.refresh_from_db()
    assert message.status == "sent", (message.attempts, message.last_error, caplog.text)
    assert receiver.accepted == [message.event.public_id]
    assert message.event.data["lead"]["id"] == lead.pk
    # The request only wrote rows and queued a task: it never waited on the receiver.
    assert answered < 2
