"""load_demo_data: everything the README promises, a second run changes nothing, and it
refuses (writing nothing) with DEBUG off or on a database holding anything it did not make."""

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django_otp.plugins.otp_totp.models import TOTPDevice

from billing.models import CreditTransaction, PricingTier
from billing.selectors import ledger_discrepancies
from disputes.models import Dispute
from leads.models import Clinic, ClinicMember, Lead, Package
from payments.models import PaymentEvent, PaymentOrder, PromoCode, WebhookEvent
from tests.commands import run_command
from tests.factories import ClinicFactory, ClinicMemberFactory, StaffFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def debug_on(settings):
    """The demo runs with DEBUG on (bin/demo sets it); pytest-django turns it off."""
    settings.DEBUG = True


def load():
    out = StringIO()
    call_command("load_demo_data", stdout=out)
    return out.getvalue()


def test_demo_data_has_what_the_readme_promises_and_loads_twice_safely():
    output = load()
    first = everything()
    assert "staff / staff-pass-2026" in output
    assert output.count("demo-pass-2026") >= 4
    assert len(set(Clinic.objects.values_list("city", flat=True))) >= 4
    tiers = {
        PricingTier.objects.filter(min_price_paise__lte=p).last().pk
        for p in Package.objects.values_list("price_paise", flat=True)
    }
    assert len(tiers) == 6  # packages in all six price tiers
    assert set(Lead.objects.values_list("status", flat=True)) == set(Lead.Status.values)
    # Every billing state a lead reaches by itself; a lead let go free needs staff to flag it,
    # which the demo does not do (yet).
    assert set(Lead.objects.values_list("billing_state", flat=True)) == set(Lead.Billing.values) - {
        Lead.Billing.FREE_TECHNICAL_ERROR
    }
    assert PaymentOrder.objects.filter(status="paid").count() == 3
    assert PromoCode.objects.filter(code="WELCOME10").exists()
    assert Dispute.objects.filter(status="pending").count() == 1  # for the staff review queue
    low = Clinic.objects.get(slug="radiance-pune").credit_account
    assert 0 < low.balance < low.low_balance_threshold
    assert list(ledger_discrepancies()) == []

    load()
    assert everything() == first


def everything():
    """Every kind of row the demo writes, the ledger entry by entry, and the users' and
    clinics' own fields."""
    User = get_user_model()
    return (
        sorted(
            User.objects.values_list("username", "password", "email", "is_staff", "is_superuser")
        ),
        sorted(Clinic.objects.values_list("slug", "name", "contact_email", "is_active")),
        sorted(ClinicMember.objects.values_list("user__username", "clinic__slug", "role")),
        TOTPDevice.objects.count(),
        Lead.objects.count(),
        sorted(CreditTransaction.objects.values_list("account__clinic__slug", "credits")),
        PaymentOrder.objects.count(),
        PaymentEvent.objects.count(),
        Dispute.objects.count(),
        sorted(PromoCode.objects.values_list("code", "is_active")),
    )


def refused(match):
    """Run it and expect a refusal (exit 1) naming ``match``, with nothing written."""
    before = everything()
    code, output = run_command("load_demo_data")
    assert code == 1
    assert match in output
    assert "Demo data ready" not in output
    assert everything() == before
    return output


def test_refuses_with_debug_off_and_writes_nothing(settings):
    settings.DEBUG = False
    refused("DEBUG")
    assert get_user_model().objects.count() == 0
    assert Clinic.objects.count() == 0


def test_refuses_a_database_with_a_user_it_did_not_create():
    UserFactory(username="priya", email="priya@realclinic.in")
    refused("user 'priya'")


def test_refuses_a_real_superuser():
    StaffFactory(username="admin", is_superuser=True)
    refused("user 'admin'")


def test_refuses_a_user_with_a_demo_login_name_but_another_password():
    # The production incident: an existing real "glow" was made owner of the demo clinics.
    UserFactory(username="glow", email="glow@glowskin.in")
    refused("user 'glow'")
    assert not ClinicMember.objects.exists()


def test_refuses_a_staff_login_named_staff_that_is_not_the_demo_s():
    StaffFactory(username="staff", is_superuser=True)
    refused("user 'staff'")
    assert not TOTPDevice.objects.exists()


def test_refuses_a_database_with_a_clinic_it_did_not_create():
    ClinicFactory(slug="sunrise-derma-chennai", contact_email="desk@sunrise.in")
    refused("clinic 'sunrise-derma-chennai'")


def test_refuses_a_real_clinic_that_uses_a_demo_slug():
    ClinicFactory(slug="glow-skin-mumbai", contact_email="owner@glowskin.in")
    refused("clinic 'glow-skin-mumbai'")


def test_refuses_a_promo_code_it_did_not_create():
    PromoCode.objects.create(code="DIWALI25", discount_value=25)
    refused("promo code 'DIWALI25'")


def test_refuses_a_database_that_has_received_webhooks():
    WebhookEvent.objects.create(event_id="evt_live_1", event="payment.captured", payload={})
    refused("webhook event")


def test_refuses_a_live_payment_order_even_on_a_demo_clinic():
    load()
    clinic = Clinic.objects.get(slug="lotus-derma-delhi")
    PaymentOrder.objects.create(
        clinic=clinic,
        base_amount_paise=1_000_00,
        amount_paise=1_000_00,
        credits=1_000,
        razorpay_order_id="order_LiveRazorpay01",
    )
    refused("payment order")


def test_refuses_a_payment_event_without_a_demo_order():
    PaymentEvent.objects.create(order=None, kind="webhook_unknown_order", detail="order_Live")
    refused("payment event")


def test_refuses_a_real_user_added_to_a_demo_clinic():
    load()
    ClinicMemberFactory(
        user=UserFactory(username="ravi", email="ravi@glowskin.in"),
        clinic=Clinic.objects.get(slug="glow-skin-mumbai"),
    )
    refused("user 'ravi'")


def test_runs_again_after_the_demo_was_used_in_the_portal():
    """A top-up made in the demo (test mode, a demo login) is the demo's own: run it again."""
    from payments import services as payments

    load()
    clinic = Clinic.objects.get(slug="lotus-derma-delhi")
    user = get_user_model().objects.get(username="lotus")
    payments.save_billing_state(clinic=clinic, state_code="07")  # the first top-up asks it
    payments.create_order(
        clinic=clinic, user=user, quote=payments.quote_topup(clinic=clinic, amount=1_000)
    )
    before = everything()
    assert "Demo data ready" in load()
    assert everything() == before


def test_the_demo_has_a_login_for_each_role():
    output = load()
    roles = dict(
        ClinicMember.objects.filter(clinic__slug="glow-skin-mumbai").values_list(
            "user__username", "role"
        )
    )
    assert roles == {"glow": "owner", "glow-desk": "front_desk", "glow-billing": "billing"}
    assert "glow-desk / demo-pass-2026  (front desk;" in output
