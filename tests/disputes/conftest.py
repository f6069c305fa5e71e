import pytest

from leads import services as leads
from tests.factories import ClinicMemberFactory, StaffFactory, fund

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
PDF = b"%PDF-1.4\n" + b"0" * 64
DESCRIPTION = "The number is switched off; we called three times over two days."


@pytest.fixture
def member(clinic):
    return ClinicMemberFactory(clinic=clinic).user


@pytest.fixture
def charged_lead(clinic):
    fund(clinic, 1_000)
    return leads.submit_enquiry(clinic=clinic, name="Asha Patel", phone="9876543210")


@pytest.fixture
def reviewer(db):
    from django.contrib.auth.models import Permission

    user = StaffFactory(username="reviewer")
    user.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label="disputes", codename__in=["view_dispute", "decide_dispute"]
        )
    )
    return user
