"""The payments and disputes lists page by keyset, and refuse a malformed cursor."""

import pytest

from tests.factories import ClinicMemberFactory


@pytest.fixture
def member_client(client, clinic):
    client.force_login(ClinicMemberFactory(clinic=clinic).user)
    return client


@pytest.mark.parametrize("path", ["/clinic/payments", "/clinic/disputes"])
@pytest.mark.parametrize("query", ["before=abc", "after=-1", "before=0", "before=1&after=2"])
def test_a_malformed_cursor_is_a_400_not_a_500(member_client, path, query):
    response = member_client.get(f"{path}?{query}")
    assert response.status_code == 400
    assert 'role="alert"' in response.text


@pytest.mark.parametrize("path", ["/clinic/payments", "/clinic/disputes"])
def test_an_empty_list_has_no_page_links(member_client, path):
    response = member_client.get(f"{path}?after=0")
    assert response.status_code == 200
    assert 'data-testid="older"' not in response.text and 'data-testid="newer"' not in response.text
