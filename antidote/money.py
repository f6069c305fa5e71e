"""Formatting numbers and money at the edge, in Indian style (₹1,00,000; 21,140 credits).

Amounts stay integers (credits, paise) everywhere else. The grouping is Babel's ``en_IN``
locale, not a hand-written rule, so lakhs and crores come out as an Indian reader expects.
"""

from decimal import Decimal

from babel.numbers import format_decimal

LOCALE = "en_IN"


def format_number(value: int | None) -> str:
    """``2114000`` → ``21,14,000``; ``None`` → ``—``."""
    if value is None:
        return "—"
    return format_decimal(value, locale=LOCALE)


def format_signed(value: int) -> str:
    """Credits with their sign: ``+1,00,000`` / ``-250`` / ``+0``."""
    sign = "-" if value < 0 else "+"
    return sign + format_number(abs(value))


def format_paise(paise: int | None) -> str:
    """``12345678`` → ``₹1,23,456.78``; whole rupees drop the paise (``₹5,000``)."""
    if paise is None:
        return "—"
    sign = "-" if paise < 0 else ""
    rupees, rest = divmod(abs(paise), 100)
    if not rest:
        return f"{sign}₹{format_number(rupees)}"
    # Decimal, never float: 123456.78 is exact here.
    exact = Decimal(abs(paise)).scaleb(-2)
    return f"{sign}₹" + format_decimal(exact, format="#,##,##0.00", locale=LOCALE)
