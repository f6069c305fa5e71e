"""PostgreSQL only: intake, release and charges racing each other charge every lead once."""

import threading
import time

import pytest
from django.db import connection, connections, transaction

from billing import services as billing
from billing.models import CreditTransaction, Kind
from billing.selectors import account_balance, ledger_discrepancies
from leads import services
from leads.models import Lead
from tests.concurrency import run_concurrently, run_overlapped
from tests.conftest import requires_postgres
from tests.factories import ClinicFactory, LeadFactory, StaffFactory, fund

pytestmark = [requires_postgres, pytest.mark.postgres, pytest.mark.usefixtures("seeded_tiers")]


@pytest.mark.django_db(transaction=True)
def test_fifty_concurrent_submissions_of_one_patient_make_one_charge_and_49_duplicates():
    clinic = ClinicFactory()
    fund(clinic, 10_000)

    pks = run_concurrently(
        lambda _: services.submit_enquiry(clinic=clinic, name="Asha", phone="9876543210").pk,
        range(50),
        workers=16,
    )

    assert len(set(pks)) == 50
    states = list(Lead.objects.values_list("billing_state", flat=True))
    assert states.count(Lead.Billing.CHARGED) == 1
    assert states.count(Lead.Billing.DUPLICATE) == 49
    assert CreditTransaction.objects.filter(kind=Kind.LEAD_CHARGE).count() == 1
    assert account_balance(clinic=clinic) == 10_000 - 100
    original = Lead.objects.get(billing_state=Lead.Billing.CHARGED)
    assert set(Lead.objects.exclude(pk=original.pk).values_list("duplicate_of", flat=True)) == {
        original.pk
    }
    assert list(ledger_discrepancies()) == []


@pytest.mark.django_db(transaction=True)
def test_concurrent_grants_release_each_held_lead_exactly_once():
    clinic = ClinicFactory()
    for i in range(10):
        services.submit_enquiry(clinic=clinic, name="P", phone=f"900000000{i}")
    assert Lead.objects.filter(billing_state=Lead.Billing.HELD).count() == 10

    run_concurrently(lambda i: fund(clinic, 200, key=f"purchase:order:{i}"), range(8), workers=8)

    assert Lead.objects.filter(billing_state=Lead.Billing.CHARGED).count() == 10
    assert CreditTransaction.objects.filter(kind=Kind.LEAD_CHARGE).count() == 10
    assert account_balance(clinic=clinic) == 8 * 200 - 10 * 100
    assert list(ledger_discrepancies()) == []


def _waiting_on_locks() -> int:
    """How many other sessions of this test database are blocked on a lock right now."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0]


def _until(condition, *, seconds=10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


@pytest.mark.django_db(transaction=True)
def test_direct_charge_of_a_held_lead_racing_its_release_cannot_deadlock():
    """The release locks leads, then the account; a direct charge locks the account, then the
    lead (the ledger's foreign-key check). The interleaving is forced, not hoped for: a third
    session holds the newest held lead, so the release stops between its two locks while the
    direct charge starts. On the old lock order PostgreSQL aborted one of them."""
    clinic = ClinicFactory()
    fund(clinic, 1_000)  # nothing held yet, so nothing is released on commit
    first, last = LeadFactory(clinic=clinic), LeadFactory(clinic=clinic)
    errors, hold, held = [], threading.Event(), threading.Event()

    def blocker():  # a concurrent writer that holds the newest held lead for a moment
        try:
            with transaction.atomic():
                Lead.objects.select_for_update().get(pk=last.pk)
                held.set()
                hold.wait(20)
        finally:
            connections.close_all()

    def attempt(work):
        def run():
            try:
                work()
            except Exception as error:  # the test reports whatever broke
                errors.append(error)
            finally:
                connections.close_all()

        return threading.Thread(target=run)

    threads = [threading.Thread(target=blocker)]
    threads[0].start()
    assert held.wait(10)
    release = attempt(lambda: services.release_held_leads(clinic_id=clinic.pk))
    release.start()
    assert _until(lambda: _waiting_on_locks() == 1), "the release never reached the held lead"
    direct = attempt(lambda: billing.charge_lead(lead=first))
    direct.start()
    # The direct charge either goes through or waits; give it the chance to do either.
    _until(lambda: not direct.is_alive() or _waiting_on_locks() == 2, seconds=3)
    hold.set()
    for thread in [*threads, release, direct]:
        thread.join(30)

    assert errors == []
    assert set(Lead.objects.values_list("billing_state", flat=True)) == {Lead.Billing.CHARGED}
    assert CreditTransaction.objects.filter(kind=Kind.LEAD_CHARGE).count() == 2
    assert account_balance(clinic=clinic) == 1_000 - 200
    assert list(ledger_discrepancies()) == []


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("flag_first", [False, True])
def test_flagging_a_waiting_lead_racing_its_release_never_leaves_it_charged(flag_first):
    """Whichever of the two takes the clinic row first, the flagged lead ends up costing
    nothing (free, or charged and refunded) and the lead behind it is charged once. A third
    session holds the flagged lead, so both are certainly in flight together."""
    clinic = ClinicFactory()
    fund(clinic, 1_000)  # nothing held yet, so nothing is released on commit
    broken, good = LeadFactory(clinic=clinic), LeadFactory(clinic=clinic)
    staff = StaffFactory(is_superuser=True)
    release = lambda: services.release_held_leads(clinic_id=clinic.pk)  # noqa: E731
    flag = lambda: services.flag_technical_error(lead=broken, actor=staff, reason="Broken")  # noqa: E731

    results = run_overlapped(
        Lead.objects.filter(pk=broken.pk), [flag, release] if flag_first else [release, flag]
    )

    assert not any(isinstance(result, Exception) for result in results), results
    broken.refresh_from_db()
    assert broken.technical_error
    net = sum(CreditTransaction.objects.filter(lead=broken).values_list("credits", flat=True))
    assert net == 0
    assert CreditTransaction.objects.filter(lead=good, kind=Kind.LEAD_CHARGE).count() == 1
    assert account_balance(clinic=clinic) == 1_000 - 100
    assert list(ledger_discrepancies()) == []
