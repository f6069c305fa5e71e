"""CSV for spreadsheets: the one way this project writes CSV, so no cell can start a formula.

A spreadsheet runs a cell that starts with ``=``, ``+``, ``-`` or ``@`` (and, in some, one that
starts with a tab or carriage return) as a formula: a memo like ``=HYPERLINK(...)`` in a
clinic's export would send its data elsewhere when opened. Following OWASP, such text gets a
leading ``'``, which spreadsheets show as plain text.

Only text is escaped. Numbers (credits, balances, ids) are values we computed, not user text,
so ``-100`` stays a number that sums in its column; a number that arrives as text is escaped.
"""

import csv

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
