"""GST arithmetic and reference data: states and their codes, tax heads, GSTINs, words, years.

Pure functions over integers (paise, basis points) and strings; no database. Every rupee
figure passed in is the taxable value, excluding GST.
"""

from dataclasses import dataclass
from datetime import date

from stdnum.exceptions import ValidationError as StdnumError
from stdnum.in_ import gstin as stdnum_gstin

from antidote.errors import AntidoteError

# Every state and union territory with its GST state code (the first two digits of a GSTIN).
# 25 (Daman and Diu) and 28 (Andhra Pradesh before 2014) are retired codes.
STATES: dict[str, str] = {
    "01": "Jammu and Kashmir",
    "02": "Himachal Pradesh",
    "03": "Punjab",
    "04": "Chandigarh",
    "05": "Uttarakhand",
    "06": "Haryana",
    "07": "Delhi",
    "08": "Rajasthan",
    "09": "Uttar Pradesh",
    "10": "Bihar",
    "11": "Sikkim",
    "12": "Arunachal Pradesh",
    "13": "Nagaland",
    "14": "Manipur",
    "15": "Mizoram",
    "16": "Tripura",
    "17": "Meghalaya",
    "18": "Assam",
    "19": "West Bengal",
    "20": "Jharkhand",
    "21": "Odisha",
    "22": "Chhattisgarh",
    "23": "Madhya Pradesh",
    "24": "Gujarat",
    "26": "Dadra and Nagar Haveli and Daman and Diu",
    "27": "Maharashtra",
    "29": "Karnataka",
    "30": "Goa",
    "31": "Lakshadweep",
    "32": "Kerala",
    "33": "Tamil Nadu",
    "34": "Puducherry",
    "35": "Andaman and Nicobar Islands",
    "36": "Telangana",
    "37": "Andhra Pradesh",
    "38": "Ladakh",
}
STATE_CHOICES = [(code, f"{name} ({code})") for code, name in STATES.items()]


def state_label(code: str) -> str:
    return f"{STATES.get(code, 'Unknown state')} ({code})"


@dataclass(frozen=True)
class Tax:
    """The GST on one taxable value: CGST + SGST within a state, IGST across states."""

    taxable_paise: int
    rate_bp: int
    cgst_paise: int
    sgst_paise: int
    igst_paise: int
    interstate: bool

    @property
    def tax_paise(self) -> int:
        return self.cgst_paise + self.sgst_paise + self.igst_paise

    @property
    def total_paise(self) -> int:
        return self.taxable_paise + self.tax_paise


def _round_div(numerator: int, denominator: int) -> int:
    """numerator / denominator to the nearest integer, halves away from zero (both >= 0)."""
    return (2 * numerator + denominator) // (2 * denominator)


def compute_tax(*, taxable_paise: int, rate_bp: int, supplier_state: str, place_of_supply: str):
    """The tax on a taxable value: the total rounded to the nearest paisa, then split.

    Within one state the total is split in half, so the heads always add up to the total: an
    odd paisa goes to SGST, and each head stays within a paisa of its exact half.
    """
    if taxable_paise < 0 or rate_bp < 0:
        raise ValueError("Taxable value and rate cannot be negative.")
    tax = _round_div(taxable_paise * rate_bp, 10_000)
    if supplier_state == place_of_supply:
        cgst = tax // 2
        return Tax(taxable_paise, rate_bp, cgst, tax - cgst, 0, False)
    return Tax(taxable_paise, rate_bp, 0, 0, tax, True)


def split_tax(*, tax_paise: int, taxable_paise: int, rate_bp: int, interstate: bool) -> Tax:
    """A known total tax split into heads the same way ``compute_tax`` splits it (credit
    notes reverse part of an invoice's tax)."""
    if interstate:
        return Tax(taxable_paise, rate_bp, 0, 0, tax_paise, True)
    cgst = tax_paise // 2
    return Tax(taxable_paise, rate_bp, cgst, tax_paise - cgst, 0, False)


def clean_gstin(value: str, *, state_code: str | None) -> str:
    """A GSTIN in its one form (upper case, no spaces), or a refusal a clinic can act on."""
    compact = stdnum_gstin.compact(value or "")
    try:
        stdnum_gstin.validate(compact)
    except StdnumError as error:
        raise AntidoteError(
            f"{value.strip()!r} is not a valid GSTIN ({error.message.rstrip('.').lower()}). "
            "A GSTIN has 15 characters, e.g. 27AABCU9603R1ZN."
        ) from error
    if state_code is not None and compact[:2] != state_code:
        raise AntidoteError(
            f"The GSTIN {compact} is registered in {state_label(compact[:2])}, not in "
            f"{state_label(state_code)}. Choose the state the GSTIN belongs to."
        )
    return compact


_ONES = [
    "Zero",
    "One",
    "Two",
    "Three",
    "Four",
    "Five",
    "Six",
    "Seven",
    "Eight",
    "Nine",
    "Ten",
    "Eleven",
    "Twelve",
    "Thirteen",
    "Fourteen",
    "Fifteen",
    "Sixteen",
    "Seventeen",
    "Eighteen",
    "Nineteen",
]
_TENS = ["_", "_", "Twenty", "Thirty", "Forty", "Fifty", "Sixty", "Seventy", "Eighty", "Ninety"]


def _below_thousand(n: int) -> list[str]:
    words = []
    if n >= 100:
        words += [_ONES[n // 100], "Hundred"]
        n %= 100
    if n >= 20:
        words.append(_TENS[n // 10] + ("-" + _ONES[n % 10] if n % 10 else ""))
    elif n:
        words.append(_ONES[n])
    return words


def _indian_words(n: int) -> list[str]:
    if n == 0:
        return ["Zero"]
    words = []
    for size, name in ((10**7, "Crore"), (10**5, "Lakh"), (1000, "Thousand")):
        if n >= size:
            # Above 99 crore the count of crores is itself said in the Indian way.
            words += _indian_words(n // size) if size == 10**7 else _below_thousand(n // size)
            words.append(name)
            n %= size
    return words + _below_thousand(n)


def amount_in_words(paise: int) -> str:
    """Rupees in words, Indian style: 590000 → "Rupees Five Thousand Nine Hundred Only"."""
    rupees, rest = divmod(paise, 100)
    text = "Rupees " + " ".join(_indian_words(rupees))
    if rest:
        text += " and " + " ".join(_below_thousand(rest)) + " Paise"
    return text + " Only"


def financial_year(day: date) -> int:
    """The year in which the Indian financial year (April to March) containing ``day`` began."""
    return day.year if day.month >= 4 else day.year - 1


def financial_year_label(start_year: int) -> str:
    return f"{start_year % 100:02d}-{(start_year + 1) % 100:02d}"
