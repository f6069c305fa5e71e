"""Times shown to people: always in India Standard Time, the business's only time zone.

The database keeps UTC; ``str(datetime)`` would show it raw (``2026-12-01 11:30:00+00:00``),
which is how the admin's dispute and clinic pages once showed UTC beside IST.
"""

from django.utils import timezone


def format_ist(moment) -> str:
    """``1 Dec 2026, 17:00 IST``; ``—`` for no time."""
    if moment is None:
        return "—"
    return f"{timezone.localtime(moment):%-d %b %Y, %H:%M} IST"


def format_ist_column(moment) -> str:
    """``1 Dec 2026, 17:00``, for an admin list's column headed "… (IST)"; ``—`` for no time.

    Django's own rendering of a datetime cell (its localized DATETIME_FORMAT, built a
    character at a time) costs five times as much, on each of 100 rows."""
    if moment is None:
        return "—"
    return f"{timezone.localtime(moment):%-d %b %Y, %H:%M}"
