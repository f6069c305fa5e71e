"""Owners may turn on an authenticator app for their own portal login; then the login asks
for its code. Only owners reach the page; turning it off needs a current code."""

import time
from unittest.mock import patch

import pytest
from django.core.cache import cache
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.factories import ClinicMemberFactory

pytestmark = pytest.mark.django_db

PAGE = "/clinic/two-factor"
LOGIN = "/accounts/login/"
PASSWORD = "correct horse battery staple"  # the factory's


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    yield
    cache.clear()


def code(device) -> str:
    """The app's code now (by time.time, so next_step() moves it as it moves the device)."""
    generator = TOTP(device.bin_key, device.step, device.t0, device.digits)
    generator.time = time.time()
    return f"{generator.token():06d}"


def next_step():
    """Half a minute on: a code is good once, so the next use needs the next step's code."""
    return patch("time.time", return_value=time.time() + 30)


def wrong(device) -> str:
    return "000000" if code(device) != "000000" else "111111"


@pytest.fixture
def owner(client):
    user = ClinicMemberFactory(role="owner").user
    client.force_login(user)
    return user


def turn_on(client, user) -> TOTPDevice:
    page = client.post(PAGE, {"action": "start"})
    assert page.status_code == 200
    device = TOTPDevice.objects.get(user=user, confirmed=False)
    assert page.context["seed"] and "two-factor-seed" in page.content.decode()
    assert client.post(PAGE, {"action": "confirm", "otp_token": code(device)}).status_code == 302
    device.refresh_from_db()
    assert device.confirmed
    return device


def test_an_owner_turns_it_on_and_the_login_then_asks_for_the_code(client, owner):
    device = turn_on(client, owner)
    assert "two-factor-seed" not in client.get(PAGE).content.decode()  # never shown again
    client.logout()
    without = client.post(LOGIN, {"username": owner.username, "password": PASSWORD})
    assert without.status_code == 200 and "authenticator app" in without.content.decode()
    assert "_auth_user_id" not in client.session
    bad = client.post(
        LOGIN, {"username": owner.username, "password": PASSWORD, "otp_token": wrong(device)}
    )
    assert bad.status_code == 200 and "_auth_user_id" not in client.session
    cache.clear()
    device.refresh_from_db()
    device.throttling_failure_count = 0  # the wrong guess above started django-otp's delay
    device.save()
    with next_step():
        good = client.post(
            LOGIN, {"username": owner.username, "password": PASSWORD, "otp_token": code(device)}
        )
    assert good.status_code == 302
    assert client.get("/clinic/dashboard").status_code == 200


def test_a_wrong_code_does_not_confirm(client, owner):
    client.post(PAGE, {"action": "start"})
    device = TOTPDevice.objects.get(user=owner)
    response = client.post(PAGE, {"action": "confirm", "otp_token": wrong(device)})
    assert response.status_code == 400
    device.refresh_from_db()
    assert not device.confirmed


def test_a_code_works_once(client, owner):
    device = turn_on(client, owner)
    client.logout()
    again = client.post(
        LOGIN, {"username": owner.username, "password": PASSWORD, "otp_token": code(device)}
    )
    assert again.status_code == 200 and "_auth_user_id" not in client.session


def test_turning_it_off_needs_a_current_code(client, owner):
    device = turn_on(client, owner)
    assert client.post(PAGE, {"action": "off", "otp_token": ""}).status_code == 400
    assert TOTPDevice.objects.filter(pk=device.pk).exists()
    device.refresh_from_db()
    device.throttling_failure_count = 0
    device.save()
    with next_step():
        response = client.post(PAGE, {"action": "off", "otp_token": code(device)})
    assert response.status_code == 302
    assert not TOTPDevice.objects.filter(user=owner).exists()


def test_logins_without_an_app_need_only_the_password(client):
    user = ClinicMemberFactory(role="front_desk").user
    response = client.post(LOGIN, {"username": user.username, "password": PASSWORD})
    assert response.status_code == 302


@pytest.mark.parametrize("role", ["billing", "front_desk"])
def test_only_owners_reach_the_page(client, role):
    client.force_login(ClinicMemberFactory(role=role).user)
    assert client.get(PAGE).status_code == 403
    assert client.post(PAGE, {"action": "start"}).status_code == 403
    assert not TOTPDevice.objects.exists()


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"action": "nope"},
        {"action": "confirm", "otp_token": "²²²²²²"},
        {"action": "confirm", "otp_token": "٣٣٣٣٣٣"},
        {"action": "confirm", "otp_token": "9" * 5000},
        {"action": "confirm", "otp_token": "\x00"},
        {"action": "confirm"},
        {"action": "off", "otp_token": "123456"},
    ],
    ids=["empty", "bad-action", "superscript", "arabic-digits", "huge", "nul", "no-code", "off"],
)
def test_bad_input_is_a_400_and_changes_nothing(client, owner, data):
    assert client.post(PAGE, data).status_code == 400
    assert not TOTPDevice.objects.filter(confirmed=True).exists()


@pytest.mark.parametrize("token", ["²²²²²²", "9" * 5000, "\x00", "12345"])
def test_a_malformed_code_at_login_is_refused_not_a_crash(client, owner, token):
    turn_on(client, owner)
    client.logout()
    response = client.post(
        LOGIN, {"username": owner.username, "password": PASSWORD, "otp_token": token}
    )
    assert response.status_code == 200 and "_auth_user_id" not in client.session
