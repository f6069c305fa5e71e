"""send_low_balance_alerts: one email per clinic per crossing, even with two runs at once."""

from io import StringIO

import pytest
from django.core import mail
from django.core.management import call_command

from billing.models import CreditAccount
from tests.commands import run_command
from tests.concurrency import run_overlapped
from tests.conftest import requires_postgres
from tests.factories import ClinicFactory, fund


def _low_clinics(count):
    clinics = [ClinicFactory(name=f"Clinic {i}") for i in range(count)]
    for clinic in clinics:
        CreditAccount.objects.filter(clinic=clinic).update(low_balance_threshold=500)
        fund(clinic, 100)
    return clinics


def _alert_run():
    call_command("send_low_balance_alerts", stdout=StringIO(), stderr=StringIO())


@requires_postgres
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_runs_at_once_email_each_clinic_once():
    clinics = _low_clinics(3)
    accounts = CreditAccount.objects.filter(clinic__in=clinics)

    # Both runs start while another connection holds the accounts' rows, so both have read
    # the list of clinics to alert before either could mark one: the old read-send-mark
    # sent every email twice here.
    results = run_overlapped(accounts, [_alert_run, _alert_run])

    assert results == [None, None]
    assert sorted(m.to[0] for m in mail.outbox) == sorted(c.contact_email for c in clinics)
    assert not accounts.filter(low_balance_alerted_at=None).exists()


@pytest.mark.django_db
def test_a_failed_send_releases_its_claim_and_the_next_run_sends_it(settings):
    (clinic,) = _low_clinics(1)
    settings.EMAIL_BACKEND = "tests.mail_backends.FailingEmailBackend"

    code, output = run_command("send_low_balance_alerts")

    assert code == 1
    assert "1 alert(s) could not be sent" in output
    assert CreditAccount.objects.get(clinic=clinic).low_balance_alerted_at is None
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert run_command("send_low_balance_alerts")[0] == 0
    assert [m.to for m in mail.outbox] == [[clinic.contact_email]]
    assert CreditAccount.objects.get(clinic=clinic).low_balance_alerted_at is not None
    # A third run finds nothing new to say.
    assert run_command("send_low_balance_alerts")[0] == 0
    assert len(mail.outbox) == 1


@pytest.mark.django_db
def test_a_clinic_back_above_its_level_is_rearmed_and_alerted_at_the_next_crossing():
    (clinic,) = _low_clinics(1)
    assert run_command("send_low_balance_alerts")[0] == 0
    fund(clinic, 1_000)
    assert run_command("send_low_balance_alerts")[0] == 0
    assert CreditAccount.objects.get(clinic=clinic).low_balance_alerted_at is None
    assert len(mail.outbox) == 1


@pytest.mark.django_db
def test_the_dry_run_claims_nothing_and_sends_nothing():
    (clinic,) = _low_clinics(1)
    code, output = run_command("send_low_balance_alerts", "--dry-run")
    assert code == 0
    assert "would alert Clinic 0" in output
    assert mail.outbox == []
    assert CreditAccount.objects.get(clinic=clinic).low_balance_alerted_at is None
