"""The credit history pages by keyset: no gaps or repeats while entries keep arriving, filters
kept across pages, bad or foreign cursors refused, and counts that say when they estimate."""

import re

import pytest
from django.db import connection

from antidote import paging
from billing import services as billing
from billing.models import CreditTransaction
from tests.conftest import requires_postgres
from tests.factories import ClinicFactory, ClinicMemberFactory, fund

HISTORY = "/clinic/credits/history"


@pytest.fixture
def member_client(client, clinic):
    client.force_login(ClinicMemberFactory(clinic=clinic).user)
    return client


def ids_on(response) -> list[int]:
    return [entry.pk for entry in response.context["page"].rows]


def link(response, testid: str) -> str | None:
    match = re.search(rf'<a href="(\?[^"]*)"[^>]*data-testid="{testid}"', response.content.decode())
    return match and match.group(1).replace("&amp;", "&")


def bonus(clinic, credits=1):
    return billing.grant_credits(
        clinic=clinic,
        credits=credits,
        kind="bonus",
        idempotency_key=f"bonus:{credits}:{id(object())}",
    )


def test_walking_older_then_newer_sees_every_entry_once_while_entries_arrive(member_client, clinic):
    first = [fund(clinic, 100 + i).pk for i in range(45)]
    seen, url, arrived = [], HISTORY, []
    while url:
        response = member_client.get(HISTORY + url if url.startswith("?") else url)
        assert response.status_code == 200
        seen += ids_on(response)
        arrived.append(fund(clinic, 7).pk)  # a top-up lands between two page loads
        url = link(response, "older")
    assert seen == sorted(first, reverse=True)  # nothing skipped, nothing twice

    seen, url = [], "?after=0"
    while url:
        response = member_client.get(HISTORY + url)
        assert response.status_code == 200
        seen += ids_on(response)[::-1]
        url = link(response, "newer")
    everything = sorted(
        CreditTransaction.objects.filter(account__clinic=clinic).values_list("pk", flat=True)
    )
    assert seen == everything  # oldest to newest, including what arrived on the way
    assert set(arrived) <= set(seen)


def test_the_oldest_page_has_no_older_link_and_the_newest_no_newer(member_client, clinic):
    for i in range(25):
        fund(clinic, 100 + i)
    newest = member_client.get(HISTORY)
    assert link(newest, "newer") is None and link(newest, "older")
    oldest = member_client.get(HISTORY + "?after=0")
    assert len(ids_on(oldest)) == 20
    assert link(oldest, "older") is None and link(oldest, "newer")
    assert " of " not in oldest.content.decode()  # no "Page 3 of N": N would need a COUNT(*)


def test_a_filter_holds_across_pages_and_the_links_keep_it(member_client, clinic):
    for i in range(30):
        fund(clinic, 100 + i)
        billing.grant_credits(clinic=clinic, credits=1, kind="bonus", idempotency_key=f"b{i}")
    first = member_client.get(HISTORY + "?kind=bonus")
    older = link(first, "older")
    assert "kind=bonus" in older
    second = member_client.get(HISTORY + older)
    entries = [*first.context["page"].rows, *second.context["page"].rows]
    assert len(entries) == 30 and {e.kind for e in entries} == {"bonus"}
    assert len({e.pk for e in entries}) == 30


@pytest.mark.parametrize(
    "query",
    [
        "before=abc",
        "before=-1",
        "before=0",
        "after=-5",
        "before=²",
        "after=" + "9" * 5000,
        "before=1&after=1",
        "before=1.5",
    ],
)
def test_a_malformed_cursor_is_a_400_with_a_message(member_client, clinic, query):
    fund(clinic, 100)
    response = member_client.get(f"{HISTORY}?{query}")
    assert response.status_code == 400
    assert "alert" in response.content.decode() or response.context["form"].errors
    body = member_client.get(f"{HISTORY}?format=json&{query}")
    assert body.status_code == 400


def test_another_clinics_entry_as_a_cursor_is_a_404_and_shows_nothing_of_theirs(
    member_client, clinic
):
    mine = [fund(clinic, 100 + i).pk for i in range(3)]
    other = ClinicFactory()
    theirs = fund(other, 555).pk
    for query in (f"before={theirs}", f"after={theirs}", "before=999999999"):
        assert member_client.get(f"{HISTORY}?{query}").status_code == 404
        assert member_client.get(f"{HISTORY}?format=json&{query}").status_code == 404
    page = member_client.get(f"{HISTORY}?after=0")
    assert ids_on(page) == sorted(mine, reverse=True)
    assert "555" not in page.content.decode()


def test_the_json_walks_by_next_before_and_says_its_total_is_exact(member_client, clinic):
    made = [fund(clinic, 100 + i).pk for i in range(7)]
    seen, query = [], "limit=3"
    while query:
        body = member_client.get(f"{HISTORY}?format=json&{query}").json()
        seen += [t["id"] for t in body["transactions"]]
        assert (body["total"], body["total_is_estimate"]) == (7, False)
        query = body["next_before"] and f"limit=3&before={body['next_before']}"
    assert seen == sorted(made, reverse=True)


def test_htmx_gets_the_table_alone_with_links_that_swap_it(member_client, clinic):
    for i in range(21):
        fund(clinic, 100 + i)
    response = member_client.get(HISTORY, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="history-table">')
    assert 'hx-target="#history-table"' in html and 'data-testid="older"' in html


def test_sqlite_counts_in_full(member_client, clinic, monkeypatch, settings):
    if connection.vendor == "postgresql":
        pytest.skip("PostgreSQL estimates; see the test below")
    monkeypatch.setattr(paging, "EXACT_UP_TO", 3)
    for i in range(5):
        fund(clinic, 100 + i)
    body = member_client.get(f"{HISTORY}?format=json").json()
    assert (body["total"], body["total_is_estimate"]) == (5, False)


@requires_postgres
@pytest.mark.postgres
def test_postgresql_estimates_above_the_cap_and_says_so(member_client, clinic, monkeypatch):
    monkeypatch.setattr(paging, "EXACT_UP_TO", 3)
    for i in range(6):
        fund(clinic, 100 + i)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE billing_credittransaction")
    body = member_client.get(f"{HISTORY}?format=json").json()
    assert body["total_is_estimate"] is True and body["total"] >= 4
    html = member_client.get(HISTORY).content.decode()
    assert "Download these about" in html
    small = member_client.get(f"{HISTORY}?format=json&kind=bonus").json()
    assert (small["total"], small["total_is_estimate"]) == (0, False)
