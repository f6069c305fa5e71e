"""reconcile_ledger: clean books pass; tampered books fail loudly and name the clinic."""

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from billing import services
from tests.factories import ClinicFactory, LeadFactory, fund

pytestmark = pytest.mark.django_db


def _reconcile(*args):
    from io import StringIO

    out, err = StringIO(), StringIO()
    try:
        call_command("reconcile_ledger", *args, stdout=out, stderr=err)
    except CommandError as error:
        return error.returncode, out.getvalue() + str(error)
    return 0, out.getvalue()


def _books():
    good = ClinicFactory(name="Glow Skin Clinic")
    bad = ClinicFactory(name="Bright Smile Dental")
    for clinic in (good, bad):
        fund(clinic, 1_000)
        services.charge_lead(lead=LeadFactory(clinic=clinic))
    return good, bad


def test_reconcile_passes_on_clean_books():
    _books()
    code, output = _reconcile()
    assert code == 0
    assert "Ledger OK" in output
    assert "2 accounts, 4 entries" in output


def test_reconcile_fails_and_names_the_clinic_whose_balance_was_tampered_with():
    _, bad = _books()
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE billing_creditaccount SET balance = balance + 5000 WHERE clinic_id = %s",
            [bad.pk],
        )
    code, output = _reconcile()
    assert code == 1
    assert "Bright Smile Dental" in output
    assert "difference +5,000" in output
    assert "Glow Skin Clinic" not in output


def test_reconcile_finds_a_broken_balance_after_chain():
    _, bad = _books()
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":  # the append-only trigger would refuse the tamper
            cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute(
            "UPDATE billing_credittransaction SET balance_after = 42 "
            "WHERE account_id = (SELECT id FROM billing_creditaccount WHERE clinic_id = %s) "
            "AND kind = 'purchase'",
            [bad.pk],
        )
    code, output = _reconcile("--batch-size", "1")
    assert code == 1
    assert "Bright Smile Dental" in output
    assert "says balance_after 42" in output


def test_reconcile_refuses_a_nonsense_batch_size():
    code, output = _reconcile("--batch-size", "0")
    assert code == 1
    assert "--batch-size" in output


def _export(*args):
    from io import StringIO

    out = StringIO()
    try:
        call_command("export_ledger", "--out", "-", *args, stdout=out, stderr=StringIO())
    except CommandError as error:
        return error.returncode, str(error)
    return 0, out.getvalue()


def test_export_ledger_selects_a_clinic_by_id_or_slug():
    good, _ = _books()
    for selector in (str(good.pk), good.slug):
        code, output = _export("--clinic", selector)
        assert code == 0
        lines = output.splitlines()
        assert len(lines) == 3  # header, purchase, charge
        assert all(f",{good.pk},{good.name}," in line for line in lines[1:])
