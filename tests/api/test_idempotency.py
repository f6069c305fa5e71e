"""Idempotency-Key on POST and PATCH: the same request again gets the first response, once."""

from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import IntegrityError, transaction
from django.test.client import MULTIPART_CONTENT
from django.utils import timezone

from antidote.models import IdempotencyRecord
from disputes.models import Dispute
from tests.disputes.conftest import DESCRIPTION, PNG

pytestmark = pytest.mark.django_db


def open_dispute(side, key: str, description=DESCRIPTION, lead=None):
    data = {"lead": (lead or side.booked).pk, "dispute_type": "spam", "description": description}
    return side.client().post("/api/v1/disputes/", data, HTTP_IDEMPOTENCY_KEY=key)


def test_the_same_key_and_body_gets_the_same_response_and_one_dispute(a):
    first = open_dispute(a, "create-1")
    second = open_dispute(a, "create-1")
    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert second["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first
    assert Dispute.objects.filter(lead=a.booked).count() == 1


def test_without_a_key_a_repeat_is_a_new_request(a):
    data = {"lead": a.booked.pk, "dispute_type": "spam", "description": DESCRIPTION}
    assert a.client().post("/api/v1/disputes/", data).status_code == 201
    again = a.client().post("/api/v1/disputes/", data)
    assert again.status_code == 400 and "already has a dispute" in again.json()["detail"]


def test_the_same_key_with_a_different_body_is_a_409(a):
    assert open_dispute(a, "create-1").status_code == 201
    other = open_dispute(a, "create-1", description=DESCRIPTION + " And again.")
    assert other.status_code == 409
    assert other["Content-Type"] == "application/problem+json"
    assert other.json()["code"] == "idempotency_key_reused"
    assert Dispute.objects.filter(lead=a.booked).count() == 1


def test_the_same_key_on_another_path_is_a_409(a):
    assert open_dispute(a, "k").status_code == 201
    response = a.client().patch(
        f"/api/v1/leads/{a.booked.pk}/", {"status": "lost"}, HTTP_IDEMPOTENCY_KEY="k"
    )
    assert response.status_code == 409
    a.booked.refresh_from_db()
    assert a.booked.status == "booked"


def test_field_order_does_not_change_the_body(a):
    client = a.client()
    path = f"/api/v1/leads/{a.booked.pk}/"
    first = client.patch(path, '{"status": "contacted"}', HTTP_IDEMPOTENCY_KEY="p")
    second = client.patch(path, '{ "status":"contacted" }', HTTP_IDEMPOTENCY_KEY="p")
    assert first.status_code == second.status_code == 200
    assert second["Idempotent-Replayed"] == "true"


def test_multipart_evidence_is_part_of_the_body(a):
    def send(content):
        data = {
            "lead": a.booked.pk,
            "dispute_type": "spam",
            "description": DESCRIPTION,
            "evidence": [SimpleUploadedFile("shot.png", content, content_type="image/png")],
        }
        return a.client().post(
            "/api/v1/disputes/", data, content_type=MULTIPART_CONTENT, HTTP_IDEMPOTENCY_KEY="m"
        )

    assert send(PNG).status_code == 201
    assert send(PNG).status_code == 201
    assert send(PNG + b"\x01").status_code == 409
    assert Dispute.objects.filter(lead=a.booked).count() == 1


def test_a_refusal_is_kept_and_replayed_too(a):
    first = open_dispute(a, "held", lead=a.held)
    second = open_dispute(a, "held", lead=a.held)
    assert first.status_code == second.status_code == 400
    assert second.json() == first.json()
    assert second["Content-Type"] == "application/problem+json"


def test_keys_are_per_clinic(a, b):
    assert open_dispute(a, "shared").status_code == 201
    assert open_dispute(b, "shared").status_code == 201
    assert IdempotencyRecord.objects.filter(key="shared").count() == 2


def test_a_key_is_kept_24_hours(a):
    assert open_dispute(a, "old").status_code == 201
    IdempotencyRecord.objects.filter(key="old").update(
        created_at=timezone.now() - timedelta(hours=24, seconds=1)
    )
    # Expired: the key is free again, and this request runs (and is refused on its merits).
    response = open_dispute(a, "old", description=DESCRIPTION + " Again.")
    assert response.status_code == 400 and "already has a dispute" in response.json()["detail"]


@pytest.mark.parametrize("key", ["", "x" * 256, "ключ", "a b"])
def test_a_bad_key_is_a_400(a, key):
    response = open_dispute(a, key)
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "Idempotency-Key"
    assert not Dispute.objects.filter(lead=a.booked).exists()


def test_the_database_holds_one_row_per_clinic_and_key(a):
    IdempotencyRecord.objects.create(clinic=a.clinic, key="k", fingerprint="f")
    with pytest.raises(IntegrityError), transaction.atomic():
        IdempotencyRecord.objects.create(clinic=a.clinic, key="k", fingerprint="g")
