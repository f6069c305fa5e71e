"""CSV for spreadsheets: the one way this project writes CSV, so no cell can start a formula.

A spreadsheet runs a cell that starts with ``=``, ``+``, ``-`` or ``@`` (and, in some, one that
starts with a tab or carriage return) as a formula: a memo like ``=HYPERLINK(...)`` in a
clinic's export would send its data elsewhere when opened. Following OWASP, such text gets a
leading ``'``, which spreadsheets show as plain text.

Only text is escaped. Numbers (credits, balances, ids) are values we computed, not user text,
so ``-100`` stays a number that sums in its column; a number that arrives as text is escaped.
"""

import csv
from collections.abc import Iterator

from django.core.exceptions import EmptyResultSet
from django.db import connections, transaction
from django.db.models import F, Func, TextField
from django.utils import timezone

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value):
    """``value``, with a leading ``'`` if it is text that a spreadsheet would run."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


class _SafeWriter:
    def __init__(self, writer):
        self._writer = writer

    def writerow(self, row):
        return self._writer.writerow([safe_cell(value) for value in row])

    def writerows(self, rows):
        for row in rows:
            self.writerow(row)


def csv_writer(stream, **options) -> _SafeWriter:
    """A ``csv.writer`` on ``stream`` whose every text cell passes through ``safe_cell``."""
    return _SafeWriter(csv.writer(stream, **options))


class _Echo:
    """A file-like that hands each CSV line back instead of keeping it."""

    def write(self, value):
        return value


def csv_lines(rows):
    """Each row as one formula-safe CSV line, lazily: for a ``StreamingHttpResponse``."""
    writer = csv_writer(_Echo())
    for row in rows:
        yield writer.writerow(row)


# Exports of many rows -----------------------------------------------------------------------
#
# A column of an export is (header, field path, kind). Text is user text and gets the rule
# above; a time is written as ``timezone.localtime(value).isoformat()``; a number as is. On
# PostgreSQL the rows come out of ``COPY (SELECT …) TO STDOUT`` with both rules applied in SQL
# by the twins below (``SafeText``, ``LocalIsoTime``), so no row passes through Python
# objects; elsewhere (SQLite) they go through ``csv_writer``. Both give the same bytes: the
# tests compare them on hostile text.

TEXT, TIME, NUMBER = "text", "time", "number"
EXPORT_BATCH_ROWS = 2_000


def _safe_text_sql(sql: str) -> str:
    """``safe_cell`` in SQL, over the text expression ``sql`` (which appears three times).

    An empty text is written as NULL: COPY quotes an empty string (``""``) to tell it from a
    NULL, the csv module writes nothing for both."""
    starts = ", ".join(f"chr({ord(character)})" for character in FORMULA_STARTS)
    return f"NULLIF(CASE WHEN left({sql}, 1) IN ({starts}) THEN '''' || {sql} ELSE {sql} END, '')"


class _Twin(Func):
    """A one-argument SQL function written by ``template(sql)``, which may repeat ``sql``."""

    output_field = TextField()

    def template_sql(self, sql: str) -> str:
        raise NotImplementedError

    def as_sql(self, compiler, connection, **extra):
        sql, params = compiler.compile(self.get_source_expressions()[0])
        marker = "\x00"
        written = self.template_sql(marker)
        return written.replace(marker, sql), tuple(params) * written.count(marker)


class SafeText(_Twin):
    """PostgreSQL: the text expression with ``safe_cell``'s leading ``'`` where it needs one."""

    def template_sql(self, sql):
        return _safe_text_sql(sql)


# ``isoformat()`` leaves out a zero fraction of a second; the session's time zone (set to the
# current one around the COPY) gives the offset, as ±HH:MM.
_LOCAL_ISO_SQL = "replace(to_char({}, 'YYYY-MM-DD\"T\"HH24:MI:SS.USTZH:TZM'), '.000000', '')"


class LocalIsoTime(_Twin):
    """PostgreSQL: the time as ``timezone.localtime(value).isoformat()`` writes it, when the
    session's time zone is the current one (``export_csv`` sees to it)."""

    def template_sql(self, sql):
        return _LOCAL_ISO_SQL.format(sql)


def export_csv(queryset, columns) -> Iterator[tuple[int, str]]:
    """The rows of ``queryset`` (in its order) as formula-safe CSV, in constant memory.

    Yields ``(rows, text)``: the header first (0 rows), then batches of whole lines."""
    writer = csv_writer(_Echo())
    yield 0, writer.writerow([header for header, _, _ in columns])
    if connections[queryset.db].vendor == "postgresql":
        yield from _copied(queryset, columns)
        return
    times = [i for i, (_, _, kind) in enumerate(columns) if kind == TIME]
    batch = []
    for row in queryset.values_list(*(path for _, path, _ in columns)).iterator(
        chunk_size=EXPORT_BATCH_ROWS
    ):
        row = list(row)
        for i in times:
            row[i] = timezone.localtime(row[i]).isoformat()
        batch.append(writer.writerow(row))
        if len(batch) == EXPORT_BATCH_ROWS:
            yield len(batch), "".join(batch)
            batch = []
    if batch:
        yield len(batch), "".join(batch)


def _copied(queryset, columns) -> Iterator[tuple[int, str]]:
    wrap = {TEXT: SafeText, TIME: LocalIsoTime, NUMBER: lambda field: field}
    cells = {f"cell_{i}": wrap[kind](F(path)) for i, (_, path, kind) in enumerate(columns)}
    try:
        sql, params = queryset.prefetch_related(None).values(**cells).query.sql_with_params()
    except EmptyResultSet:  # a queryset.none()
        return
    statement = f"COPY ({sql}) TO STDOUT (FORMAT csv)"
    connection = connections[queryset.db]
    zone = timezone.get_current_timezone_name()
    # A transaction so that the time zone set here (for LocalIsoTime) is undone however the
    # export ends; it is set back explicitly too, for a caller's transaction that goes on.
    with transaction.atomic(using=queryset.db), connection.cursor() as cursor:
        cursor.execute("SELECT set_config('TimeZone', %s, true)", [zone])
        # Client-side binding (Django's default cursor): COPY takes no server parameters.
        with cursor.cursor.copy(statement, params) as copy:
            batch = []
            # The server sends one message per row, ending in "\n" (the protocol promises it):
            # the csv module ends a line with "\r\n" (RFC 4180), and so does this export.
            for row in copy:
                batch.append(row[:-1])
                if len(batch) == EXPORT_BATCH_ROWS:
                    yield len(batch), (b"\r\n".join(batch) + b"\r\n").decode()
                    batch = []
            if batch:
                yield len(batch), (b"\r\n".join(batch) + b"\r\n").decode()
        cursor.execute("SELECT set_config('TimeZone', %s, true)", [connection.timezone_name])
