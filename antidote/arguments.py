"""Argument types for every management command: parse operator input once, refuse it clearly.

Each is an argparse ``type=``: a bad value raises ``argparse.ArgumentTypeError``, so argparse
prints the usage and the reason and the command exits with code 2 before it touches anything
(``call_command`` raises ``CommandError("Error: argument …")`` instead). Numbers are plain
ASCII digits (``int()`` would also take ``²``'s neighbours such as ``٣``, and ``str.isdigit()``
takes ``²`` itself), and every number has an upper bound, so no value reaches a ``timedelta``
or a database column that cannot hold it.
"""

import argparse
import re
import unicodedata
from datetime import date

ASCII_INTEGER = re.compile(r"-?[0-9]{1,19}")
ISO_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
ISO_MONTH = re.compile(r"([0-9]{4})-(0[1-9]|1[0-2])")
SLUG = re.compile(r"[-a-zA-Z0-9_]{1,200}")
# The largest id a BigAutoField holds.
MAX_ID = 2**63 - 1


def bounded_int(*, minimum: int, maximum: int, unit: str = ""):
    """A type for a whole number from ``minimum`` to ``maximum`` (inclusive)."""
    suffix = f" {unit}" if unit else ""

    def parse(value: str) -> int:
        if not ASCII_INTEGER.fullmatch(value):
            raise argparse.ArgumentTypeError(f"{value[:40]!r} is not a whole number.")
        number = int(value)
        if not minimum <= number <= maximum:
            raise argparse.ArgumentTypeError(
                f"{number:,} is out of range: give {minimum:,} to {maximum:,}{suffix}."
            )
        return number

    parse.__name__ = "whole number"  # argparse names the type in some of its messages
    return parse


def iso_date(value: str) -> date:
    """A day written YYYY-MM-DD (not date.fromisoformat's other forms, such as 2026W01)."""
    try:
        if not ISO_DAY.fullmatch(value):
            raise ValueError
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value[:40]!r} is not a date (YYYY-MM-DD).") from None


def year_month(value: str) -> date:
    """A month written YYYY-MM (the first day of it), from 2000 on."""
    try:
        if not re.fullmatch(r"[0-9]{4}-[0-9]{2}", value):
            raise ValueError
        parsed = date.fromisoformat(f"{value}-01")
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{value[:40]!r} is not a month (YYYY-MM, e.g. 2026-04)."
        ) from None
    if parsed.year < 2000:
        raise argparse.ArgumentTypeError(f"{value} is before the ledger began.")
    return parsed


def iso_month(value: str) -> date:
    """A month written YYYY-MM, as its first day."""
    match = ISO_MONTH.fullmatch(value)
    if not match or int(match[1]) < 1:
        raise argparse.ArgumentTypeError(f"{value[:40]!r} is not a month (YYYY-MM).")
    return date(int(match[1]), int(match[2]), 1)


def clinic_ref(value: str) -> str:
    """A clinic's id (ASCII digits) or slug, as written; the command looks it up."""
    if ASCII_INTEGER.fullmatch(value) and not value.startswith("-"):
        if not 1 <= int(value) <= MAX_ID:
            raise argparse.ArgumentTypeError(f"{value[:40]!r} is no clinic id.")
        return value
    if not SLUG.fullmatch(value):
        raise argparse.ArgumentTypeError(
            f"{value[:40]!r} is neither a clinic id nor a slug (letters, digits, - and _)."
        )
    return value


def text(*, max_length: int, what: str):
    """A type for one line of text: not empty, no control characters, at most ``max_length``."""

    def parse(value: str) -> str:
        if not value.strip():
            raise argparse.ArgumentTypeError(f"give a {what}; it cannot be empty.")
        if len(value) > max_length:
            raise argparse.ArgumentTypeError(f"a {what} has at most {max_length} characters.")
        # Cs: a byte that is not UTF-8 on the command line arrives as a lone surrogate.
        if any(unicodedata.category(char) in ("Cc", "Cs") for char in value):
            raise argparse.ArgumentTypeError(f"a {what} cannot contain control characters.")
        return value

    parse.__name__ = what
    return parse


# Which lookups the commands share.
username = text(max_length=150, what="username")
file_path = text(max_length=4096, what="file path")
