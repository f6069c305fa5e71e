"""The team page: roles changed and members removed by owners, never the last owner, with
who did it in the history; another clinic's members are 404; bad input is a 400."""

import pytest
from django.db import IntegrityError, connection, transaction

from antidote.errors import AntidoteError
from leads import services
from leads.models import ClinicMember
from leads.selectors import team_history
from tests.factories import ClinicFactory, ClinicMemberFactory

pytestmark = pytest.mark.django_db

OWNER, BILLING, FRONT_DESK = "owner", "billing", "front_desk"


@pytest.fixture
def team(clinic):
    return {role: ClinicMemberFactory(clinic=clinic, role=role) for role in (OWNER, FRONT_DESK)}


@pytest.fixture
def owner_client(client, team):
    client.force_login(team[OWNER].user)
    return client


def test_owner_changes_a_role_and_the_history_names_them(owner_client, team, clinic):
    desk = team[FRONT_DESK]
    response = owner_client.post(f"/clinic/team/{desk.pk}/role", {"role": BILLING})
    assert response.status_code == 302
    desk.refresh_from_db()
    assert desk.role == BILLING
    latest = desk.history.first()
    assert latest.role == BILLING and latest.history_user == team[OWNER].user
    page = owner_client.get("/clinic/team").content.decode()
    assert "role set to billing" in page


def test_owner_removes_a_member_and_the_history_keeps_it(owner_client, team, clinic):
    desk = team[FRONT_DESK]
    assert owner_client.post(f"/clinic/team/{desk.pk}/remove").status_code == 302
    assert not ClinicMember.objects.filter(pk=desk.pk).exists()
    removal = ClinicMember.history.filter(id=desk.pk, history_type="-").get()
    assert removal.history_user == team[OWNER].user
    assert removal in list(team_history(clinic=clinic))


def test_the_last_owner_cannot_be_demoted(owner_client, team):
    owner = team[OWNER]
    response = owner_client.post(f"/clinic/team/{owner.pk}/role", {"role": FRONT_DESK})
    assert response.status_code == 400
    assert "last owner" in response.content.decode()
    owner.refresh_from_db()
    assert owner.role == OWNER


def test_the_last_owner_cannot_be_removed(owner_client, team):
    owner = team[OWNER]
    assert owner_client.post(f"/clinic/team/{owner.pk}/remove").status_code == 400
    assert ClinicMember.objects.filter(pk=owner.pk).exists()


def test_the_service_refuses_the_last_owner_whoever_calls_it(team, clinic):
    owner = team[OWNER]
    with pytest.raises(AntidoteError) as refused:
        services.change_member_role(
            clinic=clinic, member_id=owner.pk, role=BILLING, actor=owner.user
        )
    assert refused.value.code == "last_owner"
    with pytest.raises(AntidoteError):
        services.remove_member(clinic=clinic, member_id=owner.pk, actor=owner.user)


def test_an_owner_may_step_down_once_there_is_another(owner_client, team, clinic):
    second = ClinicMemberFactory(clinic=clinic, role=OWNER)
    owner = team[OWNER]
    assert owner_client.post(f"/clinic/team/{owner.pk}/role", {"role": BILLING}).status_code == 302
    owner.refresh_from_db()
    assert owner.role == BILLING
    # Now the other is the last owner, and stays one.
    with pytest.raises(AntidoteError):
        services.remove_member(clinic=clinic, member_id=second.pk, actor=second.user)


def test_another_clinics_member_is_404(owner_client):
    stranger = ClinicMemberFactory(clinic=ClinicFactory(), role=FRONT_DESK)
    assert owner_client.post(f"/clinic/team/{stranger.pk}/role", {"role": OWNER}).status_code == 404
    assert owner_client.post(f"/clinic/team/{stranger.pk}/remove").status_code == 404
    assert owner_client.post("/clinic/team/999999/remove").status_code == 404
    stranger.refresh_from_db()
    assert stranger.role == FRONT_DESK


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"role": ""},
        {"role": "staff"},
        {"role": "OWNER"},
        {"role": "²"},
        {"role": "x" * 5000},
        {"role": "\x00"},
        {"role": ["owner", "billing"]},
    ],
    ids=["missing", "empty", "old-staff", "upper", "superscript", "long", "nul", "list"],
)
def test_bad_role_input_is_a_400_and_changes_nothing(owner_client, team, data):
    desk = team[FRONT_DESK]
    response = owner_client.post(f"/clinic/team/{desk.pk}/role", data)
    if data.get("role") == ["owner", "billing"]:
        # A repeated field: the form reads the last value, a valid role.
        assert response.status_code == 302
        return
    assert response.status_code == 400
    desk.refresh_from_db()
    assert desk.role == FRONT_DESK


def test_team_pages_refuse_get_on_writes(owner_client, team):
    assert owner_client.get(f"/clinic/team/{team[FRONT_DESK].pk}/remove").status_code == 405


def test_the_database_refuses_an_unknown_role(team):
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        table = ClinicMember._meta.db_table
        cursor.execute(f"UPDATE {table} SET role = 'staff' WHERE id = %s", [team[OWNER].pk])
