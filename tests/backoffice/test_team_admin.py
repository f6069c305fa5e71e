"""Staff manage clinic teams in the admin through the portal's services: the last-owner rule
holds, every change names the staff member, invitations are sent and withdrawn, never reverted."""

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import Group
from django.core import mail

from leads import services
from leads.models import ClinicMember, Invitation
from tests.factories import ClinicMemberFactory, StaffFactory, UserFactory
from tests.otp import login_with_otp

pytestmark = pytest.mark.django_db

MEMBERS = "/admin/leads/clinicmember/"
INVITATIONS = "/admin/leads/invitation/"


@pytest.fixture
def owner(clinic):
    return ClinicMemberFactory(clinic=clinic, role="owner")


def test_staff_change_a_role_and_the_history_names_them(client, boss, clinic, owner):
    desk = ClinicMemberFactory(clinic=clinic, role="front_desk")
    response = client.post(f"{MEMBERS}{desk.pk}/change/", {"role": "billing"})
    assert response.status_code == 302
    desk.refresh_from_db()
    assert desk.role == "billing"
    assert desk.history.first().history_user == boss
    history = client.get(f"{MEMBERS}{desk.pk}/history/")
    assert history.status_code == 200 and "boss" in history.content.decode()


def test_staff_cannot_demote_or_delete_the_last_owner(client, boss, owner):
    response = client.post(f"{MEMBERS}{owner.pk}/change/", {"role": "billing"}, follow=True)
    assert "last owner" in response.content.decode()
    response = client.post(f"{MEMBERS}{owner.pk}/delete/", {"post": "yes"}, follow=True)
    assert "last owner" in response.content.decode()
    owner.refresh_from_db()
    assert owner.role == "owner"


def test_removing_members_reports_each_result(client, boss, clinic, owner):
    desk = ClinicMemberFactory(clinic=clinic, role="front_desk")
    response = client.post(
        MEMBERS,
        {"action": "remove_members", ACTION_CHECKBOX_NAME: [owner.pk, desk.pk], "index": 0},
        follow=True,
    )
    page = response.content.decode()
    assert "removed." in page and "refused" in page
    assert list(ClinicMember.objects.filter(clinic=clinic)) == [owner]
    assert ClinicMember.history.get(id=desk.pk, history_type="-").history_user == boss


def test_staff_add_a_member_once(client, boss, clinic):
    user = UserFactory()
    data = {"user": user.pk, "clinic": clinic.pk, "role": "owner"}
    assert client.post(f"{MEMBERS}add/", data).status_code == 302
    member = ClinicMember.objects.get(user=user, clinic=clinic)
    assert member.history.get().history_user == boss
    again = client.post(f"{MEMBERS}add/", data)
    assert ClinicMember.objects.filter(user=user, clinic=clinic).count() == 1
    assert again.status_code == 200  # the form says so


def test_staff_invite_and_withdraw(client, boss, clinic, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            f"{INVITATIONS}add/",
            {"clinic": clinic.pk, "email": "New@Example.com", "role": "billing"},
        )
    assert response.status_code == 302
    invitation = Invitation.objects.get()
    assert invitation.email == "new@example.com" and invitation.invited_by == boss
    assert [m.to for m in mail.outbox] == [["new@example.com"]]
    client.post(
        INVITATIONS,
        {"action": "revoke_invitations", ACTION_CHECKBOX_NAME: [invitation.pk], "index": 0},
    )
    invitation.refresh_from_db()
    assert invitation.state == "revoked"
    assert invitation.history.first().history_user == boss


def test_no_version_of_a_member_is_saved_back(client, boss, clinic, owner):
    services.add_member(
        clinic=clinic, user=UserFactory(), role="owner", actor=boss
    )  # so a revert would be allowed by the rule
    services.change_member_role(clinic=clinic, member_id=owner.pk, role="billing", actor=boss)
    first = owner.history.order_by("history_id").first()
    url = f"{MEMBERS}{owner.pk}/history/{first.history_id}/"
    assert client.post(url, {"role": "owner"}).status_code == 403
    owner.refresh_from_db()
    assert owner.role == "billing"


def test_auditors_read_the_team_and_its_history_and_change_nothing(client, clinic, owner):
    auditor = StaffFactory(username="auditor")
    auditor.groups.add(Group.objects.get(name="Read-only auditors"))
    login_with_otp(client, auditor)
    assert client.get(MEMBERS).status_code == 200
    assert client.get(f"{MEMBERS}{owner.pk}/history/").status_code == 200
    assert client.get(INVITATIONS).status_code == 200
    assert client.post(f"{MEMBERS}{owner.pk}/change/", {"role": "billing"}).status_code == 403
    owner.refresh_from_db()
    assert owner.role == "owner"
