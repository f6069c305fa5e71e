"""The login edges: lockouts, the password-reset throttle, the staff second factor, the CSP."""

import re
from io import StringIO
from pathlib import Path

import pytest
from axes.models import AccessAttempt
from django.core import mail
from django.core.cache import cache
from django.core.management import CommandError, call_command
from django.test import override_settings
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from disputes import services as disputes
from disputes.models import Dispute
from leads import services as leads
from tests.disputes.conftest import DESCRIPTION
from tests.factories import StaffFactory, UserFactory, fund

pytestmark = pytest.mark.django_db

LOGIN = "/accounts/login/"
ADMIN_LOGIN = "/admin/login/"
PASSWORD = "right-horse-battery"
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _fresh_cache():
    # The reset throttle counts in the cache, which outlives a test's transaction.
    cache.clear()
    yield
    cache.clear()


def user_with_password(factory=UserFactory, **kwargs):
    user = factory(**kwargs)
    user.set_password(PASSWORD)
    user.save()
    return user


def current_token(device):
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):06d}"


def portal_login(client, username, password, ip="10.0.0.1"):
    return client.post(LOGIN, {"username": username, "password": password}, REMOTE_ADDR=ip)


# Brute force: per account and per client address -------------------------------------------


@override_settings(AXES_FAILURE_LIMIT=3)
def test_an_account_is_locked_after_repeated_failures_from_any_address(client):
    user = user_with_password(username="owner")
    for n in range(2):
        assert portal_login(client, "owner", "wrong", ip=f"10.0.1.{n}").status_code == 200
    # The failure that reaches the limit is answered with the lockout page.
    assert portal_login(client, "owner", "wrong", ip="10.0.1.3").status_code == 429
    # The right password, from a fresh address, is refused while the account cools off.
    response = portal_login(client, "owner", PASSWORD, ip="10.0.2.1")
    assert response.status_code == 429
    assert "Too many failed logins" in response.text
    assert "_auth_user_id" not in client.session
    # Another account is untouched.
    other = user_with_password(username="other")
    assert portal_login(client, "other", PASSWORD, ip="10.0.2.1").status_code == 302
    assert client.session["_auth_user_id"] == str(other.pk)
    del user


@override_settings(AXES_FAILURE_LIMIT=3)
def test_a_client_address_is_locked_after_repeated_failures_on_any_accounts(client):
    user_with_password(username="victim")
    for n in range(2):
        assert portal_login(client, f"guess{n}", "wrong", ip="10.0.3.3").status_code == 200
    assert portal_login(client, "guess3", "wrong", ip="10.0.3.3").status_code == 429
    response = portal_login(client, "victim", PASSWORD, ip="10.0.3.3")
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session
    # The same account from another address still logs in.
    assert portal_login(client, "victim", PASSWORD, ip="10.0.3.4").status_code == 302


@override_settings(AXES_FAILURE_LIMIT=3)
def test_logging_in_to_ones_own_account_does_not_reset_the_count_of_guesses(client):
    user_with_password(username="victim")
    user_with_password(username="attacker")
    for _ in range(2):
        portal_login(client, "victim", "wrong", ip="10.0.5.5")
        assert portal_login(client, "attacker", PASSWORD, ip="10.0.5.5").status_code == 302
        client.logout()
    assert portal_login(client, "victim", "wrong", ip="10.0.5.6").status_code == 429


@override_settings(AXES_FAILURE_LIMIT=3)
def test_the_admin_login_is_locked_out_too(client):
    staff = user_with_password(StaffFactory, username="boss", is_superuser=True)
    TOTPDevice.objects.create(user=staff, name="phone")
    statuses = [
        client.post(
            ADMIN_LOGIN, {"username": "boss", "password": "wrong"}, REMOTE_ADDR=f"10.0.4.{n}"
        ).status_code
        for n in range(3)
    ]
    assert statuses == [200, 200, 429]
    response = client.post(ADMIN_LOGIN, {"username": "boss", "password": PASSWORD})
    assert response.status_code == 429


@override_settings(AXES_FAILURE_LIMIT=3, TRUSTED_PROXY_COUNT=1)
def test_behind_a_trusted_proxy_each_client_address_counts_on_its_own(client):
    user_with_password(username="victim")
    for n in range(3):  # three different clients, all arriving through the proxy at 10.9.9.9
        client.post(
            LOGIN,
            {"username": f"guess{n}", "password": "wrong"},
            REMOTE_ADDR="10.9.9.9",
            HTTP_X_FORWARDED_FOR=f"203.0.113.{n}",
        )
    response = client.post(
        LOGIN,
        {"username": "victim", "password": PASSWORD},
        REMOTE_ADDR="10.9.9.9",
        HTTP_X_FORWARDED_FOR="198.51.100.7",
    )
    assert response.status_code == 302


@override_settings(AXES_FAILURE_LIMIT=3, TRUSTED_PROXY_COUNT=0)
def test_without_a_trusted_proxy_a_forged_forwarded_header_is_ignored(client):
    user_with_password(username="victim")
    for n in range(2):
        client.post(
            LOGIN,
            {"username": f"guess{n}", "password": "wrong"},
            REMOTE_ADDR="10.9.9.9",
            HTTP_X_FORWARDED_FOR=f"203.0.113.{n}",
        )
    response = client.post(
        LOGIN,
        {"username": "guess3", "password": "wrong"},
        REMOTE_ADDR="10.9.9.9",
        HTTP_X_FORWARDED_FOR="203.0.113.99",
    )
    assert response.status_code == 429


@pytest.mark.parametrize("outcome", ["wrong", PASSWORD])
def test_hostile_headers_on_a_login_are_recorded_without_a_crash(client, outcome):
    # PostgreSQL refuses NUL in text and anything but an address in an inet column.
    user_with_password(username="owner")
    response = client.post(
        f"{LOGIN}?next=/%00",
        {"username": "owner", "password": outcome, "next": "\0"},
        HTTP_USER_AGENT="agent\0" + "x" * 5000,
        HTTP_ACCEPT="text/html\0",
    )
    assert response.status_code in (200, 302)


@pytest.mark.parametrize("url", [LOGIN, "/admin/login/"])
def test_a_username_longer_than_any_column_is_a_failed_login_not_a_crash(client, url):
    # axes records the posted username in a 255-character column; PostgreSQL refused 300.
    response = client.post(url, {"username": "x" * 300, "password": "wrong"})
    assert response.status_code == 200
    assert AccessAttempt.objects.get().username == "x" * 150


@override_settings(TRUSTED_PROXY_COUNT=1)
@pytest.mark.parametrize("forwarded", ["not-an-address", "", "\u0663.1.1.1", "1.1.1.1\0"])
def test_a_garbage_forwarded_header_counts_as_the_proxy_address(client, forwarded):
    response = client.post(
        LOGIN,
        {"username": "someone", "password": "wrong"},
        REMOTE_ADDR="10.9.9.9",
        HTTP_X_FORWARDED_FOR=forwarded,
    )
    assert response.status_code == 200
    assert AccessAttempt.objects.get().ip_address == "10.9.9.9"


def test_failures_below_the_limit_do_not_stop_the_right_password(client):
    user_with_password(username="owner")
    assert portal_login(client, "owner", "wrong").status_code == 200
    assert portal_login(client, "owner", PASSWORD).status_code == 302


# Password-reset emails: a few per address per hour, and the same answer either way -----------


@override_settings(PASSWORD_RESET_EMAIL_LIMIT=2)
def test_password_reset_emails_are_limited_per_address(client):
    user_with_password(username="owner", email="owner@example.com")
    answers = [
        client.post("/accounts/password_reset/", {"email": "owner@example.com"}) for _ in range(5)
    ]
    assert len(mail.outbox) == 2
    assert {(a.status_code, a["Location"]) for a in answers} == {
        (302, "/accounts/password_reset/done/")
    }
    # The same address in other capitals is the same address.
    client.post("/accounts/password_reset/", {"email": "OWNER@example.com"})
    assert len(mail.outbox) == 2
    # Another address has its own allowance.
    user_with_password(username="other", email="other@example.com")
    client.post("/accounts/password_reset/", {"email": "other@example.com"})
    assert len(mail.outbox) == 3


@override_settings(PASSWORD_RESET_EMAIL_LIMIT=1)
def test_password_reset_answers_the_same_for_unknown_and_throttled_addresses(client):
    user_with_password(username="owner", email="owner@example.com")
    known = client.post("/accounts/password_reset/", {"email": "owner@example.com"})
    throttled = client.post("/accounts/password_reset/", {"email": "owner@example.com"})
    unknown = client.post("/accounts/password_reset/", {"email": "nobody@example.com"})
    assert len(mail.outbox) == 1
    assert known["Location"] == throttled["Location"] == unknown["Location"]


# The staff second factor ---------------------------------------------------------------------


def test_the_admin_refuses_staff_whose_session_has_no_second_factor(client):
    staff = StaffFactory(username="boss", is_superuser=True)
    TOTPDevice.objects.create(user=staff, name="phone")
    client.force_login(staff)
    response = client.get("/admin/")
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
    assert client.get("/admin/billing/credittransaction/").status_code == 302


def test_the_admin_login_accepts_a_valid_totp_token(client):
    staff = user_with_password(StaffFactory, username="boss", is_superuser=True)
    device = TOTPDevice.objects.create(user=staff, name="phone")
    response = client.post(
        ADMIN_LOGIN,
        {"username": "boss", "password": PASSWORD, "otp_token": current_token(device)},
    )
    assert response.status_code == 302, response.text
    assert client.get("/admin/").status_code == 200


@pytest.mark.parametrize("token", ["", "000000", "not-a-code", "1" * 5000])
def test_the_admin_login_refuses_a_wrong_or_missing_token(client, token):
    staff = user_with_password(StaffFactory, username="boss", is_superuser=True)
    device = TOTPDevice.objects.create(user=staff, name="phone")
    if token == "000000" and current_token(device) == token:
        token = "999999"
    response = client.post(
        ADMIN_LOGIN, {"username": "boss", "password": PASSWORD, "otp_token": token}
    )
    assert response.status_code == 200
    assert client.get("/admin/").status_code == 302


def test_a_staff_member_without_a_device_cannot_reach_the_admin_with_a_password(client):
    user_with_password(StaffFactory, username="boss", is_superuser=True)
    response = client.post(ADMIN_LOGIN, {"username": "boss", "password": PASSWORD})
    assert response.status_code == 200
    assert client.get("/admin/").status_code == 302


def test_staff_paths_outside_the_admin_need_the_second_factor_too(client, clinic):
    fund(clinic, 1_000)
    lead = leads.submit_enquiry(clinic=clinic, name="Asha Patel", phone="9876543210")
    charged_dispute = disputes.open_dispute(
        lead=lead, user=None, dispute_type="invalid_contact", description=DESCRIPTION
    )
    staff = StaffFactory(username="boss", is_superuser=True)
    client.force_login(staff)
    response = client.post(
        f"/admin/disputes/{charged_dispute.pk}/resolve", {"status": "rejected", "admin_notes": "x"}
    )
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
    charged_dispute.refresh_from_db()
    assert charged_dispute.status == Dispute.Status.PENDING


def test_the_otp_login_fixture_reaches_the_admin(client, otp_login):
    otp_login(client, StaffFactory(username="boss", is_superuser=True))
    assert client.get("/admin/").status_code == 200


def test_staff_totp_enrols_a_device_and_prints_its_seed(capsys):
    staff = StaffFactory(username="boss")
    call_command("staff_totp", "boss")
    out = capsys.readouterr().out
    device = TOTPDevice.objects.get(user=staff)
    assert device.confirmed
    assert "otpauth://totp/" in out
    # Running it twice keeps the enrolled device (a second run must not lock the staff out).
    call_command("staff_totp", "boss")
    assert TOTPDevice.objects.get(user=staff).pk == device.pk


def test_staff_totp_prints_the_current_code_only_in_debug(capsys, settings):
    staff = StaffFactory(username="boss")
    call_command("staff_totp", "boss")
    capsys.readouterr()
    settings.DEBUG = False
    with pytest.raises(CommandError, match="demo only"):
        call_command("staff_totp", "boss", "--code")
    settings.DEBUG = True
    call_command("staff_totp", "boss", "--code")
    assert capsys.readouterr().out.strip() == current_token(TOTPDevice.objects.get(user=staff))
    with pytest.raises(CommandError, match="No staff user"):
        call_command("staff_totp", "nobody")


# Content-Security-Policy ---------------------------------------------------------------------


def policy_of(response):
    return dict(
        [*part.split(" ", 1), ""][:2]
        for part in (p.strip() for p in response["Content-Security-Policy"].split(";"))
        if part
    )


@pytest.mark.parametrize("url", ["/", LOGIN, ADMIN_LOGIN, "/accounts/password_reset/"])
def test_every_page_sends_a_policy_without_inline_scripts(client, url):
    policy = policy_of(client.get(url))
    assert policy["script-src"] == "'self'"
    assert "unsafe" not in policy["style-src"]
    assert policy["object-src"] == "'none'"
    assert policy["frame-ancestors"] == "'none'"


def test_live_payments_allow_razorpays_checkout_origin(client, settings):
    settings.PAYMENT_MODE = "live"
    settings.RAZORPAY_CHECKOUT_JS = "https://checkout.razorpay.com/v1/checkout.js"
    policy = policy_of(client.get("/"))
    for directive in ("script-src", "frame-src", "connect-src"):
        assert "https://checkout.razorpay.com" in policy[directive], directive


@override_settings(PAYMENT_MODE="test")
def test_test_payments_allow_no_outside_origin(client):
    policy = policy_of(client.get("/"))
    assert "razorpay" not in client.get("/")["Content-Security-Policy"]
    assert policy["script-src"] == "'self'"


INLINE = [
    (re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I), "inline <script>"),
    (re.compile(r"\son[a-z]+\s*=", re.I), "inline event handler"),
    (re.compile(r"\shx-on", re.I), "hx-on (needs unsafe-eval)"),
    (re.compile(r"\sstyle\s*=", re.I), "style attribute"),
    (re.compile(r"javascript:", re.I), "javascript: URL"),
]


def test_no_template_carries_inline_script_or_style():
    found = [
        f"{path.relative_to(ROOT)}: {what}"
        for path in sorted((ROOT / "templates").rglob("*.html"))
        for pattern, what in INLINE
        if pattern.search(path.read_text())
    ]
    assert found == []


# Deploy checks --------------------------------------------------------------------------------


@pytest.fixture
def checks():
    from antidote import checks

    return checks


def test_deploy_checks_are_silent_with_the_shipped_settings(checks):
    assert checks.check_login_lockout(None) == []
    assert checks.check_content_security_policy(None) == []


@override_settings(AXES_ENABLED=False)
def test_deploy_check_flags_disabled_login_lockout(checks):
    assert [e.id for e in checks.check_login_lockout(None)] == ["antidote.E101"]


@override_settings(
    AUTHENTICATION_BACKENDS=["django.contrib.auth.backends.ModelBackend"],
)
def test_deploy_check_flags_a_backend_list_without_axes_first(checks):
    assert [e.id for e in checks.check_login_lockout(None)] == ["antidote.E101"]


def test_deploy_check_flags_unsafe_inline_scripts(checks, settings):
    policy = {
        "DIRECTIVES": {"default-src": ["'self'"], "script-src": ["'self'", "'unsafe-inline'"]}
    }
    settings.CONTENT_SECURITY_POLICY = policy
    assert [e.id for e in checks.check_content_security_policy(None)] == ["antidote.E102"]
    settings.CONTENT_SECURITY_POLICY = None
    assert [e.id for e in checks.check_content_security_policy(None)] == ["antidote.E102"]


def test_the_demo_staff_login_has_an_authenticator_and_prints_its_seed(client, settings):
    settings.DEBUG = True  # the demo runs with DEBUG on only
    out = StringIO()
    call_command("load_demo_data", stdout=out)
    assert "otpauth://totp/" in out.getvalue()
    assert "staff_totp staff --code" in out.getvalue()
    device = TOTPDevice.objects.get(user__username="staff")
    response = client.post(
        ADMIN_LOGIN,
        {"username": "staff", "password": "staff-pass-2026", "otp_token": current_token(device)},
    )
    assert response.status_code == 302
    assert client.get("/admin/").status_code == 200


def test_guessing_totp_codes_is_throttled_per_device(client):
    staff = user_with_password(StaffFactory, username="boss", is_superuser=True)
    device = TOTPDevice.objects.create(user=staff, name="phone")
    wrong = "999999" if current_token(device) != "999999" else "000000"
    client.post(ADMIN_LOGIN, {"username": "boss", "password": PASSWORD, "otp_token": wrong})
    # Right after a wrong code even the right one waits out django-otp's growing delay.
    response = client.post(
        ADMIN_LOGIN,
        {"username": "boss", "password": PASSWORD, "otp_token": current_token(device)},
    )
    assert response.status_code == 200
    assert "Verification temporarily disabled" in response.text
    assert client.get("/admin/").status_code == 302


@pytest.mark.parametrize(
    "device_id",
    ["auth.user/1", "garbage", "a.b.c/1", "otp_totp.totpdevice/²", "otp_totp.totpdevice/9" * 9],
)
def test_a_forged_device_choice_on_the_admin_login_is_refused_not_a_500(client, device_id):
    staff = user_with_password(StaffFactory, username="boss", is_superuser=True)
    device = TOTPDevice.objects.create(user=staff, name="phone")
    response = client.post(
        ADMIN_LOGIN,
        {
            "username": "boss",
            "password": PASSWORD,
            "otp_device": device_id,
            "otp_token": current_token(device),
        },
    )
    assert response.status_code == 200
    assert client.get("/admin/").status_code == 302


def test_another_users_device_cannot_verify_a_login(client):
    staff = user_with_password(StaffFactory, username="boss", is_superuser=True)
    TOTPDevice.objects.create(user=staff, name="phone")
    other = TOTPDevice.objects.create(user=StaffFactory(username="other"), name="phone")
    response = client.post(
        ADMIN_LOGIN,
        {
            "username": "boss",
            "password": PASSWORD,
            "otp_device": other.persistent_id,
            "otp_token": current_token(other),
        },
    )
    assert response.status_code == 200
    assert client.get("/admin/").status_code == 302
