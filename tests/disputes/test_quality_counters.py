"""The quality score's counters (``QualityDay``) equal the direct count after any sequence of
operations: leads arriving charged or held, top-ups releasing held leads, technical-error
flags on waiting and charged leads, disputes opened, approved, rejected and cancelled, and a
clock that crosses IST midnights and moves leads out of the window. The direct count is the
score's definition, computed here from the leads and disputes themselves; the migration's
backfill and ``rebuild_quality_days`` must give the same rows the services kept."""

import importlib
from datetime import datetime, time, timedelta

import pytest
from django.apps import apps
from django.conf import settings as django_settings
from django.db.models import Count, Q
from django.utils import timezone
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_config
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from antidote.errors import AntidoteError
from billing.models import IST
from disputes import services
from disputes.models import Dispute, QualityDay
from disputes.selectors import dispute_rate_by_package, quality_score, quality_scores
from leads import services as leads
from leads.models import Lead
from tests.disputes.conftest import DESCRIPTION
from tests.factories import ClinicFactory, ClinicMemberFactory, PackageFactory, StaffFactory, fund

CLOCK = {"offset": timedelta(0)}  # the test moves timezone.now() by this much
PHONES = [f"98765{n:05d}" for n in range(8)]  # few, so repeats make duplicates too


def direct_counts(clinic_ids) -> dict:
    """The definition: charged leads that arrived since the IST midnight before the instant
    QUALITY_WINDOW_DAYS days ago, and those of them with a pending or approved dispute; per
    clinic and per package."""
    window_opens = timezone.now() - timedelta(days=django_settings.QUALITY_WINDOW_DAYS)
    since = datetime.combine(window_opens.astimezone(IST).date(), time.min, tzinfo=IST)
    standing = Count(
        "disputes", filter=Q(disputes__status__in=["pending", "approved"]), distinct=True
    )
    recent = Lead.objects.filter(
        clinic_id__in=clinic_ids, billing_state="charged", created_at__gte=since
    )
    per_clinic = {
        row["clinic_id"]: (row["leads"], row["disputes"])
        for row in recent.values("clinic_id").annotate(
            leads=Count("id", distinct=True), disputes=standing
        )
    }
    per_package = {
        row["package_id"]: (row["leads"], row["disputes"])
        for row in recent.exclude(package=None)
        .values("package_id")
        .annotate(leads=Count("id", distinct=True), disputes=standing)
    }
    return {
        "clinics": {pk: per_clinic.get(pk, (0, 0)) for pk in clinic_ids},
        "packages": per_package,
    }


def counted(clinics) -> dict:
    """The same figures, as the selectors read them from the counters."""
    many = quality_scores(clinic_ids=[c.pk for c in clinics])
    result = {"clinics": {}, "packages": {}}
    for clinic in clinics:
        score = quality_score(clinic=clinic)
        assert (many[clinic.pk].leads, many[clinic.pk].disputes) == (score.leads, score.disputes)
        result["clinics"][clinic.pk] = (score.leads, score.disputes)
        for row in dispute_rate_by_package(clinic=clinic):
            result["packages"][row["package_id"]] = (row["leads"], row["disputes"])
    return result


def counter_rows(clinic_ids):
    return sorted(
        QualityDay.objects.filter(clinic_id__in=clinic_ids)
        .exclude(charged_leads=0, standing_disputes=0)
        .values_list("clinic_id", "day", "package_key", "charged_leads", "standing_disputes")
    )


class QualityMachine(RuleBasedStateMachine):
    @initialize(start_minutes=st.integers(min_value=0, max_value=24 * 60 - 1))
    def setup(self, start_minutes):
        # Start anywhere in an IST day, so arrivals fall on both sides of midnight.
        CLOCK["offset"] = timedelta(minutes=start_minutes)
        self.clinics = [ClinicFactory(), ClinicFactory()]
        self.packages = {
            clinic.pk: [None, *(PackageFactory(clinic=clinic) for _ in range(2))]
            for clinic in self.clinics
        }
        self.member = ClinicMemberFactory(clinic=self.clinics[0]).user
        self.staff = StaffFactory(is_superuser=True)  # may decide disputes and flag leads
        for clinic in self.clinics:
            fund(clinic, 300)  # three leads' worth; later ones wait for a top-up

    def ids_leads(self):
        return Lead.objects.filter(clinic__in=self.clinics).order_by("pk")

    def pick(self, items, index):
        return items[index % len(items)] if items else None

    @rule(clinic=st.integers(0, 1), package=st.integers(0, 2), phone=st.sampled_from(PHONES))
    def enquire(self, clinic, package, phone):
        clinic = self.clinics[clinic]
        leads.submit_enquiry(
            clinic=clinic, package=self.packages[clinic.pk][package], name="Asha", phone=phone
        )

    @rule(clinic=st.integers(0, 1), credits=st.sampled_from([100, 250, 600]))
    def top_up(self, clinic, credits):
        fund(self.clinics[clinic], credits)  # releases held leads, oldest first

    @rule(index=st.integers(min_value=0), kind=st.sampled_from(["spam", "duplicate"]))
    def open_dispute(self, index, kind):
        # Mostly a charged lead with no live dispute, so most attempts open one; any lead
        # now and then, so refusals are exercised too.
        candidates = self.ids_leads().filter(billing_state="charged")
        if index % 5:
            candidates = candidates.exclude(
                disputes__status__in=["pending", "approved", "rejected"]
            )
        lead = self.pick(list(candidates), index)
        if lead is None:
            return
        try:
            services.open_dispute(lead=lead, user=None, dispute_type=kind, description=DESCRIPTION)
        except AntidoteError:
            return  # not charged, window closed, already disputed: refused, nothing changed

    @rule(index=st.integers(min_value=0), decision=st.sampled_from(["approve", "reject", "cancel"]))
    def decide(self, index, decision):
        pending = Dispute.objects.filter(clinic__in=self.clinics, status="pending").order_by("pk")
        dispute = self.pick(list(pending), index)
        if dispute is None:
            return
        try:
            if decision == "approve":
                services.approve_dispute(dispute=dispute, actor=self.staff)
            elif decision == "reject":
                services.reject_dispute(dispute=dispute, actor=self.staff, notes="A real lead.")
            else:
                services.cancel_dispute(dispute=dispute, user=self.member)
        except AntidoteError:
            return  # already decided or cancelled

    @rule(index=st.integers(min_value=0))
    def flag_technical_error(self, index):
        lead = self.pick(list(self.ids_leads()), index)
        if lead is None:
            return
        try:
            leads.flag_technical_error(lead=lead, actor=self.staff, reason="Broken form.")
        except AntidoteError:
            return

    @rule(minutes=st.sampled_from([7, 60 * 5, 60 * 23, 60 * 24 + 11, 60 * 24 * 2]))
    def wait(self, minutes):
        CLOCK["offset"] += timedelta(minutes=minutes)

    @invariant()
    def counters_equal_the_direct_count(self):
        if not hasattr(self, "clinics"):
            return
        assert counted(self.clinics) == direct_counts([c.pk for c in self.clinics])

    def teardown(self):
        if hasattr(self, "clinics"):
            ids = [c.pk for c in self.clinics]
            kept = counter_rows(ids)
            services.rebuild_quality_days(clinic_ids=ids)
            assert counter_rows(ids) == kept
        CLOCK["offset"] = timedelta(0)


@pytest.mark.django_db
def test_the_counters_equal_the_direct_count_after_random_operations(monkeypatch, settings):
    from hypothesis.stateful import run_state_machine_as_test

    settings.QUALITY_WINDOW_DAYS = 3  # leads leave the window within a few steps
    real_now = timezone.now
    monkeypatch.setattr(timezone, "now", lambda: real_now() + CLOCK["offset"])
    run_state_machine_as_test(
        QualityMachine,
        settings=hypothesis_config(
            max_examples=30,
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )


@pytest.mark.django_db
def test_the_migration_backfills_what_the_services_keep_a_lead_disputed_twice_once(
    clinic, member, staff
):
    fund(clinic, 1_000)
    package = PackageFactory(clinic=clinic)
    made = [
        leads.submit_enquiry(
            clinic=clinic, package=package if i % 2 else None, name="P", phone=f"90000000{i:02d}"
        )
        for i in range(6)
    ]
    for lead in made[:4]:
        services.open_dispute(lead=lead, user=member, dispute_type="spam", description=DESCRIPTION)
    first, second = (Dispute.objects.get(lead=lead) for lead in made[:2])
    services.reject_dispute(dispute=first, actor=staff, notes="A real lead.")
    services.cancel_dispute(dispute=second, user=member)
    # Approved, it still stands (a deterministic check: random runs reach approval less often).
    services.approve_dispute(dispute=Dispute.objects.get(lead=made[2]), actor=staff)
    # Disputed again after the cancel: still one lead (the old join counted it twice).
    services.open_dispute(lead=made[1], user=member, dispute_type="spam", description=DESCRIPTION)
    score = quality_score(clinic=clinic)
    assert (score.leads, score.disputes) == (6, 3)
    kept = counter_rows([clinic.pk])
    assert sum(row[3] for row in kept) == 6 and sum(row[4] for row in kept) == 3
    QualityDay.objects.all().delete()
    migration = importlib.import_module("disputes.migrations.0003_quality_days")
    migration.backfill(apps, None)
    assert counter_rows([clinic.pk]) == kept
