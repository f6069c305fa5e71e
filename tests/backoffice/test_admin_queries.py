"""The admin's busiest lists cost the same number of queries for 1 row as for 20."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from disputes import services as disputes
from leads import services as leads
from tests.disputes.conftest import DESCRIPTION
from tests.factories import ClinicFactory, LeadFactory, PackageFactory, StaffFactory, fund
from tests.otp import login_with_otp

pytestmark = pytest.mark.django_db


def open_disputes(numbers, clinics):
    for n in numbers:
        clinic = clinics[n % len(clinics)]
        lead = leads.submit_enquiry(clinic=clinic, name="Asha", phone=f"90000{n:05d}")
        disputes.open_dispute(lead=lead, user=None, dispute_type="spam", description=DESCRIPTION)


def queries_for(client, url):
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return len(queries)


def test_dispute_review_queue_makes_no_query_per_row(client):
    login_with_otp(client, StaffFactory(is_superuser=True))
    clinics = [ClinicFactory() for _ in range(5)]
    for clinic in clinics:
        fund(clinic, 10_000)
    url = "/admin/disputes/dispute/"
    open_disputes(range(1), clinics)
    one = queries_for(client, url)
    open_disputes(range(1, 20), clinics)
    twenty = queries_for(client, url)
    assert client.get(url).context["cl"].result_count == 20
    assert twenty == one, f"{one} queries for 1 dispute, {twenty} for 20"


def test_clinic_list_makes_no_query_per_row(client):
    login_with_otp(client, StaffFactory(is_superuser=True))
    url = "/admin/leads/clinic/"
    fund(ClinicFactory(), 1_000)
    one = queries_for(client, url)
    for _ in range(19):
        fund(ClinicFactory(), 1_000)
    twenty = queries_for(client, url)
    assert twenty == one, f"{one} queries for 1 clinic, {twenty} for 20"


def test_clinic_list_counts_each_clinics_leads_and_live_disputes(client):
    login_with_otp(client, StaffFactory(is_superuser=True))
    busy, quiet = ClinicFactory(), ClinicFactory()
    fund(busy, 10_000)
    open_disputes(range(3), [busy])
    leads.submit_enquiry(clinic=busy, name="Ravi", phone="9000099999")
    cancelled = busy.disputes.first()
    disputes.cancel_dispute(dispute=cancelled, user=None)
    rows = {c.pk: c for c in client.get("/admin/leads/clinic/").context["cl"].result_list}
    assert (rows[busy.pk].lead_total, rows[busy.pk].dispute_total) == (4, 2)
    assert (rows[quiet.pk].lead_total, rows[quiet.pk].dispute_total) == (0, 0)
    ordered = client.get("/admin/leads/clinic/?o=7").context["cl"].result_list
    assert [c.pk for c in ordered][-1] == busy.pk  # sorting by the count still works


def test_lead_list_makes_no_query_per_row(client):
    # Each row names its package, and a package names its clinic: 73 queries a page at scale.
    login_with_otp(client, StaffFactory(is_superuser=True))
    url = "/admin/leads/lead/"

    def lead():
        package = PackageFactory()
        LeadFactory(clinic=package.clinic, package=package)

    lead()
    one = queries_for(client, url)
    for _ in range(19):
        lead()
    twenty = queries_for(client, url)
    assert twenty == one, f"{one} queries for 1 lead, {twenty} for 20"
