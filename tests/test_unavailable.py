"""Outages under load: the database or Redis down is a 503 page with Retry-After, never a
trace or Django's bare "Server Error (500)"; any other crash is a friendly 500."""

import socket

import pytest
from django.db import OperationalError, connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from tests.factories import ClinicMemberFactory, fund
from tests.leads.test_views import enquiry

pytestmark = pytest.mark.django_db


def refuse(error):
    """A database that answers every query with ``error`` (Django's own query hook)."""

    def wrapper(execute, sql, params, many, context):
        raise error

    return wrapper


@pytest.fixture
def visitor():
    return Client(raise_request_exception=False)


@pytest.fixture
def member_visitor(visitor, clinic):
    visitor.force_login(ClinicMemberFactory(clinic=clinic).user)
    return visitor


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def assert_friendly_503(response):
    assert response.status_code == 503
    assert response["Retry-After"] == "30"
    text = response.content.decode()
    assert "Back in a moment" in text
    assert "Traceback" not in text and "Server Error (500)" not in text


def test_a_database_outage_on_a_portal_page_is_a_503_page(member_visitor):
    with connection.execute_wrapper(refuse(OperationalError("server closed the connection"))):
        response = member_visitor.get("/clinic/dashboard")
    assert_friendly_503(response)
    assert "server closed" not in response.content.decode()


def test_a_database_outage_on_the_enquiry_form_is_a_503_page(visitor, clinic):
    fund(clinic, 100)
    with connection.execute_wrapper(refuse(OperationalError("the database system is starting"))):
        response = visitor.post("/contact-clinic", enquiry(clinic=clinic))
    assert_friendly_503(response)


def test_redis_down_is_a_503_page_for_an_enquiry(visitor, clinic, settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{closed_port()}/0",
        }
    }
    fund(clinic, 100)
    response = visitor.post("/contact-clinic", enquiry(clinic=clinic))
    assert_friendly_503(response)
    assert not clinic.leads.exists()


def test_a_database_outage_in_the_api_is_a_503_problem(visitor, clinic):
    from antidote.api_keys import create_api_key

    owner = ClinicMemberFactory(clinic=clinic, role="owner").user
    key = create_api_key(clinic=clinic, name="load", scope="read", actor=owner)
    with connection.execute_wrapper(refuse(OperationalError("terminating connection"))):
        response = visitor.get("/api/v1/balance/", HTTP_AUTHORIZATION=f"Bearer {key.token}")
    assert response.status_code == 503
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "unavailable"
    assert response["Retry-After"] == "30"


def test_any_other_crash_is_a_friendly_500_page(member_visitor):
    with connection.execute_wrapper(refuse(RuntimeError("a bug"))):
        response = member_visitor.get("/clinic/dashboard")
    assert response.status_code == 500
    text = response.content.decode()
    assert "Something went wrong" in text
    assert "a bug" not in text and "Traceback" not in text
    assert "Retry-After" not in response


def test_the_reference_view_is_a_404_unless_the_bench_setting_is_on(visitor, settings):
    assert visitor.get("/bench/reference").status_code == 404
    settings.BENCH_REFERENCE_VIEW = True
    with CaptureQueriesContext(connection) as queries:
        response = visitor.get("/bench/reference")
    assert response.status_code == 200
    assert response.content == b"ok"
    assert len(queries) == 1
