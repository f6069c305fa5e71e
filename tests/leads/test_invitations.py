"""Invitations: signed, 7 days, once; create an account or attach the invited one; never
accepted by someone else's login; bad input of every kind is a 4xx that changes nothing."""

import re
import time
from datetime import timedelta
from unittest.mock import patch

import pytest
from django.contrib.auth import get_user_model
from django.core import mail, signing
from django.db import IntegrityError, transaction
from django.utils import timezone

from antidote.errors import AntidoteError
from leads import services
from leads.models import ClinicMember, Invitation
from notifications.models import SUBSCRIBABLE, OutboxMessage
from tests.factories import ClinicFactory, ClinicMemberFactory, UserFactory

pytestmark = pytest.mark.django_db

User = get_user_model()
PASSWORD = "a long and unusual passphrase 2026"


@pytest.fixture
def owner(clinic):
    return ClinicMemberFactory(clinic=clinic, role="owner").user


@pytest.fixture
def invitation(clinic, owner):
    return services.invite_member(
        clinic=clinic, email="Desk@Example.com", role="front_desk", actor=owner
    )


def link(invitation) -> str:
    return f"/invitations/{services.invitation_token(invitation)}"


def new_account(client, invitation, username="frontdesk", **extra):
    data = {"username": username, "password1": PASSWORD, "password2": PASSWORD, **extra}
    return client.post(link(invitation), data)


def test_owner_invites_and_the_email_leaves_after_commit(
    client, clinic, owner, django_capture_on_commit_callbacks
):
    client.force_login(owner)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(
            "/clinic/team/invite", {"email": "Desk@Example.com", "role": "billing"}
        )
        assert response.status_code == 302
        assert mail.outbox == []  # not inside the request's transaction
    for callback in callbacks:
        callback()
    invitation = Invitation.objects.get()
    assert invitation.email == "desk@example.com" and invitation.role == "billing"
    assert invitation.history.first().history_user == owner
    (message,) = mail.outbox
    assert message.to == ["desk@example.com"]
    path = re.search(r"https?://[^/]+(/invitations/\S+)", message.body)[1]
    assert client.get(path).status_code in (200, 403)  # the owner is logged in as someone else
    page = client.get("/clinic/team").content.decode()
    assert "desk@example.com" in page


def test_a_failing_mail_server_does_not_fail_the_invitation(
    client, clinic, owner, settings, django_capture_on_commit_callbacks
):
    settings.EMAIL_BACKEND = "tests.mail_backends.FailingEmailBackend"
    client.force_login(owner)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/clinic/team/invite", {"email": "a@example.com", "role": "billing"})
    assert response.status_code == 302
    assert Invitation.objects.filter(email="a@example.com").exists()
    # The outbox keeps the message for a retry instead of logging it away.
    (message,) = OutboxMessage.objects.filter(event__type="team.invited")
    assert message.recipient == "a@example.com" and message.status != "sent"
    assert message.attempts == 1 and message.next_attempt_at > message.created_at


def test_the_invitation_goes_to_the_invited_address_only(client, clinic, owner):
    # Neither the clinic's contact address nor its email preferences receive someone else's
    # invitation link, and no webhook endpoint hears of it.
    clinic.contact_email = "front@clinic.example"
    clinic.save()
    client.force_login(owner)
    client.post("/clinic/team/invite", {"email": "a@example.com", "role": "billing"})
    (message,) = OutboxMessage.objects.filter(event__type="team.invited")
    assert message.channel == "email" and message.recipient == "a@example.com"
    assert "team.invited" not in SUBSCRIBABLE


def test_a_new_address_creates_its_account_and_joins_with_the_role(client, invitation, clinic):
    assert client.get(link(invitation)).status_code == 200
    response = new_account(client, invitation)
    assert response.status_code == 302 and response["Location"] == "/clinic/dashboard"
    user = User.objects.get(username="frontdesk")
    assert user.email == "desk@example.com" and user.check_password(PASSWORD)
    member = ClinicMember.objects.get(user=user, clinic=clinic)
    assert member.role == "front_desk"
    assert member.history.first().history_user == invitation.invited_by
    invitation.refresh_from_db()
    assert invitation.accepted_by == user and invitation.accepted_at is not None
    # Logged in as the new member, who sees the leads and no money.
    assert client.get("/clinic/leads").status_code == 200
    assert client.get("/clinic/credits/topup").status_code == 403


def test_a_used_link_is_refused(client, invitation):
    new_account(client, invitation)
    client.logout()
    again = client.get(link(invitation))
    assert again.status_code == 410
    assert "already been used" in again.content.decode()
    assert new_account(client, invitation, username="second").status_code == 410
    assert not User.objects.filter(username="second").exists()


def test_the_database_lets_an_invitation_be_accepted_once(invitation, clinic):
    """Two acceptances racing with the same open invitation: the conditional update lets one."""
    first = UserFactory(username="first", email="desk@example.com")
    second = UserFactory(username="second", email="desk@example.com")
    stale = Invitation.objects.get(pk=invitation.pk)
    services.accept_invitation(invitation=invitation, user=first)
    with pytest.raises(AntidoteError) as refused:
        services.accept_invitation(invitation=stale, user=second)
    assert refused.value.code == "accepted"
    assert list(ClinicMember.objects.filter(clinic=clinic, role="front_desk")) == [
        ClinicMember.objects.get(user=first)
    ]


def test_an_expired_invitation_is_refused(client, invitation):
    Invitation.objects.filter(pk=invitation.pk).update(expires_at=timezone.now())
    response = client.get(link(invitation))
    assert response.status_code == 410 and "expired" in response.content.decode()
    assert new_account(client, invitation).status_code == 410
    assert not User.objects.filter(username="frontdesk").exists()


def test_a_link_older_than_seven_days_is_refused_whatever_the_row_says(client, invitation):
    with patch(
        "time.time", return_value=time.time() - timedelta(days=7, minutes=1).total_seconds()
    ):
        old = services.invitation_token(invitation)
    response = client.get(f"/invitations/{old}")
    assert response.status_code == 410 and "expired" in response.content.decode()


def test_an_address_that_has_an_account_logs_in_as_it_and_joins(client, invitation, clinic):
    existing = UserFactory(username="desk", email="DESK@example.com")
    page = client.get(link(invitation))
    assert page.status_code == 200 and "already has an Antidote account" in page.content.decode()
    # No second account can be made for the address.
    assert new_account(client, invitation, username="other").status_code == 200
    assert not User.objects.filter(username="other").exists()
    client.force_login(existing)
    assert client.get(link(invitation)).status_code == 200
    response = client.post(link(invitation))
    assert response.status_code == 302
    assert ClinicMember.objects.get(user=existing, clinic=clinic).role == "front_desk"
    assert existing.check_password("correct horse battery staple")  # untouched


def test_logged_in_as_someone_else_is_refused_with_what_to_do(client, invitation, clinic):
    UserFactory(username="desk", email="desk@example.com")
    intruder = ClinicMemberFactory(clinic=ClinicFactory()).user
    client.force_login(intruder)
    page = client.get(link(invitation))
    assert page.status_code == 403
    assert "This invitation is for desk@example.com" in page.content.decode()
    response = client.post(link(invitation))
    assert response.status_code == 403 and "Log out" in response.content.decode()
    assert not ClinicMember.objects.filter(user=intruder, clinic=clinic).exists()
    invitation.refresh_from_db()
    assert invitation.accepted_at is None


def test_a_withdrawn_or_replaced_link_is_refused(client, clinic, owner, invitation):
    replacement = services.invite_member(
        clinic=clinic, email="desk@example.com", role="billing", actor=owner
    )
    assert client.get(link(invitation)).status_code == 410
    client.force_login(owner)
    assert client.post(f"/clinic/team/invitations/{replacement.pk}/revoke").status_code == 302
    client.logout()
    response = client.get(link(replacement))
    assert response.status_code == 410 and "withdrawn" in response.content.decode()


def test_one_open_invitation_per_address_is_a_database_rule(clinic, invitation):
    with pytest.raises(IntegrityError), transaction.atomic():
        Invitation.objects.create(
            clinic=clinic, email=invitation.email, role="owner", expires_at=invitation.expires_at
        )


def test_another_clinics_invitation_is_404_to_revoke(client, owner):
    other = ClinicFactory()
    theirs = services.invite_member(
        clinic=other,
        email="x@example.com",
        role="owner",
        actor=ClinicMemberFactory(clinic=other).user,
    )
    client.force_login(owner)
    assert client.post(f"/clinic/team/invitations/{theirs.pk}/revoke").status_code == 404
    theirs.refresh_from_db()
    assert theirs.revoked_at is None


def test_a_member_cannot_be_invited_again(client, clinic, owner):
    client.force_login(owner)
    response = client.post("/clinic/team/invite", {"email": owner.email.upper(), "role": "billing"})
    assert response.status_code == 400 and "already a member" in response.content.decode()
    assert not Invitation.objects.exists()


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"email": "", "role": "billing"},
        {"email": "not-an-email", "role": "billing"},
        {"email": "a@example.com"},
        {"email": "a@example.com", "role": "staff"},
        {"email": "a@example.com", "role": "²"},
        {"email": "\x00@example.com", "role": "billing"},
        {"email": "a" * 300 + "@example.com", "role": "billing"},
        {"email": "a@example.com", "role": "x" * 5000},
    ],
    ids=[
        "empty",
        "no-email",
        "bad-email",
        "no-role",
        "old-role",
        "superscript",
        "nul",
        "long",
        "long-role",
    ],
)
def test_bad_invitation_input_is_a_400_and_invites_no_one(client, owner, data):
    client.force_login(owner)
    assert client.post("/clinic/team/invite", data).status_code == 400
    assert not Invitation.objects.exists()
    assert mail.outbox == []


@pytest.mark.parametrize(
    "token",
    [
        "x",
        "²",
        "9" * 5000,
        "1:abc:def",
        signing.dumps(1, salt="some.other.salt"),
        signing.dumps("1", salt="leads.invitation"),
        signing.dumps(10**30, salt="leads.invitation"),
    ],
    ids=["short", "superscript", "huge", "forged", "other-salt", "not-an-id", "huge-id"],
)
def test_a_link_that_is_not_ours_is_404(client, token):
    response = client.get(f"/invitations/{token}")
    assert response.status_code == 404
    assert client.post(f"/invitations/{token}", {"username": "u"}).status_code == 404


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"username": "frontdesk", "password1": PASSWORD, "password2": PASSWORD + "x"},
        {"username": "frontdesk", "password1": "short", "password2": "short"},
        {"username": "frontdesk", "password1": "12345678901", "password2": "12345678901"},
        {"username": "", "password1": PASSWORD, "password2": PASSWORD},
        {"username": "bad name!", "password1": PASSWORD, "password2": PASSWORD},
        {"username": "x" * 500, "password1": PASSWORD, "password2": PASSWORD},
        {"username": "taken", "password1": PASSWORD, "password2": PASSWORD},
        {"username": "front\x00desk", "password1": PASSWORD, "password2": PASSWORD},
    ],
    ids=[
        "empty",
        "mismatch",
        "short",
        "numeric",
        "no-username",
        "bad-username",
        "long",
        "taken",
        "nul",
    ],
)
def test_bad_account_input_is_a_400_and_creates_nothing(client, invitation, data):
    UserFactory(username="taken", email="taken@example.com")
    before = User.objects.count()
    response = client.post(link(invitation), data)
    assert response.status_code == 400
    assert User.objects.count() == before
    invitation.refresh_from_db()
    assert invitation.accepted_at is None


def test_only_owners_can_invite(client, clinic):
    billing = ClinicMemberFactory(clinic=clinic, role="billing").user
    client.force_login(billing)
    assert (
        client.post("/clinic/team/invite", {"email": "a@example.com", "role": "owner"}).status_code
        == 403
    )
    assert not Invitation.objects.exists()
