"""The enquiry rate limit's counting rules: who is a sender behind a proxy, per-address and
per-number buckets, never per clinic, invalid submissions apart, refusals not counted."""

import pytest
from django.core.cache import cache
from django.test import RequestFactory

from leads.models import Lead
from leads.throttle import client_ip
from tests.factories import ClinicFactory, PackageFactory, fund

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_rate_limit():
    cache.clear()


@pytest.fixture
def limits(settings):
    settings.LEAD_RATE_LIMIT = 3
    settings.LEAD_PHONE_RATE_LIMIT = 2
    settings.LEAD_INVALID_RATE_LIMIT = 4
    settings.TRUSTED_PROXY_COUNT = 0
    return settings


@pytest.fixture
def funded(clinic):
    fund(clinic, 100_000)
    return clinic


def _post(client, clinic, *, phone, ip="203.0.113.1", xff=None, **fields):
    data = {"name": "Asha Patel", "phone": phone, "consent": "on", "website": ""}
    data.update({"clinic": clinic.pk, **fields})
    meta = {"REMOTE_ADDR": ip}
    if xff is not None:
        meta["HTTP_X_FORWARDED_FOR"] = xff
    return client.post("/contact-clinic", data, **meta)


def _phone(i):
    return f"90000{i:05d}"


# Who is the sender --------------------------------------------------------------------------


def _ip(settings, *, remote="10.0.0.9", xff=None, trusted=0):
    settings.TRUSTED_PROXY_COUNT = trusted
    meta = {"REMOTE_ADDR": remote}
    if xff is not None:
        meta["HTTP_X_FORWARDED_FOR"] = xff
    return client_ip(RequestFactory().post("/contact-clinic", **meta))


def test_without_trusted_proxies_the_forwarded_header_is_ignored(settings):
    assert _ip(settings, xff="198.51.100.7") == "10.0.0.9"


@pytest.mark.parametrize(
    ("xff", "trusted", "expected"),
    [
        ("198.51.100.7", 1, "198.51.100.7"),
        ("6.6.6.6, 198.51.100.7", 1, "198.51.100.7"),  # whatever the client prepends is ignored
        ("198.51.100.7, 10.0.0.2", 2, "198.51.100.7"),
        ("6.6.6.6, 198.51.100.7, 10.0.0.2", 2, "198.51.100.7"),
        (" 2001:db8::1 ", 1, "2001:db8::1"),
    ],
)
def test_with_trusted_proxies_the_nth_address_from_the_right_is_the_client(
    settings, xff, trusted, expected
):
    assert _ip(settings, xff=xff, trusted=trusted) == expected


@pytest.mark.parametrize(
    ("xff", "trusted"),
    [
        (None, 1),
        ("", 1),
        ("not-an-ip", 1),
        ("198.51.100.7, garbage", 1),
        ("198.51.100.7,", 1),
        ("198.51.100.7", 2),  # fewer hops than proxies we trust
        ("198.51.100.7, 10.0.0.2\x00", 2),
        ("1" * 5000, 1),
    ],
)
def test_a_malformed_forwarded_header_falls_back_to_the_peer_address(settings, xff, trusted):
    assert _ip(settings, xff=xff, trusted=trusted) == "10.0.0.9"


def test_behind_a_trusted_proxy_each_patient_has_their_own_bucket(client, funded, limits):
    limits.TRUSTED_PROXY_COUNT = 1
    for i in range(6):  # two patients, three each: all behind the same proxy address
        xff = f"198.51.100.{i % 2 + 1}"
        response = _post(client, funded, phone=_phone(i), ip="10.0.0.2", xff=xff)
        assert response.status_code == 302, i
    refused = _post(client, funded, phone=_phone(9), ip="10.0.0.2", xff="198.51.100.1")
    assert refused.status_code == 429
    assert Lead.objects.count() == 6


def test_without_trusting_the_proxy_a_forged_header_buys_nothing(client, funded, limits):
    for i in range(3):
        assert _post(client, funded, phone=_phone(i), xff=f"198.51.100.{i}").status_code == 302
    assert _post(client, funded, phone=_phone(5), xff="198.51.100.99").status_code == 429


# The buckets -----------------------------------------------------------------------------------


def test_a_sender_rotating_addresses_cannot_flood_one_number(client, limits):
    clinics = [ClinicFactory() for _ in range(4)]
    for clinic in clinics:
        fund(clinic, 1_000)
    for i, clinic in enumerate(clinics[:2]):
        assert _post(client, clinic, phone="98765 43210", ip=f"203.0.113.{i}").status_code == 302
    # The same number written differently is the same number.
    refused = _post(client, clinics[2], phone="+91 98765-43210", ip="203.0.113.50")
    assert refused.status_code == 429
    assert "mobile number" in refused.text
    assert Lead.objects.count() == 2


def test_one_clinic_is_never_silenced_by_volume(client, funded, limits):
    for i in range(12):  # many patients, each within their own limits
        response = _post(client, funded, phone=_phone(i), ip=f"203.0.113.{i}")
        assert response.status_code == 302, i
    assert Lead.objects.filter(clinic=funded).count() == 12


def test_invalid_submissions_never_use_up_a_valid_enquiry(client, funded, limits):
    for _ in range(4):
        assert _post(client, funded, phone="12345").status_code == 400
    assert _post(client, funded, phone=_phone(1)).status_code == 302
    assert Lead.objects.count() == 1


def test_invalid_submissions_have_their_own_limit(client, funded, limits):
    for _ in range(4):
        assert _post(client, funded, phone="12345").status_code == 400
    refused = _post(client, funded, phone="12345")
    assert refused.status_code == 429
    assert 'value="Asha Patel"' in refused.text
    # ...and the sender can still send a real enquiry.
    assert _post(client, funded, phone=_phone(1)).status_code == 302


def test_refused_submissions_do_not_count(client, funded, limits):
    assert _post(client, funded, phone=_phone(1)).status_code == 302
    assert _post(client, funded, phone=_phone(1)).status_code == 302  # a free duplicate
    for _ in range(5):  # refused for the number: the address's count must not move
        assert _post(client, funded, phone=_phone(1)).status_code == 429
    assert _post(client, funded, phone=_phone(2)).status_code == 302
    for _ in range(5):  # refused for the address: the number's count must not move
        assert _post(client, funded, phone=_phone(3)).status_code == 429
    assert _post(client, funded, phone=_phone(3), ip="203.0.113.77").status_code == 302
    for _ in range(4):  # invalid ones refused over their limit do not grow either
        _post(client, funded, phone="12345", ip="203.0.113.88")
    assert _post(client, funded, phone="12345", ip="203.0.113.88").status_code == 429


def test_a_refused_enquiry_is_re_rendered_with_the_patients_input(client, clinic, limits):
    fund(clinic, 1_000)
    package = PackageFactory(clinic=clinic, name="Hydrafacial")
    for i in range(3):
        assert _post(client, clinic, phone=_phone(i), package=package.pk).status_code == 302
    refused = _post(client, clinic, phone="98765 43210", package=package.pk, message="Saturday?")
    assert refused.status_code == 429
    assert refused["Retry-After"] == str(limits.LEAD_RATE_WINDOW_SECONDS)
    text = refused.text
    assert "Hydrafacial" in text and 'action="/contact-clinic"' in text
    assert 'value="Asha Patel"' in text and "98765 43210" in text and "Saturday?" in text
    assert "was not sent" in text
    assert "reached the clinic" not in text


def test_rate_limit_settings_have_documented_defaults():
    from antidote import settings as production

    assert production.TRUSTED_PROXY_COUNT == 0
    assert (production.LEAD_RATE_LIMIT, production.LEAD_RATE_WINDOW_SECONDS) == (5, 600)
    assert production.LEAD_PHONE_RATE_LIMIT == 5
    assert production.LEAD_PHONE_RATE_WINDOW_SECONDS == 3600
    assert production.LEAD_INVALID_RATE_LIMIT == 20
