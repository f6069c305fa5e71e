"""The leads commands as an operator runs them: exit codes and what they print."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from billing.selectors import account_balance
from leads import services
from leads.models import Clinic, Lead
from tests.commands import run_command
from tests.factories import ClinicFactory, fund

pytestmark = pytest.mark.django_db


def _held(clinic, phone):
    lead = services.submit_enquiry(clinic=clinic, name="P", phone=phone)
    assert lead.billing_state == Lead.Billing.HELD
    return lead


def test_release_goes_on_past_a_failing_clinic_and_exits_1():
    closed = ClinicFactory(name="Closed Clinic")  # first in the command's order
    open_ = ClinicFactory(name="Open Clinic")
    _held(closed, "9000000001")
    waiting = _held(open_, "9000000002")
    fund(closed, 500)
    fund(open_, 500)  # no release here: on_commit callbacks do not run in this test
    Clinic.objects.filter(pk=closed.pk).update(is_active=False)

    code, output = run_command("release_held_leads")

    assert code == 1
    assert Lead.objects.get(pk=waiting.pk).billing_state == Lead.Billing.CHARGED
    assert account_balance(clinic=open_) == 400
    assert f"Closed Clinic (clinic #{closed.pk})" in output
    assert "1 clinic(s) could not be released" in output


def test_release_names_the_failing_clinic_and_its_error_on_stderr():
    closed = ClinicFactory(name="Closed Clinic")
    _held(closed, "9000000001")
    fund(closed, 500)
    Clinic.objects.filter(pk=closed.pk).update(is_active=False)
    err = StringIO()
    with pytest.raises(CommandError):
        call_command("release_held_leads", stdout=StringIO(), stderr=err)
    assert f"Closed Clinic (clinic #{closed.pk})" in err.getvalue()
    assert "inactive" in err.getvalue()
