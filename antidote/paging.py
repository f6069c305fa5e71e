"""Paging and counting that stay cheap on big tables.

Pages are found by keyset: from the id at their edge, through an index that ends in the id,
never by OFFSET (which reads and throws away every row before the page).

Counts are exact up to a cap and the planner's estimate above it.

A full ``COUNT(*)`` over a million ledger rows costs more than the page that shows it. Up to
``EXACT_UP_TO`` rows the count is exact (it stops reading at the cap); above that, on
PostgreSQL, it is the query planner's row estimate (from the table's statistics, which ANALYZE
and autovacuum keep current), never below the cap, and flagged as an estimate. Other databases
(SQLite in development) count in full.
"""

import json
from dataclasses import dataclass, field

from django import forms
from django.core.paginator import Paginator
from django.db import connections
from django.utils.functional import cached_property

EXACT_UP_TO = 10_000


@dataclass(frozen=True)
class RowCount:
    value: int
    is_estimate: bool


def planner_estimate(queryset) -> int:
    """PostgreSQL's estimate of the rows ``queryset`` returns (EXPLAIN, nothing is read)."""
    compiler = queryset.query.get_compiler(queryset.db)
    sql, params = compiler.as_sql()
    with connections[queryset.db].cursor() as cursor:
        cursor.execute("EXPLAIN (FORMAT JSON) " + sql, params)
        plan = cursor.fetchone()[0]
    if isinstance(plan, str):
        plan = json.loads(plan)
    return int(plan[0]["Plan"]["Plan Rows"])


def count_rows(queryset) -> RowCount:
    """How many rows ``queryset`` has: exact up to ``EXACT_UP_TO``, estimated above it."""
    exact_up_to = EXACT_UP_TO
    if connections[queryset.db].vendor != "postgresql":
        return RowCount(queryset.count(), is_estimate=False)
    capped = queryset.order_by()[: exact_up_to + 1].count()
    if capped <= exact_up_to:
        return RowCount(capped, is_estimate=False)
    estimate = planner_estimate(queryset.order_by())
    return RowCount(max(estimate, exact_up_to + 1), is_estimate=True)


class EstimatedCountPaginator(Paginator):
    """The admin's paginator for big tables: page links from ``count_rows``, not COUNT(*).

    The last pages may be off by the estimate's error: a page past the end is empty (the
    admin shows "0 results" there), never an error.
    """

    @cached_property
    def count(self):
        return count_rows(self.object_list).value


@dataclass(frozen=True)
class KeysetPage:
    """One page of rows, newest (highest id) first."""

    rows: list = field(default_factory=list)
    has_newer: bool = False
    has_older: bool = False

    @property
    def newest_id(self):
        return self.rows[0].pk if self.rows else None

    @property
    def oldest_id(self):
        return self.rows[-1].pk if self.rows else None


def keyset_page(queryset, *, before=None, after=None, size: int) -> KeysetPage:
    """The page of ``queryset`` (ordered newest first by id) just older than id ``before``,
    or just newer than id ``after`` (0: the oldest page), or else the newest page.

    The last page costs what the first does, and rows added between two requests never shift
    a page: walking either way, no row is skipped or shown twice.
    """
    if after is not None:
        rows = list(queryset.filter(pk__gt=after).order_by("pk")[: size + 1])
        has_older = bool(after) and queryset.filter(pk__lte=after).exists()
        return KeysetPage(rows[:size][::-1], has_newer=len(rows) > size, has_older=has_older)
    if before is not None:
        rows = list(queryset.filter(pk__lt=before).order_by("-pk")[: size + 1])
        has_newer = queryset.filter(pk__gte=before).exists()
    else:
        rows, has_newer = list(queryset.order_by("-pk")[: size + 1]), False
    return KeysetPage(rows[:size], has_newer=has_newer, has_older=len(rows) > size)


class CursorForm(forms.Form):
    """Where a page starts: just older than id ``before``, or just newer than id ``after``
    (``after=0``: the oldest page). Neither: the newest page."""

    before = forms.IntegerField(min_value=1, max_value=2**63 - 1, required=False)
    after = forms.IntegerField(min_value=0, max_value=2**63 - 1, required=False)

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("before") is not None and cleaned.get("after") is not None:
            raise forms.ValidationError("Give before or after, not both.")
        return cleaned

    def page_of(self, queryset, *, size: int) -> KeysetPage:
        """The page of ``queryset`` this (valid) form points at."""
        return keyset_page(
            queryset,
            before=self.cleaned_data["before"],
            after=self.cleaned_data["after"],
            size=size,
        )
