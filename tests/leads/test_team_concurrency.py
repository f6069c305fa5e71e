"""PostgreSQL only: two owners demoting or removing each other at once leave one owner.

A second connection holds the clinic's member rows, so both changes are certainly waiting
inside their transactions before either reads the team; without the lock in
leads.services._locked_member both read "two owners" and both go through.
"""

import pytest

from antidote.errors import AntidoteError
from leads import services
from leads.models import ClinicMember
from tests.concurrency import run_overlapped
from tests.conftest import requires_postgres
from tests.factories import ClinicFactory, ClinicMemberFactory

pytestmark = [requires_postgres, pytest.mark.postgres]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("change", ["demote", "remove"])
def test_two_owners_changing_each_other_at_once_leave_one_owner(change):
    clinic = ClinicFactory()
    first, second = (ClinicMemberFactory(clinic=clinic, role="owner") for _ in range(2))

    def act(actor, target):
        if change == "demote":
            return lambda: services.change_member_role(
                clinic=clinic, member_id=target.pk, role="front_desk", actor=actor.user
            )
        return lambda: services.remove_member(clinic=clinic, member_id=target.pk, actor=actor.user)

    results = run_overlapped(
        ClinicMember.objects.filter(clinic=clinic),
        [act(first, second), act(second, first)],
    )

    refused = [r for r in results if isinstance(r, AntidoteError)]
    assert len(refused) == 1 and refused[0].code == "last_owner"
    assert ClinicMember.objects.filter(clinic=clinic, role="owner").count() == 1
