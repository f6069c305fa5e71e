"""The portal's "Move credits" page: who sees it, what it refuses, and a double submit."""

import re
import uuid

import pytest
from django.urls import reverse

from billing.models import CreditAccount, CreditTransaction, Kind
from billing.selectors import account_balance
from leads import services as leads
from leads.models import Organisation, OrganisationMember
from tests.factories import ClinicFactory, ClinicMemberFactory, fund

pytestmark = pytest.mark.django_db
URL = reverse("billing:transfer")


@pytest.fixture
def chain(client):
    organisation = Organisation.objects.create(name="Glow chain")
    one = ClinicFactory(name="Glow Bandra", organisation=organisation)
    two = ClinicFactory(name="Glow Pune", organisation=organisation)
    owner = ClinicMemberFactory(clinic=one).user
    OrganisationMember.objects.create(user=owner, organisation=organisation)
    fund(one, 1_000)
    client.force_login(owner)
    return one, two


def post(client, target, credits, token=None, **extra):
    data = {"target": target.pk, "credits": credits, "token": token or uuid.uuid4(), **extra}
    return client.post(URL, data)


def test_the_page_shows_every_location_of_the_chain(client, chain):
    _, two = chain
    leads.submit_enquiry(clinic=two, name="Asha", phone="9000000001")  # held: no credits
    CreditAccount.objects.filter(clinic=two).update(monthly_cap=5_000)
    ClinicFactory(name="Not in the chain")
    table = client.get(URL).text.split('data-testid="locations"')[1].split("</table>")[0]
    rows = re.findall(
        r"<tr[^>]*><td>(.*?)</td><td class=\"num\">(.*?)</td>.*?>(.*?)</td>.*?>(.*?)</td>", table
    )
    assert rows == [
        ("Glow Bandra (this location)", "1,000", "0", "0"),
        ("Glow Pune", "0", "0 / 5,000", "1"),
    ]


def test_an_organisation_owner_moves_credits_once_per_form(client, chain):
    one, two = chain
    page = client.get(URL)
    assert page.status_code == 200
    assert "Glow Pune" in page.text and "Move credits" in page.text
    token = uuid.uuid4()
    response = post(client, two, 400, token=token, memo="For the Pune launch")
    assert response.status_code == 302 and response.url == reverse("billing:history")
    again = post(client, two, 400, token=token, memo="For the Pune launch")
    assert again.status_code == 302  # the same form sent twice moves nothing more
    assert (account_balance(clinic=one), account_balance(clinic=two)) == (600, 400)
    history = client.get(reverse("billing:history")).text
    assert "Transfer out" in history and "For the Pune launch" in history


@pytest.mark.parametrize(
    "credits, message",
    [("", "This field is required"), ("0", "greater than or equal to 1"), ("1.5", "whole number")],
)
def test_bad_amounts_get_the_form_back(client, chain, credits, message):
    _, two = chain
    response = post(client, two, credits)
    assert response.status_code == 400 and message in response.text
    assert not CreditTransaction.objects.filter(kind=Kind.TRANSFER_OUT).exists()


def test_more_than_the_location_holds_is_refused_with_its_balance(client, chain):
    one, two = chain
    response = post(client, two, 1_001)
    assert response.status_code == 400
    assert response.text.count("has 1,000 credits to move") == 1  # once, not twice
    assert account_balance(clinic=one) == 1_000


def test_a_clinic_outside_the_organisation_cannot_be_chosen(client, chain):
    one, _ = chain
    outsider = ClinicFactory(name="Other clinic")
    response = post(client, outsider, 10)
    assert response.status_code == 400 and "Select a valid choice" in response.text
    assert account_balance(clinic=one) == 1_000 and account_balance(clinic=outsider) == 0


def test_a_clinic_owner_who_does_not_own_the_organisation_moves_nothing(client, chain):
    one, two = chain
    manager = ClinicMemberFactory(clinic=one).user  # owns the location, not the chain
    client.force_login(manager)
    page = client.get(URL)
    assert page.status_code == 200 and 'data-testid="not-organisation-owner"' in page.text
    response = post(client, two, 10)
    assert response.status_code == 400 and "Only an owner of" in response.text
    assert account_balance(clinic=two) == 0


def test_a_clinic_without_an_organisation_is_told_so(client):
    member = ClinicMemberFactory()
    client.force_login(member.user)
    page = client.get(URL)
    assert 'data-testid="no-organisation"' in page.text
    assert "Move credits</a>" not in page.text  # no menu link either


@pytest.mark.parametrize("role", ["billing", "front_desk"])
def test_other_roles_are_refused(client, chain, role):
    one, two = chain
    member = ClinicMemberFactory(clinic=one, role=role).user
    OrganisationMember.objects.create(user=member, organisation=one.organisation)
    client.force_login(member)
    assert client.get(URL).status_code == 403
    assert post(client, two, 10).status_code == 403
    assert account_balance(clinic=two) == 0


def test_a_used_form_sent_again_for_another_amount_says_so_without_the_key(client, chain):
    one, two = chain
    token = uuid.uuid4()
    post(client, two, 100, token=token)
    response = post(client, two, 200, token=token)
    assert response.status_code == 400
    assert "This form was already used" in response.text
    assert "transfer:" not in response.text and "Idempotency" not in response.text
    assert (account_balance(clinic=one), account_balance(clinic=two)) == (900, 100)
