"""Item 9 of issue #18: numbers in Indian style everywhere, from Babel's en_IN locale."""

import pytest
from django.template import Context, Template

from antidote.money import format_number, format_paise, format_signed
from tests.factories import ClinicMemberFactory, fund


@pytest.mark.parametrize(
    ("value", "shown"),
    [(0, "0"), (999, "999"), (21140, "21,140"), (100000, "1,00,000"), (-2114000, "-21,14,000")],
)
def test_numbers_are_grouped_in_lakhs_and_crores(value, shown):
    assert format_number(value) == shown


@pytest.mark.parametrize(
    ("paise", "shown"),
    [
        (100_000_00, "₹1,00,000"),
        (150_000_00, "₹1,50,000"),
        (1_000_00, "₹1,000"),
        (123_456_78, "₹1,23,456.78"),
        (5, "₹0.05"),
        (-250_00, "-₹250"),
        (None, "—"),
    ],
)
def test_rupees_are_grouped_in_lakhs_and_drop_whole_paise(paise, shown):
    assert format_paise(paise) == shown


def test_signed_credits_keep_their_sign():
    assert (format_signed(100000), format_signed(-250), format_signed(0)) == (
        "+1,00,000",
        "-250",
        "+0",
    )


def test_the_filters_need_no_load_tag_and_leave_non_numbers_alone():
    template = Template("{{ a|num }} {{ b|paise }} {{ c|signed }} {{ d|num }}")
    shown = template.render(Context({"a": 2114000, "b": 15000000, "c": 1000, "d": "n/a"}))
    assert shown == "21,14,000 ₹1,50,000 +1,000 n/a"


@pytest.mark.django_db
def test_portal_pages_show_a_lakh_of_credits_in_indian_style(client):
    member = ClinicMemberFactory()
    fund(member.clinic, 100_000)
    client.force_login(member.user)
    for url in ["/clinic/dashboard", "/clinic/billing-dashboard", "/clinic/credits/history"]:
        page = client.get(url).content.decode()
        assert "1,00,000" in page, url
        assert "100,000" not in page and "100000" not in page, url
