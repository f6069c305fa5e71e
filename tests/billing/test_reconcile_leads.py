"""reconcile_ledger (and so reconcile) names money wrong on leads, not only broken sums:
a flagged lead still charged, and a waiting lead its clinic could have paid for long ago.

Services prevent both, so each is planted with direct ORM updates."""

from datetime import timedelta

import pytest
from django.utils import timezone

from billing import services as billing
from billing.models import CreditAccount
from leads import services as leads
from leads.models import Clinic, Lead
from tests.commands import run_command
from tests.factories import ClinicFactory, PackageFactory, StaffFactory, fund

pytestmark = pytest.mark.django_db


def enquire(clinic, phone, package=None):
    return leads.submit_enquiry(clinic=clinic, package=package, name="P", phone=phone)


def age(lead, minutes):
    Lead.objects.filter(pk=lead.pk).update(created_at=timezone.now() - timedelta(minutes=minutes))


def test_clean_books_with_a_fresh_waiting_lead_pass_both_commands(clinic):
    enquire(clinic, "9000000001")  # waiting, but the clinic has nothing to pay with
    assert run_command("reconcile_ledger")[0] == 0
    assert run_command("reconcile")[0] == 0


@pytest.mark.parametrize("command", ["reconcile_ledger", "reconcile"])
def test_a_flagged_lead_that_is_still_charged_is_named(command):
    clinic = ClinicFactory(name="Glow")
    fund(clinic, 500)
    lead = enquire(clinic, "9000000001")
    Lead.objects.filter(pk=lead.pk).update(technical_error=True)  # planted: no refund

    code, output = run_command(command)

    assert code == 1
    assert f"lead #{lead.pk}" in output and "Glow" in output
    assert "flagged as a technical error but still charged 100 credits" in output


def test_a_flagged_lead_refunded_in_full_is_no_problem(clinic):
    fund(clinic, 500)
    lead = enquire(clinic, "9000000001")
    billing.refund_lead_charge(lead=lead, idempotency_key="refund:test:1")
    Lead.objects.filter(pk=lead.pk).update(technical_error=True)
    assert run_command("reconcile_ledger")[0] == 0


@pytest.mark.parametrize("command", ["reconcile_ledger", "reconcile"])
def test_a_waiting_lead_its_clinic_could_pay_for_is_named_after_the_threshold(command, settings):
    settings.HELD_LEAD_ALERT_MINUTES = 60
    clinic = ClinicFactory(name="Lotus")
    lead = enquire(clinic, "9000000001")
    fund(clinic, 100)  # the release this top-up starts after commit never ran (planted)
    age(lead, 59)
    assert run_command(command)[0] == 0  # not yet past the threshold

    age(lead, 61)
    code, output = run_command(command)

    assert code == 1
    assert f"lead #{lead.pk}" in output and "Lotus" in output
    assert "waiting" in output and "could pay" in output


def test_only_the_head_of_the_queue_counts_and_the_overdraft_is_part_of_the_means(settings):
    settings.HELD_LEAD_ALERT_MINUTES = 60
    clinic = ClinicFactory()
    dear = PackageFactory(clinic=clinic, price_paise=60_000_00)  # 400 credits
    head = enquire(clinic, "9000000001", dear)
    behind = enquire(clinic, "9000000002")  # 100 credits
    fund(clinic, 150)
    age(head, 120)
    age(behind, 90)
    # 150 cannot pay the head (400); that the lead behind it is cheaper does not matter.
    assert run_command("reconcile_ledger")[0] == 0

    CreditAccount.objects.filter(clinic=clinic).update(overdraft_limit=250)  # 150 + 250 = 400
    code, output = run_command("reconcile_ledger")
    assert code == 1
    assert f"lead #{head.pk}" in output and f"lead #{behind.pk}" not in output


def test_a_clinic_in_debt_or_inactive_is_not_named_for_its_waiting_leads(settings):
    settings.HELD_LEAD_ALERT_MINUTES = 60
    indebted, closed = ClinicFactory(), ClinicFactory()
    fund(indebted, 100)
    billing.reverse_credits(clinic=indebted, credits=300, idempotency_key="reversal:test:1")
    age(enquire(indebted, "9000000001"), 120)
    age(enquire(closed, "9000000002"), 120)
    fund(closed, 500)
    Clinic.objects.filter(pk=closed.pk).update(is_active=False)  # its leads cannot be charged
    assert run_command("reconcile_ledger")[0] == 0


def test_a_flagged_lead_let_go_free_is_not_waiting(clinic, settings):
    settings.HELD_LEAD_ALERT_MINUTES = 60
    staff = StaffFactory(is_superuser=True)
    lead = enquire(clinic, "9000000001")
    leads.flag_technical_error(lead=lead, actor=staff, reason="Broken form")
    age(lead, 120)
    fund(clinic, 500)
    assert run_command("reconcile_ledger")[0] == 0
