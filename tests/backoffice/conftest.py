import pytest

from tests.factories import StaffFactory
from tests.otp import login_with_otp


@pytest.fixture
def boss(client):
    """A superuser, logged in to the admin with a second factor."""
    return login_with_otp(client, StaffFactory(username="boss", is_superuser=True))
