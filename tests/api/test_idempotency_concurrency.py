"""PostgreSQL only: one Idempotency-Key sent by several requests at the same moment runs once."""

import pytest

from disputes.models import Dispute
from leads.models import Lead
from tests.api.conftest import ApiClient, build_side
from tests.concurrency import run_overlapped
from tests.conftest import requires_postgres
from tests.disputes.conftest import DESCRIPTION

pytestmark = [requires_postgres, pytest.mark.postgres, pytest.mark.usefixtures("seeded_tiers")]


@pytest.mark.django_db(transaction=True)
def test_overlapping_requests_with_one_key_open_one_dispute_and_all_get_its_response():
    side = build_side("Alpha Clinic", 9000000000)
    data = {"lead": side.booked.pk, "dispute_type": "spam", "description": DESCRIPTION}

    def send():
        return ApiClient(side.write).post("/api/v1/disputes/", data, HTTP_IDEMPOTENCY_KEY="once")

    # The lead is row-locked elsewhere, so the first request waits inside its transaction,
    # holding the key's row, while the others arrive and wait on the key's unique index.
    responses = run_overlapped(Lead.objects.filter(pk=side.booked.pk), [send] * 5)

    assert [r.status_code for r in responses] == [201] * 5
    assert len({r.json()["id"] for r in responses}) == 1
    assert sum(r.get("Idempotent-Replayed") == "true" for r in responses) == 4
    assert Dispute.objects.filter(lead=side.booked).count() == 1
