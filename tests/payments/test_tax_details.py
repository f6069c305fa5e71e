"""A clinic's tax details: the portal page (owners and billing members), the admin, and the
billing state the first top-up asks for."""

import pytest
from django.test import Client

from payments.models import ClinicTaxDetails, PaymentOrder
from tests.factories import ClinicFactory, ClinicMemberFactory, StaffFactory
from tests.payments.conftest import session_clinic

pytestmark = pytest.mark.django_db
URL = "/clinic/billing/tax-details"


def member(clinic, role="billing"):
    client = Client()
    client.force_login(ClinicMemberFactory(clinic=clinic, role=role).user)
    return client


def details(**changes):
    return {
        "legal_name": "Glow Skin Clinic Pvt Ltd",
        "address": "12 Hill Road, Mumbai",
        "state_code": "27",
        "gstin": "27aabcu9603r1zn",
        **changes,
    }


def test_a_billing_member_saves_the_tax_details_in_their_one_form(clinic):
    client = member(clinic)
    assert "Maharashtra (27)" in client.get(URL).content.decode()
    response = client.post(URL, details(gstin=" 27 aabcu9603r1zn "))
    assert response.status_code == 302
    saved = ClinicTaxDetails.objects.get(clinic=clinic)
    assert (saved.legal_name, saved.state_code, saved.gstin) == (
        "Glow Skin Clinic Pvt Ltd",
        "27",
        "27AABCU9603R1ZN",
    )


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"gstin": "27AABCU9603R1ZM"}, "is not a valid GSTIN"),
        ({"gstin": "27AABCU9603R1ZN", "state_code": "29"}, "registered in Maharashtra (27)"),
        ({"state_code": ""}, "Choose your clinic&#x27;s billing state."),
        ({"state_code": "25"}, "Choose a state from the list."),
        ({"legal_name": "x" * 201}, "at most 200 characters"),
    ],
)
def test_bad_tax_details_are_refused_with_a_clear_message_and_nothing_saved(
    clinic, changes, message
):
    before = ClinicTaxDetails.objects.get(clinic=clinic).state_code
    response = member(clinic, role="owner").post(URL, details(**changes))
    assert response.status_code == 200
    assert message in response.content.decode()
    assert ClinicTaxDetails.objects.get(clinic=clinic).state_code == before


def test_front_desk_may_not_see_or_change_tax_details(clinic):
    client = member(clinic, role="front_desk")
    assert client.get(URL).status_code == 403
    assert client.post(URL, details()).status_code == 403


def test_the_first_top_up_asks_for_the_billing_state_and_remembers_it(client):
    clinic = ClinicFactory(billing_state="")
    client.force_login(ClinicMemberFactory(clinic=clinic, role="owner").user)
    page = client.get("/clinic/credits/topup").content.decode()
    assert "billing-state-form" in page
    refused = client.post(
        "/create-razorpay-order", {"clinic": session_clinic(client), "amount": "1000"}
    )
    assert refused.status_code == 400
    assert "Choose your clinic's billing state first" in refused.json()["message"]
    assert not PaymentOrder.objects.exists()
    quote = client.post("/clinic/check-promo-code", {"amount": "1000"}).json()
    assert (quote["has_billing_state"], quote["gst"], quote["total"]) == (False, 0, 1000)
    bad = client.post("/clinic/credits/billing-state", {"state_code": "99"}, follow=True)
    assert "Choose a state from the list." in bad.content.decode()
    client.post("/clinic/credits/billing-state", {"state_code": "29"})
    assert ClinicTaxDetails.objects.get(clinic=clinic).state_code == "29"
    assert "billing-state-form" not in client.get("/clinic/credits/topup").content.decode()
    quote = client.post("/clinic/check-promo-code", {"amount": "1000"}).json()
    assert (quote["has_billing_state"], quote["gst"], quote["total"]) == (True, 180, 1180)


def test_the_billing_state_cannot_contradict_the_gstin(clinic):
    client = member(clinic, role="owner")
    client.post(URL, details())
    page = client.post("/clinic/credits/billing-state", {"state_code": "29"}, follow=True)
    assert "registered in Maharashtra (27)" in page.content.decode()
    assert ClinicTaxDetails.objects.get(clinic=clinic).state_code == "27"


def test_the_admin_refuses_a_gstin_of_another_state(clinic, otp_login):
    admin = Client()
    otp_login(admin, StaffFactory(is_superuser=True))
    row = ClinicTaxDetails.objects.get(clinic=clinic)
    response = admin.post(
        f"/admin/payments/clinictaxdetails/{row.pk}/change/",
        {
            "clinic": clinic.pk,
            "legal_name": "X",
            "address": "",
            "state_code": "29",
            "gstin": "27AABCU9603R1ZN",
        },
    )
    assert response.status_code == 200
    assert "registered in Maharashtra (27)" in response.content.decode()
    assert ClinicTaxDetails.objects.get(pk=row.pk).state_code == "27"
