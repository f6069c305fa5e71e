"""The analytics page and its CSV: each metric computed by hand on a small fixture, the peer
cohort's threshold, tenant isolation, bad input, and the pre-aggregate's exactness against the
direct computation after random operations."""

import csv
import io
import random
from datetime import date, datetime, timedelta
from fractions import Fraction
from unittest import mock

import pytest
from django.core.cache import cache
from django.utils import timezone

from antidote.errors import AntidoteError
from billing import finance
from billing import services as billing
from billing.models import CreditLot, LotAllocation
from disputes import services as disputes
from leads import analytics, services
from leads.models import Clinic, Lead, Organisation, OrganisationMember, OutcomeDirty, OutcomeMonth
from tests.disputes.conftest import DESCRIPTION
from tests.factories import (
    ClinicFactory,
    ClinicMemberFactory,
    LeadFactory,
    PackageFactory,
    StaffFactory,
    fund,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_rate_limit(settings):
    settings.DISPUTE_AUTO_APPROVE = False
    cache.clear()


@pytest.fixture
def owner(clinic):
    return ClinicMemberFactory(clinic=clinic, role="owner")


@pytest.fixture
def logged_in(client, owner):
    client.force_login(owner.user)
    return client


def enquire(clinic, phone, package=None):
    return services.submit_enquiry(clinic=clinic, package=package, name="Asha", phone=phone)


@pytest.fixture
def month_of_leads(clinic, owner):
    """Four charged leads (three of a ₹7,500 package at 180 credits, one general at 100), a
    duplicate, a held lead; outcomes on each; a rejected and a partly refunded dispute."""
    package = PackageFactory(clinic=clinic, name="Laser facial", price_paise=750_000)
    fund(clinic, 640)
    p1, p2, p3 = (enquire(clinic, f"900000000{i}", package) for i in (1, 2, 3))
    general = enquire(clinic, "9000000004")
    duplicate = enquire(clinic, "9000000001", package)
    held = enquire(clinic, "9000000006")
    assert [p1.billing_state, general.billing_state] == ["charged", "charged"]
    assert (duplicate.billing_state, held.billing_state) == ("duplicate", "held")
    user = owner.user
    services.update_lead_status(lead=p1, status="contacted", actor=user)
    services.update_lead_status(lead=p2, status="booked", actor=user, booked_for=date(2026, 5, 4))
    services.update_lead_status(lead=p3, status="treated", actor=user, revenue_paise=3_600_000)
    services.update_lead_status(lead=general, status="lost", actor=user, lost_reason="price")
    staff = StaffFactory()
    rejected = disputes.open_dispute(
        lead=p1, user=user, dispute_type="poor_quality", description=DESCRIPTION
    )
    disputes.reject_dispute(dispute=rejected, actor=staff, notes="They answered.")
    refunded = disputes.open_dispute(
        lead=general, user=user, dispute_type="invalid_contact", description=DESCRIPTION
    )
    disputes.approve_dispute(dispute=refunded, actor=staff, refund_credits=80)
    held.refresh_from_db()
    assert held.billing_state == "held"  # 80 credits back cannot pay for a 100-credit lead
    return package


def cells(line):
    return dict(zip([h for h, _, _ in analytics.COLUMNS], line.cells, strict=True))


def test_each_metric_by_hand(clinic, month_of_leads):
    report = analytics.clinic_report(clinic=clinic, months=1)
    (month,) = report.months
    by_package = {line.package_name: cells(line) for line in month.children}
    assert by_package["Laser facial"] == {
        "Leads delivered": "4",
        "Duplicates": "1",
        "Held": "0",
        "Credits spent": "540",
        "Rupees spent": "₹540",
        "Cost per lead": "₹180",  # 540 / 3 charged
        "Contact rate": "75.0%",  # 3 of 4 worked (the duplicate was never called)
        "Booking rate": "50.0%",  # booked and treated: 2 of 4
        "Cost per booked patient": "₹270",
        "Revenue reported": "₹36,000",
        "Return on spend": "66.67×",  # 36,000 / 540
        "Dispute rate": "33.3%",  # a rejected dispute still counts: 1 of 3 charged
        "Credits refunded": "0",
        "Rupees refunded": "₹0",
    }
    assert by_package["General enquiry"] == {
        "Leads delivered": "2",
        "Duplicates": "0",
        "Held": "1",
        "Credits spent": "20",  # 100 charged, 80 refunded
        "Rupees spent": "₹20",
        "Cost per lead": "₹20",
        "Contact rate": "0.0%",  # lost on price without a recorded contact
        "Booking rate": "0.0%",
        "Cost per booked patient": "—",
        "Revenue reported": "₹0",
        "Return on spend": "0.00×",
        "Dispute rate": "100.0%",
        "Credits refunded": "80",
        "Rupees refunded": "₹80",  # fund() buys at ₹1 a credit
    }
    assert cells(month) == cells(report.total)
    assert cells(report.total) == {
        "Leads delivered": "6",
        "Duplicates": "1",
        "Held": "1",
        "Credits spent": "560",
        "Rupees spent": "₹560",
        "Cost per lead": "₹140",  # 560 / 4
        "Contact rate": "60.0%",  # 3 of 5
        "Booking rate": "40.0%",
        "Cost per booked patient": "₹280",
        "Revenue reported": "₹36,000",
        "Return on spend": "64.29×",  # 36,000 / 560 = 64.2857…, rounded once
        "Dispute rate": "50.0%",
        "Credits refunded": "80",
        "Rupees refunded": "₹80",  # fund() buys at ₹1 a credit
    }


def test_the_page_and_csv_show_the_same_figures(logged_in, clinic, month_of_leads):
    page = logged_in.get("/clinic/analytics")
    assert page.status_code == 200
    text = page.content.decode()
    assert "estimate" not in text and "₹36,000" in text and "64.29×" in text
    assert 'data-testid="month-table"' in text and "chart.umd.min.js" in text
    response = logged_in.get("/clinic/analytics?format=csv")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    header = rows[0]
    assert header[:3] == ["Month", "Package", "Price tier from"]
    total = dict(zip(header, next(r for r in rows if r[0] == "Total"), strict=False))
    assert total["Return on spend"] == "64.29×" and total["Cost per lead"] == "₹140"
    assert rows[-1][0] == "Total"


@pytest.fixture
def lots_and_a_refund(clinic, owner):
    """A bonus lot of 50, a paid lot of 120 credits for ₹1,000 (₹8.3333… a credit). Last month
    a 100-credit lead drew the 50 bonus first (it expires sooner), then 50 paid, and got 30
    back (to the paid lot, drawn last); this month a second lead drew 100 paid."""
    now = timezone.now()
    earlier = timezone.localtime(now).replace(day=1) - timedelta(days=3)
    with mock.patch("django.utils.timezone.now", return_value=earlier):
        billing.grant_credits(clinic=clinic, credits=50, kind="bonus", idempotency_key="b")
        billing.grant_credits(clinic=clinic, credits=120, paid_paise=100_000, idempotency_key="p")
        first = enquire(clinic, "9000000001")
        services.update_lead_status(
            lead=first, status="treated", actor=owner.user, revenue_paise=500_000
        )
        dispute = disputes.open_dispute(
            lead=first, user=owner.user, dispute_type="spam", description=DESCRIPTION
        )
        disputes.approve_dispute(dispute=dispute, actor=StaffFactory(), refund_credits=30)
    second = enquire(clinic, "9000000002")
    assert (first.billing_state, second.billing_state) == ("charged", "charged")
    return first, second


def test_rupees_spent_are_the_paid_value_of_the_lots_drawn(logged_in, clinic, lots_and_a_refund):
    report = analytics.clinic_report(clinic=clinic, months=2)
    last, this = (cells(line) for line in report.months)
    # Charged 50 × ₹1,000/120 = ₹416.666…, refunded 30 × that = ₹250: spent ₹166.666….
    assert last["Credits spent"] == "70"
    assert last["Rupees spent"] == "₹166.67"
    assert last["Cost per lead"] == "₹166.67"
    assert last["Cost per booked patient"] == "₹166.67"
    assert last["Return on spend"] == "30.00×"  # ₹5,000 / ₹166.666…
    assert last["Rupees refunded"] == "₹250"
    assert this["Rupees spent"] == "₹833.33" and this["Cost per lead"] == "₹833.33"
    assert this["Cost per booked patient"] == "—" and this["Return on spend"] == "0.00×"
    total = cells(report.total)
    # Rounded once, on the exact sum: the 120 paid credits, all consumed, are the ₹1,000 paid.
    assert total["Rupees spent"] == "₹1,000" and total["Cost per lead"] == "₹500"
    assert total["Return on spend"] == "5.00×" and total["Credits spent"] == "170"
    row = OutcomeMonth.objects.get(clinic=clinic, month=report.months[0].month)
    assert (row.charged_paise, row.refunded_paise) == ("125000/3", "25000")
    page = logged_in.get("/clinic/analytics?months=2").content.decode()
    assert "₹166.67" in page and "₹833.33" in page and "30.00×" in page and "estimate" not in page
    body = b"".join(logged_in.get("/clinic/analytics?months=2&format=csv").streaming_content)
    rows = list(csv.reader(io.StringIO(body.decode())))
    header = rows[0]
    figures = {r[0]: dict(zip(header, r, strict=True)) for r in rows[1:] if r[1] == "All"}
    assert figures[f"{report.months[0].month:%Y-%m}"]["Rupees spent"] == "₹166.67"
    assert figures[f"{report.months[1].month:%Y-%m}"]["Rupees spent"] == "₹833.33"
    assert figures["Total"]["Rupees spent"] == "₹1,000"
    assert figures["Total"]["Rupees refunded"] == "₹250"


def test_overdraft_credits_are_worth_nothing_to_the_lead_that_took_them(clinic):
    """A lead charged into overdraft has no lot to value; the purchase that covers it later is
    revenue in the finance report, but not tied to that lead."""
    account = clinic.credit_account
    account.overdraft_limit = 100
    account.save(update_fields=["overdraft_limit"])
    lead = enquire(clinic, "9000000001")
    assert lead.billing_state == "charged"
    billing.grant_credits(clinic=clinic, credits=120, paid_paise=100_000, idempotency_key="p")
    line = cells(analytics.clinic_report(clinic=clinic, months=1).total)
    assert (line["Credits spent"], line["Rupees spent"]) == ("100", "₹0")
    month = timezone.localdate().replace(day=1)
    recognised = finance.finance_report(month=month).rounded("recognised")
    assert recognised == analytics.marketplace_report(month=month).revenue_recognised_paise
    assert recognised == 83_333  # 100 × ₹1,000/120: the covering purchase's own draw


def test_csv_cells_cannot_start_a_formula(logged_in, clinic):
    fund(clinic, 500)
    package = PackageFactory(clinic=clinic, name="=HYPERLINK(1)", price_paise=100_000)
    enquire(clinic, "9000000001", package)
    body = b"".join(logged_in.get("/clinic/analytics?format=csv").streaming_content).decode()
    assert "'=HYPERLINK(1)" in body
    assert "\n=HYPERLINK" not in body and ",=HYPERLINK" not in body


@pytest.mark.parametrize(
    "query", ["months=abc", "months=0", "months=99", "format=pdf", "months=1%00"]
)
def test_bad_input_is_a_clear_400_on_the_page_and_the_csv(logged_in, query):
    page = logged_in.get(f"/clinic/analytics?{query}")
    assert page.status_code == 400
    assert 'data-testid="filter-errors"' in page.content.decode()
    if "format" not in query:
        csv_response = logged_in.get(f"/clinic/analytics?{query}&format=csv")
        assert csv_response.status_code == 400
        assert "cannot be applied" in csv_response.content.decode()


def test_another_clinic_sees_none_of_these_figures(client, clinic, month_of_leads):
    outsider = ClinicMemberFactory(clinic=ClinicFactory(), role="owner")
    client.force_login(outsider.user)
    page = client.get("/clinic/analytics").content.decode()
    assert "Laser facial" not in page and "₹36,000" not in page
    body = b"".join(client.get("/clinic/analytics?format=csv").streaming_content).decode()
    assert "Laser facial" not in body and "36,000" not in body
    total = next(r for r in csv.reader(io.StringIO(body)) if r and r[0] == "Total")
    assert total[3] == "0"


def test_the_front_desk_is_refused_the_money_figures(client, clinic):
    desk = ClinicMemberFactory(clinic=clinic, role="front_desk")
    client.force_login(desk.user)
    assert client.get("/clinic/analytics").status_code == 403
    assert client.get("/clinic/analytics?format=csv").status_code == 403


# The peer comparison ---------------------------------------------------------------------------


def peers(count, city="Mumbai", booked=1, of=4):
    for _ in range(count):
        other = ClinicFactory(city=city)
        for i in range(of):
            LeadFactory(
                clinic=other,
                billing_state="charged",
                status="booked" if i < booked else "new",
                booked_for=date(2026, 5, 4) if i < booked else None,
            )


@pytest.mark.parametrize("others, shown", [(4, False), (5, True)])
def test_the_peer_rate_needs_five_other_clinics_in_the_city_and_tier(clinic, others, shown):
    clinic.city = "Mumbai"
    clinic.save()
    LeadFactory(clinic=clinic, billing_state="charged")
    peers(others)
    peers(3, city="Pune", booked=4)  # other cities never count
    pricier = PackageFactory(price_paise=10_000_000)  # another tier never counts
    for _ in range(3):
        other = ClinicFactory(city="mumbai")
        LeadFactory(clinic=other, package=pricier, billing_state="charged")
    rate, cohort = analytics.peer_booking_rate(clinic=clinic, since=date(2000, 1, 1))
    assert cohort == others
    assert (rate is not None) is shown
    if shown:
        assert rate * 100 == 25  # pooled: 5 of 20
    report = analytics.clinic_report(clinic=clinic)
    assert (report.peer_booking_rate is not None) is shown


# The pre-aggregate is exact ---------------------------------------------------------------


def test_the_aggregate_equals_the_direct_computation_after_random_operations(clinic, owner):
    rng = random.Random(17)
    other = ClinicFactory()
    packages = [PackageFactory(clinic=clinic, price_paise=p) for p in (300_000, 1_500_000)]
    packages.append(PackageFactory(clinic=other, price_paise=700_000))
    staff = StaffFactory()
    base = timezone.make_aware(datetime(2026, 1, 15, 12, 0))
    steps = [
        ("contacted", {}),
        ("booked", {"booked_for": date(2026, 3, 1)}),
        ("treated", {"revenue_paise": 1_234_567}),
        ("lost", {"lost_reason": "price"}),
        ("new", {}),
    ]
    for step in range(120):
        now = base + timedelta(days=rng.randrange(0, 120), minutes=step)
        with mock.patch("django.utils.timezone.now", return_value=now):
            choice = rng.random()
            target = rng.choice([clinic, other])
            if choice < 0.35:
                package = rng.choice([None, *[p for p in packages if p.clinic_id == target.pk]])
                enquire(target, f"90000{rng.randrange(100, 160):05d}", package)
            elif choice < 0.5:
                # Paid lots at ₹1, at ₹1,000 for 120 and at ₹999 for 700 a credit; bonus lots.
                credits, paid_paise = rng.choice([(100, None), (120, 100_000), (700, 99_900)])
                kind = rng.choice(["purchase", "purchase", "bonus"])
                billing.grant_credits(
                    clinic=target,
                    credits=credits,
                    kind=kind,
                    paid_paise=paid_paise if kind == "purchase" else None,
                    idempotency_key=f"test-grant:{step}",
                )
            else:
                workable = [
                    lead
                    for lead in Lead.objects.filter(billing_state="charged").with_contact_rule()
                ]
                if not workable:
                    continue
                lead = rng.choice(workable)
                if choice < 0.85:
                    status, details = rng.choice(steps)
                    services.update_lead_status(lead=lead, status=status, **details)
                elif not lead.disputes.exists():
                    try:
                        dispute = disputes.open_dispute(
                            lead=lead, user=None, dispute_type="spam", description=DESCRIPTION
                        )
                    except AntidoteError:
                        continue  # its dispute window has closed: refused, nothing changed
                    if rng.random() < 0.5:
                        disputes.approve_dispute(
                            dispute=dispute, actor=staff, refund_credits=rng.choice([None, 30])
                        )
        # After every operation: a change that marked nothing dirty would show at once.
        assert_aggregate_exact([clinic.pk, other.pk])
    assert OutcomeMonth.objects.values("month").distinct().count() >= 3
    assert_aggregate_exact([clinic.pk, other.pk])
    spent = {
        pk: analytics.clinic_report(clinic=target, months=36).total.spent_paise
        for pk, target in ((clinic.pk, clinic), (other.pk, other))
    }
    assert spent == lot_value_of_lead_charges([clinic.pk, other.pk])
    assert any(value.denominator > 1 for value in spent.values()), spent  # not rounded


def lot_value_of_lead_charges(clinic_ids):
    """Rupees spent per clinic, straight from each allocation and lot: charges draw at the
    lot's value, refunds give back at it (or make a new lot of the same value)."""
    spent = dict.fromkeys(clinic_ids, Fraction(0))
    for row in LotAllocation.objects.filter(
        entry__account__clinic_id__in=clinic_ids,
        entry__kind__in=["lead_charge", "dispute_refund"],
        lot__kind="paid",
    ).select_related("lot", "entry__account"):
        if row.entry.kind == "lead_charge" or row.credits < 0:
            value = Fraction(row.lot.value_paise, row.lot.value_credits)
            spent[row.entry.account.clinic_id] += row.credits * value
    for lot in CreditLot.objects.filter(
        account__clinic_id__in=clinic_ids, source__kind="dispute_refund", kind="paid"
    ).select_related("account"):
        spent[lot.account.clinic_id] -= lot.granted * Fraction(lot.value_paise, lot.value_credits)
    return spent


def assert_aggregate_exact(clinic_ids):
    analytics.refresh_outcome_months(clinic_ids=clinic_ids)
    assert not OutcomeDirty.objects.exists()
    direct = analytics.outcome_buckets(clinic_ids=clinic_ids)
    kept = {
        (row.clinic_id, row.month, row.package_key, row.tier_min_price_paise): {
            name: getattr(row, name) for name in analytics.COUNTS
        }
        | {name: Fraction(getattr(row, name)) for name in analytics.AMOUNTS}
        for row in OutcomeMonth.objects.filter(clinic_id__in=clinic_ids)
    }
    assert kept == direct
    assert sum(c["leads"] for c in kept.values()) == Lead.objects.count()


def test_a_rebuild_from_scratch_gives_the_same_rows(clinic, month_of_leads):
    analytics.refresh_outcome_months()
    before = sorted(OutcomeMonth.objects.values_list("month", "package_key", "leads", "booked"))
    analytics.rebuild_outcome_months(clinic_id=clinic.pk)
    after = sorted(OutcomeMonth.objects.values_list("month", "package_key", "leads", "booked"))
    assert before == after and before


# A chain's locations --------------------------------------------------------------------------


@pytest.fixture
def chain(clinic, owner, month_of_leads):
    """The fixture's clinic and a sibling with one treated lead, owned by the clinic's owner."""
    organisation = Organisation.objects.create(name="Glow chain")
    Clinic.objects.filter(pk=clinic.pk).update(organisation=organisation)
    sibling = ClinicFactory(name="Glow Sibling", organisation=organisation)
    fund(sibling, 500)
    lead = enquire(sibling, "9100000001")
    services.update_lead_status(lead=lead, status="treated", actor=owner.user, revenue_paise=10)
    OrganisationMember.objects.create(user=owner.user, organisation=organisation)
    return organisation, sibling


def test_an_organisation_owner_sees_each_location_and_the_chain(logged_in, clinic, chain):
    organisation, sibling = chain
    report = analytics.chain_report(organisation=organisation, months=12)
    own = analytics.clinic_report(clinic=clinic, months=12).total
    other = analytics.clinic_report(clinic=sibling, months=12).total
    assert [line.cells for _, line in report.locations] == [own.cells, other.cells]
    assert report.total.leads == own.leads + other.leads
    assert report.total.credits_spent == own.credits_spent + other.credits_spent
    page = logged_in.get("/clinic/analytics").text
    assert 'data-testid="chain-table"' in page and "Glow Sibling" in page
    response = logged_in.get("/clinic/analytics?scope=chain&format=csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [row[0] for row in rows] == [
        "Location",
        clinic.name,
        "Glow Sibling",
        "All locations of Glow chain",
    ]
    assert rows[-1][1:] == report.total.cells


def test_a_member_who_does_not_own_the_chain_sees_only_the_location(client, clinic, chain):
    manager = ClinicMemberFactory(clinic=clinic, role="owner").user
    client.force_login(manager)
    page = client.get("/clinic/analytics").text
    assert "chain-table" not in page and "Glow Sibling" not in page
    refused = client.get("/clinic/analytics?scope=chain")
    assert refused.status_code == 400 and "Only an owner of this clinic" in refused.text
    csv_refused = client.get("/clinic/analytics?scope=chain&format=csv")
    assert csv_refused.status_code == 400
    assert "Glow Sibling" not in csv_refused.text


def test_a_clinic_without_an_organisation_has_no_chain_and_a_bad_scope_is_refused(logged_in):
    assert "chain-table" not in logged_in.get("/clinic/analytics").text
    assert logged_in.get("/clinic/analytics?scope=chain").status_code == 400
    assert logged_in.get("/clinic/analytics?scope=everything").status_code == 400
