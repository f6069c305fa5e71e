"""send_low_balance_alerts: one email per clinic per crossing, even with two runs at once."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core import mail
from django.core.management import call_command
from django.utils import timezone

from billing import services
from billing.models import CreditAccount, CreditLot, CreditTransaction, Kind
from notifications.models import OutboxMessage
from notifications.services import sweep_outbox
from tests.commands import run_command
from tests.concurrency import run_overlapped
from tests.conftest import requires_postgres
from tests.factories import ClinicFactory, LeadFactory, fund


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
def test_a_failed_send_keeps_its_claim_and_the_outbox_sends_it_again(
    settings, django_capture_on_commit_callbacks
):
    (clinic,) = _low_clinics(1)
    settings.EMAIL_BACKEND = "tests.mail_backends.FailingEmailBackend"

    with django_capture_on_commit_callbacks(execute=True):
        code, output = run_command("send_low_balance_alerts")

    # The command's work is done: the alert is queued; the send is the outbox's to retry.
    assert code == 0
    assert "1 alert(s) queued" in output
    assert CreditAccount.objects.get(clinic=clinic).low_balance_alerted_at is not None
    (message,) = OutboxMessage.objects.filter(event__type="balance.low")
    assert (message.status, message.attempts) == ("pending", 1)
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    OutboxMessage.objects.filter(pk=message.pk).update(next_attempt_at=timezone.now())
    sweep_outbox(older_than=timedelta(0))
    assert [m.to for m in mail.outbox] == [[clinic.contact_email]]
    # Another run finds nothing new to say.
    assert run_command("send_low_balance_alerts")[0] == 0
    assert len(mail.outbox) == 1


@pytest.mark.django_db(transaction=True)
def test_the_debit_that_crosses_the_level_alerts_once_and_a_top_up_rearms_it(
    seeded_tiers,
):
    clinic = ClinicFactory()
    CreditAccount.objects.filter(clinic=clinic).update(low_balance_threshold=500)
    fund(clinic, 800)

    def alerts():
        return [m for m in mail.outbox if "credits left" in m.subject]

    assert alerts() == []  # a credit never alerts
    lead = LeadFactory(clinic=clinic, price_credits=200)
    services.charge_lead(lead=lead)  # 600: still above
    assert alerts() == []
    services.charge_lead(lead=LeadFactory(clinic=clinic, price_credits=200))  # 400: crossed
    (alert,) = alerts()
    assert alert.to == [clinic.contact_email] and "400 credits left" in alert.subject
    services.charge_lead(lead=LeadFactory(clinic=clinic, price_credits=200))  # 200: no news
    assert len(alerts()) == 1
    fund(clinic, 1_000)  # 1,200: back above, re-armed
    assert CreditAccount.objects.get(clinic=clinic).low_balance_alerted_at is None
    services.charge_lead(lead=LeadFactory(clinic=clinic, price_credits=800))  # 400 again
    assert len(alerts()) == 2
    # The hourly sweep finds nothing the postings missed.
    assert "0 alert(s) queued" in run_command("send_low_balance_alerts")[1]


@pytest.mark.django_db
def test_a_clinic_back_above_its_level_is_rearmed_and_alerted_at_the_next_crossing(
    django_capture_on_commit_callbacks,
):
    (clinic,) = _low_clinics(1)
    with django_capture_on_commit_callbacks(execute=True):
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


@pytest.mark.django_db(transaction=True)
def test_a_charge_that_first_expires_a_lot_alerts_once_at_the_crossing(seeded_tiers):
    # On PostgreSQL billing_charge finds the due lot and hands over to the general path
    # (_post_locked), which must still see the crossing and the armed flag.
    clinic = ClinicFactory()
    CreditAccount.objects.filter(clinic=clinic).update(low_balance_threshold=500)
    fund(clinic, 300)
    fund(clinic, 700)
    CreditLot.objects.filter(granted=300).update(expires_at=timezone.now() - timedelta(seconds=1))

    def alerts():
        return [m for m in mail.outbox if "credits left" in m.subject]

    services.charge_lead(lead=LeadFactory(clinic=clinic, price_credits=300))  # 700 -> 400
    assert CreditTransaction.objects.filter(kind=Kind.EXPIRY).count() == 1
    (alert,) = alerts()
    assert "400 credits left" in alert.subject
    services.post_entry(  # the general path on both databases: 300, no news
        clinic_id=clinic.pk, kind=Kind.ADMIN_ADJUSTMENT, credits=-100, idempotency_key="adj-1"
    )
    assert len(alerts()) == 1
    services.post_entry(  # 800: back above, re-armed by the credit
        clinic_id=clinic.pk, kind=Kind.ADMIN_ADJUSTMENT, credits=500, idempotency_key="adj-2"
    )
    assert CreditAccount.objects.get(clinic=clinic).low_balance_alerted_at is None
    services.charge_lead(lead=LeadFactory(clinic=clinic, price_credits=400))  # 400 again
    assert len(alerts()) == 2
