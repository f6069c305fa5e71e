"""Throttles per key and per person (all their keys), in the shared cache; 429 + Retry-After."""

import pytest
from django.core.cache import cache
from django.test import override_settings

from antidote import api_keys

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def empty_cache():
    cache.clear()
    yield
    cache.clear()


@override_settings(API_THROTTLE_RATES={"key": "3/min", "user": "100/min"})
def test_a_key_over_its_rate_gets_429_with_retry_after(a, b):
    client = a.client("read")
    assert [client.get("/api/v1/balance/").status_code for _ in range(3)] == [200] * 3
    response = client.get("/api/v1/balance/")
    assert response.status_code == 429
    assert response["Content-Type"] == "application/problem+json"
    assert 1 <= int(response["Retry-After"]) <= 60
    assert response.json()["status"] == 429
    # Another key, and another clinic's, still answer.
    assert a.client("write").get("/api/v1/balance/").status_code == 200
    assert b.client().get("/api/v1/balance/").status_code == 200


@override_settings(API_THROTTLE_RATES={"key": "100/min", "user": "4/min"})
def test_one_persons_keys_share_a_bucket(a):
    extra = api_keys.create_api_key(clinic=a.clinic, name="More", scope="read", actor=a.owner)
    clients = [a.client("read"), a.client("write"), type(a.client())(extra.token)]
    statuses = [clients[i % 3].get("/api/v1/balance/").status_code for i in range(5)]
    assert statuses == [200, 200, 200, 200, 429]


@override_settings(API_THROTTLE_RATES={"key": "1/min", "user": "1/min"})
def test_requests_without_a_valid_key_are_refused_before_counting(a):
    client = a.client()
    for _ in range(3):
        assert client.get("/api/v1/balance/", HTTP_AUTHORIZATION="Bearer x").status_code == 401
    assert client.get("/api/v1/balance/").status_code == 200
