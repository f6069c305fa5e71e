"""Sessions end after 12 hours idle: each request pushes the end forward, idleness ends it."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib.sessions.models import Session
from django.utils import timezone

from tests.factories import ClinicMemberFactory

pytestmark = pytest.mark.django_db

TWELVE_HOURS = 12 * 60 * 60


@pytest.fixture
def logged_in(client):
    client.force_login(ClinicMemberFactory().user)
    return client


def _session(client) -> Session:
    return Session.objects.get(session_key=client.cookies[settings.SESSION_COOKIE_NAME].value)


def test_the_session_cookie_lasts_twelve_hours_from_each_request(logged_in):
    response = logged_in.get("/clinic/dashboard")
    assert response.status_code == 200
    assert response.cookies[settings.SESSION_COOKIE_NAME]["max-age"] == TWELVE_HOURS


def test_a_request_pushes_the_end_forward(logged_in):
    session = _session(logged_in)
    session.expire_date = timezone.now() + timedelta(minutes=5)
    session.save()
    logged_in.get("/clinic/dashboard")
    left = _session(logged_in).expire_date - timezone.now()
    assert timedelta(hours=11, minutes=59) < left <= timedelta(hours=12)


def test_twelve_idle_hours_end_the_session(logged_in):
    session = _session(logged_in)
    session.expire_date = timezone.now() - timedelta(seconds=1)
    session.save()
    response = logged_in.get("/clinic/dashboard")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
