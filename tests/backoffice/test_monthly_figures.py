"""000's admin figures per month on the admin index (median dispute resolution, payment
success rate, average top-up, promo discount given, credits sold paid + bonus = total), and
the promo report in the promo code admin."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from antidote.dashboard import monthly_figures
from billing.models import Kind
from disputes import services as disputes
from disputes.models import Dispute
from leads import services as leads
from payments.models import PromoCode
from payments.services import create_order, quote_topup
from tests.disputes.conftest import DESCRIPTION
from tests.factories import ClinicFactory, ClinicMemberFactory, fund, paid_order

pytestmark = pytest.mark.django_db


@pytest.fixture
def month_of_activity():
    clinic = ClinicFactory()
    user = ClinicMemberFactory(clinic=clinic).user
    PromoCode.objects.create(code="SAVE20", discount_value=20)
    paid_order(clinic=clinic, user=user, amount=1_000)  # 1,000 paid
    promo = create_order(
        clinic=clinic,
        user=user,
        quote=quote_topup(clinic=clinic, amount=2_000, promo_code="SAVE20"),
    )
    from payments.gateway import TestModeGateway
    from payments.services import verify_payment

    gateway = TestModeGateway()
    verify_payment(
        clinic=clinic,
        razorpay_order_id=promo.razorpay_order_id,
        razorpay_payment_id=gateway.payment_id_for(promo.razorpay_order_id),
        razorpay_signature=gateway.checkout_signature(promo.razorpay_order_id),
    )  # ₹1,600 paid, ₹400 discount
    create_order(clinic=clinic, user=user, quote=quote_topup(clinic=clinic, amount=5_000))
    create_order(clinic=clinic, user=user, quote=quote_topup(clinic=clinic, amount=1_000))
    fund(clinic, 1_000)
    for hours, phone in ((2, "9000000001"), (10, "9000000002"), (30, "9000000003")):
        lead = leads.submit_enquiry(clinic=clinic, name="A", phone=phone)
        dispute = disputes.open_dispute(
            lead=lead, user=None, dispute_type="spam", description=DESCRIPTION
        )
        if dispute.status == Dispute.Status.PENDING:
            disputes.reject_dispute(dispute=dispute, actor=None, notes="fine lead")
        decided = timezone.now()
        Dispute.objects.filter(pk=dispute.pk).update(
            created_at=decided - timedelta(hours=hours), decided_at=decided
        )
    return clinic


def test_this_months_figures(month_of_activity):
    this_month = monthly_figures(months=3)[0]
    assert (this_month.orders_created, this_month.orders_paid) == (4, 2)
    assert this_month.success_rate_percent == 50
    assert this_month.average_topup_paise == (1_000_00 + 1_600_00) // 2
    assert this_month.promo_discount_paise == 400_00
    assert (this_month.disputes_decided, this_month.median_resolution_hours) == (3, 10)
    assert this_month.credits_paid == 1_000 + 2_000 + 1_000  # the fund() is a purchase too
    assert this_month.credits_total == this_month.credits_paid + this_month.credits_bonus


def test_months_without_activity_say_so_rather_than_divide_by_zero(db):
    months = monthly_figures(months=6)
    assert len(months) == 6
    assert len({m.month for m in months}) == 6
    assert all(m.month.day == 1 for m in months)
    empty = months[-1]
    assert (empty.success_rate_percent, empty.average_topup_paise) == (None, None)
    assert empty.median_resolution_hours is None


def test_admin_index_shows_the_figures_per_month(client, boss, month_of_activity):
    page = client.get("/admin/").text
    month = timezone.localdate().strftime("%Y-%m")
    row = re.search(rf'<tr data-month="{month}">.*?</tr>', page, re.S).group(0)
    assert "50% (2 of 4)" in row
    assert "₹1,300" in row  # the average top-up
    assert "₹400" in row
    assert "10 h (3 decided)" in row
    assert re.search(r'data-figure="sold-total">', page)


def test_sold_is_labelled_paid_bonus_and_total(client, boss):
    from billing import services as billing

    clinic = ClinicFactory()
    fund(clinic, 1_000)
    billing.grant_credits(clinic=clinic, credits=150, kind=Kind.BONUS, idempotency_key="b:1")
    page = client.get("/admin/").text
    assert re.search(r'paid \(1 per rupee\)</th><td data-figure="sold">1,000<', page)
    assert re.search(r'data-figure="sold-bonus">150<', page)
    assert re.search(r'data-figure="sold-total">1,150<', page)


def test_promo_report_in_the_admin(client, boss, month_of_activity):
    page = client.get("/admin/payments/promocode/").text
    row = re.search(r"<tr>.*?SAVE20.*?</tr>", page, re.S).group(0)
    assert "₹400" in row  # discount given
    assert "₹1,600" in row  # revenue from its orders
