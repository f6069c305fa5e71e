"""GST arithmetic and reference data: heads that add up, GSTINs, words, financial years."""

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from antidote.errors import AntidoteError
from payments import gst

states = st.sampled_from(sorted(gst.STATES))


@given(
    taxable=st.integers(min_value=0, max_value=10**13),
    rate=st.sampled_from([0, 1, 250, 500, 1200, 1800, 2800, 9999]),
    supplier=states,
    place=states,
)
def test_heads_add_up_exactly_and_igst_only_across_states(taxable, rate, supplier, place):
    tax = gst.compute_tax(
        taxable_paise=taxable, rate_bp=rate, supplier_state=supplier, place_of_supply=place
    )
    # The total tax is the exact tax rounded to the nearest paisa (halves up).
    assert abs(tax.tax_paise * 10_000 - taxable * rate) <= 5_000
    assert tax.cgst_paise + tax.sgst_paise + tax.igst_paise == tax.tax_paise
    assert tax.total_paise == taxable + tax.tax_paise
    if supplier == place:
        assert tax.igst_paise == 0 and not tax.interstate
        # Each half within a paisa of the exact half; an odd paisa goes to SGST.
        assert abs(tax.cgst_paise * 20_000 - taxable * rate) < 20_000
        assert 0 <= tax.sgst_paise - tax.cgst_paise <= 1
    else:
        assert tax.cgst_paise == tax.sgst_paise == 0 and tax.interstate
        assert tax.igst_paise == tax.tax_paise


@pytest.mark.parametrize(
    ("taxable", "cgst", "sgst"),
    [
        (500_000, 45_000, 45_000),  # ₹5,000 → ₹450 + ₹450
        (1, 0, 0),  # 0.18 paise rounds to nothing
        (3, 0, 1),  # 0.54 → 1 paisa in all; SGST takes the odd paisa
        (25, 2, 3),  # 4.5 → 5: 2 + 3
        (1_001, 90, 90),  # 180.18 → 180
        (1_003, 90, 91),  # 180.54 → 181: the odd paisa
    ],
)
def test_odd_paisa_cases_within_a_state(taxable, cgst, sgst):
    tax = gst.compute_tax(
        taxable_paise=taxable, rate_bp=1800, supplier_state="29", place_of_supply="29"
    )
    assert (tax.cgst_paise, tax.sgst_paise, tax.igst_paise) == (cgst, sgst, 0)


def test_across_states_the_whole_tax_is_igst():
    tax = gst.compute_tax(
        taxable_paise=500_000, rate_bp=1800, supplier_state="29", place_of_supply="27"
    )
    assert (tax.cgst_paise, tax.sgst_paise, tax.igst_paise, tax.total_paise) == (
        0,
        0,
        90_000,
        590_000,
    )


def test_every_state_and_union_territory_has_its_code():
    assert len(gst.STATES) == 36  # 28 states and 8 union territories
    assert gst.STATES["27"] == "Maharashtra" and gst.STATES["38"] == "Ladakh"
    assert gst.STATES["26"] == "Dadra and Nagar Haveli and Daman and Diu"


@pytest.mark.parametrize(
    ("typed", "state", "clean"),
    [
        ("27AABCU9603R1ZN", "27", "27AABCU9603R1ZN"),
        ("27aabcu9603r1zn", "27", "27AABCU9603R1ZN"),  # lower case
        (" 27 AABCU 9603R1ZN ", "27", "27AABCU9603R1ZN"),  # spaces
        ("29AAACA1234A1ZG", "29", "29AAACA1234A1ZG"),
    ],
)
def test_a_valid_gstin_is_kept_in_its_one_form(typed, state, clean):
    assert gst.clean_gstin(typed, state_code=state) == clean


@pytest.mark.parametrize(
    ("typed", "state", "message"),
    [
        ("27AABCU9603R1ZM", "27", "not a valid GSTIN (the number's checksum"),
        ("27AABCU9603R1Z", "27", "not a valid GSTIN"),
        ("hello", "27", "not a valid GSTIN"),
        ("27AABCU9603R1ZN", "29", "registered in Maharashtra (27), not in Karnataka (29)"),
    ],
)
def test_a_bad_gstin_is_refused_with_a_clear_message(typed, state, message):
    with pytest.raises(AntidoteError, match=message.replace("(", r"\(").replace(")", r"\)")):
        gst.clean_gstin(typed, state_code=state)


@pytest.mark.parametrize(
    ("paise", "words"),
    [
        (590_000, "Rupees Five Thousand Nine Hundred Only"),
        (100, "Rupees One Only"),
        (1_18_000_00, "Rupees One Lakh Eighteen Thousand Only"),
        (2_50_00_000_00, "Rupees Two Crore Fifty Lakh Only"),
        (1_180_50, "Rupees One Thousand One Hundred Eighty and Fifty Paise Only"),
        (99, "Rupees Zero and Ninety-Nine Paise Only"),
        (10**12, "Rupees One Thousand Crore Only"),
    ],
)
def test_amount_in_words_indian_style(paise, words):
    assert gst.amount_in_words(paise) == words


def test_the_financial_year_turns_on_the_first_of_april():
    assert gst.financial_year(date(2027, 3, 31)) == 2026
    assert gst.financial_year(date(2027, 4, 1)) == 2027
    assert gst.financial_year_label(2026) == "26-27"
    assert gst.financial_year_label(2099) == "99-00"
