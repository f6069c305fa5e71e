"""Operator commands: output and exit codes on clean and tampered books, and memory bounds."""

import csv
import tracemalloc
from datetime import timedelta
from io import StringIO

import pytest
from django.core import mail
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from billing import services as billing
from billing.models import CreditAccount, CreditLot, CreditTransaction, ReconciliationRun
from billing.selectors import account_balance
from leads import services as leads
from leads.models import Lead
from notifications.models import Event, OutboxMessage
from payments.models import PaymentOrder
from tests.factories import ClinicFactory, fund

pytestmark = pytest.mark.django_db


def run(name, *args):
    out, err = StringIO(), StringIO()
    try:
        call_command(name, *args, stdout=out, stderr=err)
    except CommandError as error:
        return error.returncode, out.getvalue() + str(error)
    return 0, out.getvalue()


PROJECT_APPS = {"antidote", "billing", "leads", "payments", "disputes"}


def _commands_with_a_dry_run():
    from django.core.management import get_commands, load_command_class

    names = []
    for name, app in get_commands().items():
        if app not in PROJECT_APPS:
            continue
        parser = load_command_class(app, name).create_parser("manage.py", name)
        if any("--dry-run" in action.option_strings for action in parser._actions):
            names.append(name)
    return sorted(names)


# Whether the world below gives each command something to do for real.
DRY_RUN_COMMANDS = {
    "reconcile": False,  # clean books: it records its run and changes nothing else
    "reconcile_payments": False,  # no orders
    "release_held_leads": True,
    "send_low_balance_alerts": True,
    "expire_credits": True,
    "warn_expiring_credits": True,
}


def _world_with_work_to_do():
    low = ClinicFactory(name="Low")
    CreditAccount.objects.filter(clinic=low).update(low_balance_threshold=500)
    fund(low, 1_000)
    for i in range(6):  # 1,000 -> 400: below its alert level
        leads.submit_enquiry(clinic=low, name="P", phone=f"900000000{i}")
    waiting = ClinicFactory(name="Waiting")
    for i in range(2):  # no credits: held
        leads.submit_enquiry(clinic=waiting, name="Q", phone=f"910000000{i}")
    CreditAccount.objects.filter(clinic=waiting).update(overdraft_limit=200)  # now affordable
    expiring = ClinicFactory(name="Expiring")
    for days in (3, 30):  # one lot to warn about, one that has expired unposted
        billing.grant_credits(
            clinic=expiring,
            credits=100,
            kind="bonus",
            idempotency_key=f"exp:{days}",
            validity_days=days,
        )
    CreditLot.objects.filter(
        account__clinic=expiring, expires_at__gt=timezone.now() + timedelta(days=10)
    ).update(expires_at=timezone.now())


def _state():
    return (
        list(CreditTransaction.objects.order_by("id").values_list("id", "credits")),
        list(CreditAccount.objects.order_by("id").values_list("balance", "low_balance_alerted_at")),
        list(Lead.objects.order_by("id").values_list("billing_state", flat=True)),
        list(PaymentOrder.objects.order_by("id").values_list("status", flat=True)),
        len(mail.outbox),
        Event.objects.count(),  # messages go through the outbox
    )


def test_every_command_that_changes_data_has_its_dry_run_tested_here():
    assert _commands_with_a_dry_run() == sorted(DRY_RUN_COMMANDS)


@pytest.mark.parametrize("name", sorted(DRY_RUN_COMMANDS))
def test_a_dry_run_reports_and_changes_nothing_and_the_real_run_acts(name):
    _world_with_work_to_do()
    before = _state()
    code, output = run(name, "--dry-run")
    assert code == 0
    assert output.strip()
    assert _state() == before
    code, _ = run(name)
    assert code == 0
    assert (_state() != before) is DRY_RUN_COMMANDS[name]
    again = _state()
    assert run(name)[0] == 0
    assert _state() == again  # safe to run twice


def test_reconcile_runs_both_checks_and_records_them():
    clinic = ClinicFactory(name="Glow")
    fund(clinic, 1_000)
    code, output = run("reconcile")
    assert code == 0
    assert "== reconcile_ledger: OK" in output and "== reconcile_payments: OK" in output
    assert "Reconciliation OK" in output
    assert set(ReconciliationRun.objects.values_list("name", "ok")) == {
        ("ledger", True),
        ("payments", True),
    }


def test_reconcile_exits_1_and_names_the_clinic_on_a_tampered_ledger():
    good, bad = ClinicFactory(name="Glow"), ClinicFactory(name="Tampered Clinic")
    fund(good, 1_000)
    fund(bad, 1_000)
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE billing_creditaccount SET balance = 99999 WHERE clinic_id = %s", [bad.pk]
        )
    code, output = run("reconcile")
    assert code == 1
    assert "Tampered Clinic" in output and "Glow (" not in output
    assert "Reconciliation FAILED: reconcile_ledger" in output
    assert ReconciliationRun.objects.filter(name="ledger").first().ok is False


def test_release_held_leads_charges_what_is_now_affordable_and_is_safe_twice(clinic):
    held = [leads.submit_enquiry(clinic=clinic, name="P", phone=f"900000000{i}") for i in range(3)]
    CreditAccount.objects.filter(clinic=clinic).update(overdraft_limit=200)  # now 2 are affordable
    assert run("release_held_leads", "--dry-run")[1].startswith("3 held lead(s) in 1 clinic(s)")
    code, output = run("release_held_leads")
    assert code == 0
    assert "2 lead(s) released; 1 still waiting" in output
    assert account_balance(clinic=clinic) == -200
    assert run("release_held_leads")[1].endswith(
        "0 lead(s) released; 1 still waiting (credits or budget).\n"
    )
    assert Lead.objects.get(pk=held[2].pk).billing_state == "held"


def _low_balance_alerts(clinic):
    return OutboxMessage.objects.filter(event__type="balance.low", event__clinic=clinic).count()


def test_low_balance_alerts_go_once_per_crossing(clinic):
    CreditAccount.objects.filter(clinic=clinic).update(low_balance_threshold=500)
    fund(clinic, 1_000)
    assert run("send_low_balance_alerts")[1].endswith("0 alert(s) queued, 0 re-armed.\n")
    for i in range(6):  # 1,000 → 400: the charge that crosses the level raises the alert
        leads.submit_enquiry(clinic=clinic, name="P", phone=f"900000000{i}")
    assert _low_balance_alerts(clinic) == 1
    # The hourly command is a safety sweep: it finds nothing the posting missed.
    assert "would alert" not in run("send_low_balance_alerts", "--dry-run")[1]
    assert run("send_low_balance_alerts")[1].endswith("0 alert(s) queued, 0 re-armed.\n")
    assert _low_balance_alerts(clinic) == 1  # not every run
    fund(clinic, 1_000)  # back above: re-armed by the credit itself
    assert CreditAccount.objects.get(clinic=clinic).low_balance_alerted_at is None
    for i in range(10):
        leads.submit_enquiry(clinic=clinic, name="Q", phone=f"910000000{i}")
    assert _low_balance_alerts(clinic) == 2


def test_the_sweep_alerts_a_clinic_whose_level_was_raised_above_its_balance(clinic):
    fund(clinic, 400)
    CreditAccount.objects.filter(clinic=clinic).update(low_balance_threshold=500)
    assert "would alert" in run("send_low_balance_alerts", "--dry-run")[1]
    assert _low_balance_alerts(clinic) == 0
    code, output = run("send_low_balance_alerts")
    assert (code, "alerting" in output) == (0, True)
    assert _low_balance_alerts(clinic) == 1
    assert run("send_low_balance_alerts")[1].endswith("0 alert(s) queued, 0 re-armed.\n")


def test_export_ledger_writes_filtered_csv(tmp_path):
    glow, lotus = ClinicFactory(slug="glow"), ClinicFactory(slug="lotus")
    fund(glow, 1_000)
    fund(lotus, 500)
    out = tmp_path / "ledger.csv"
    code, output = run(
        "export_ledger", "--out", str(out), "--clinic", "glow", "--from", "2000-01-01"
    )
    assert code == 0
    assert "Wrote 1 ledger entries" in output
    rows = list(csv.reader(out.open()))
    assert rows[0][:6] == ["id", "created_at", "clinic_id", "clinic", "kind", "credits"]
    assert [(r[2], r[4], r[5]) for r in rows[1:]] == [(str(glow.pk), "purchase", "1000")]
    again = run("export_ledger", "--out", str(out), "--to", "2000-01-01", "--force")
    assert again[1].startswith("Wrote 0")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", "yesterday"], "not a date"),
        (["--from", "2026-02-01", "--to", "2026-01-01"], "--from is after --to"),
        (["--clinic", "nobody"], "No clinic 'nobody'"),
    ],
)
def test_export_ledger_refuses_bad_arguments(tmp_path, args, message):
    code, output = run("export_ledger", "--out", str(tmp_path / "x.csv"), *args)
    assert code != 0
    assert message in output


def _bulk_ledger(clinic, rows):
    """A large, consistent ledger straight into the table: a fixture, not a posting path."""
    account = clinic.credit_account
    batch, balance = [], 0
    for n in range(1, rows + 1):
        balance += 1
        batch.append(
            CreditTransaction(
                account=account,
                kind="bonus",
                credits=1,
                balance_after=balance,
                idempotency_key=f"bulk:{n}",
            )
        )
        if len(batch) == 10_000:
            CreditTransaction.objects.bulk_create(batch)
            batch = []
    CreditTransaction.objects.bulk_create(batch)
    CreditAccount.objects.filter(pk=account.pk).update(balance=balance)


def test_export_ledger_of_100000_rows_stays_within_a_fixed_memory_bound(tmp_path):
    _bulk_ledger(ClinicFactory(), 100_000)
    out = tmp_path / "big.csv"
    tracemalloc.start()
    try:
        code, _ = run("export_ledger", "--out", str(out))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert code == 0
    assert sum(1 for _ in out.open()) == 100_001
    # 100,000 rows held at once would take tens of MB; streaming in chunks keeps it small.
    print(f"export_ledger peak traced memory: {peak:,} bytes")
    assert peak < 8 * 1024 * 1024, f"peak {peak:,} bytes"
