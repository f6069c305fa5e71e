"""The automatic top-up page: owners and billing members set the rule and save a method (in
test-payment mode the mandate is authorised at once), see the history, and switch it off; other
clinics' and other roles' requests change nothing."""

import pytest
from django.test import Client

from payments.models import AutoTopUp, AutoTopUpRule, CreditPackage, SavedPaymentMethod
from tests.factories import ClinicFactory, ClinicMemberFactory

pytestmark = pytest.mark.django_db


def member(clinic, role="billing"):
    client = Client()
    client.force_login(ClinicMemberFactory(clinic=clinic, role=role).user)
    return client


def save_method(client, clinic, /, **overrides):
    data = {
        "clinic": clinic.pk,
        "method": "upi",
        "email": "billing@example.com",
        "contact": "+919876543210",
        "max_amount_rupees": 15_000,
    }
    return client.post("/clinic/auto-top-up/method", {**data, **overrides})


def save_rule(client, clinic, /, **overrides):
    data = {
        "clinic": clinic.pk,
        "threshold_credits": 500,
        "package": CreditPackage.objects.get(price_paise=1_000_00).pk,
        "monthly_max_rupees": 5_000,
        "monthly_max_count": 3,
        "top_up_early": "on",
    }
    return client.post("/clinic/auto-top-up", {**data, **overrides})


def test_a_billing_member_saves_a_test_upi_mandate_and_a_rule_then_switches_it_off(clinic):
    client = member(clinic)
    assert save_method(client, clinic).status_code == 302
    saved = SavedPaymentMethod.objects.get(clinic=clinic)
    assert saved.usable and saved.vpa == "clinic@testupi"
    assert save_rule(client, clinic).status_code == 302
    rule = AutoTopUpRule.objects.get(clinic=clinic)
    assert (rule.threshold_credits, rule.monthly_max_paise, rule.top_up_early) == (
        500,
        5_000_00,
        True,
    )
    page = client.get("/clinic/auto-top-up").content.decode()
    assert "clinic@testupi" in page and "On." in page and "0 of 3 top-ups" in page
    response = client.post("/clinic/auto-top-up/off", {"clinic": clinic.pk})
    assert response.status_code == 302
    rule.refresh_from_db()
    assert not rule.is_enabled
    assert "Switched off by the clinic." in client.get("/clinic/auto-top-up").content.decode()


def test_the_history_shows_each_top_up_with_its_outcome_to_its_own_clinic_only(clinic):
    client = member(clinic)
    save_method(client, clinic)
    save_rule(client, clinic)
    rule = AutoTopUpRule.objects.get(clinic=clinic)
    AutoTopUp.objects.create(
        clinic=clinic,
        rule=rule,
        status=AutoTopUp.Status.DECLINED,
        outcome="declined: insufficient funds in the account",
        balance_at_trigger=420,
        threshold_at_trigger=500,
    )
    assert "insufficient funds in the account" in client.get("/clinic/auto-top-up").content.decode()
    other = ClinicFactory()
    page = member(other).get("/clinic/auto-top-up").content.decode()
    assert "insufficient funds" not in page and "Not set up yet." in page


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"threshold_credits": 0}, "greater than or equal to 1"),
        ({"threshold_credits": "-3"}, "greater than or equal to 1"),
        ({"threshold_credits": "lots"}, "Enter a whole number"),
        ({"amount_rupees": 2_000}, "package or enter an amount, not both"),
        ({"package": ""}, "package or enter an amount, not both"),
        ({"monthly_max_count": 0}, "greater than or equal to 1"),
        ({"package": 999_999}, "Select a valid choice"),
    ],
)
def test_a_bad_rule_from_the_page_is_refused_and_nothing_changes(clinic, overrides, message):
    client = member(clinic)
    save_method(client, clinic)
    response = save_rule(client, clinic, **overrides)
    assert response.status_code == 400 and message in response.content.decode()
    assert not AutoTopUpRule.objects.exists()


def test_an_inactive_package_cannot_be_chosen(clinic):
    client = member(clinic)
    save_method(client, clinic)
    package = CreditPackage.objects.get(price_paise=1_000_00)
    CreditPackage.objects.filter(pk=package.pk).update(is_active=False)
    response = save_rule(client, clinic, package=package.pk)
    assert response.status_code == 400 and not AutoTopUpRule.objects.exists()


def test_a_bad_payment_method_form_is_refused(clinic):
    client = member(clinic)
    response = save_method(client, clinic, contact="call me", method="cheque")
    assert response.status_code == 400
    assert "Enter a mobile number" in response.content.decode()
    assert not SavedPaymentMethod.objects.exists()


def test_a_page_opened_for_another_clinic_changes_nothing(clinic):
    client = member(clinic)
    save_method(client, clinic)
    response = save_rule(client, clinic, clinic=ClinicFactory().pk)
    assert response.status_code == 400 and "opened for another clinic" in response.content.decode()
    assert not AutoTopUpRule.objects.exists()


def test_another_clinics_member_cannot_switch_this_rule_off(clinic):
    client = member(clinic)
    save_method(client, clinic)
    save_rule(client, clinic)
    other = ClinicFactory()
    member(other).post("/clinic/auto-top-up/off", {"clinic": clinic.pk})
    assert AutoTopUpRule.objects.get(clinic=clinic).is_enabled


@pytest.mark.parametrize("path", ["/clinic/auto-top-up", "/clinic/auto-top-up/method"])
def test_the_front_desk_may_not_open_it(clinic, path):
    client = member(clinic, role="front_desk")
    response = client.get(path) if path.endswith("up") else save_method(client, clinic)
    assert response.status_code == 403
    assert not SavedPaymentMethod.objects.exists()
