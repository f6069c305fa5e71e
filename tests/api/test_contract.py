"""Contract tests: schemathesis generates requests from the live schema (/api/v1/schema/) and
sends them to the running server with a real write key.

Every response must be a non-5xx, with a documented status code, content type, headers and
body. Schemathesis' positive and negative cases both run; the number sent is printed at the
end of the run (tests/conftest.py), as the fuzz's is.
"""

from collections import Counter

import pytest
import schemathesis
from django.core.cache import cache
from django.test import override_settings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.api.conftest import build_side

pytestmark = pytest.mark.django_db(transaction=True)

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
# Per operation: enough to reach each filter, body field and refusal, in about a minute overall.
EXAMPLES_PER_OPERATION = 60
STATS: Counter = Counter()


@pytest.fixture
def contract_world(seeded_tiers):
    cache.clear()
    with override_settings(API_THROTTLE_RATES={"key": "100000/min", "user": "100000/min"}):
        yield build_side("Alpha Clinic", 9000000000), build_side("Beta Clinic", 9100000000)


def real_ids(path: str, side) -> list[int]:
    """Ids that exist at the key's clinic, so detail and write operations reach their code."""
    if path.startswith("/api/v1/leads/"):
        return [side.booked.pk, side.held.pk, side.charged.pk]
    if path.startswith("/api/v1/disputes/"):
        return [side.dispute.pk]
    if path.startswith("/api/v1/webhook-endpoints/"):
        return [side.endpoint.pk]
    return []


def test_every_response_conforms_to_the_live_schema(live_server, contract_world):
    own, other = contract_world
    schema = schemathesis.openapi.from_url(f"{live_server.url}/api/v1/schema/?format=json")
    headers = {"Authorization": f"Bearer {own.write}"}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 9

    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            strategies = [operation.as_strategy(generation_mode=mode)]
            if "{id}" in operation.path:
                ids = real_ids(operation.path, own) + real_ids(operation.path, other)
                strategies += [
                    operation.as_strategy(generation_mode=mode, path_parameters={"id": pk})
                    for pk in ids
                ]

            @given(case=st.one_of(strategies))
            @settings(
                max_examples=EXAMPLES_PER_OPERATION,
                deadline=None,
                derandomize=True,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            def run(case):
                response = case.call(base_url=live_server.url, headers=headers, timeout=30)
                STATS["cases"] += 1
                STATS[f"{response.status_code // 100}xx"] += 1
                case.validate_response(response, checks=CHECKS)

            run()
