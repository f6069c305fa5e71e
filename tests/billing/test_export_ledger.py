"""export_ledger --out: a complete file under the final name or none; never an overwrite
without --force."""

import csv

import pytest

from antidote import csv as csv_module
from billing.management.commands import export_ledger
from tests.commands import run_command
from tests.factories import ClinicFactory, fund

pytestmark = pytest.mark.django_db


def _ledger(entries=3):
    clinic = ClinicFactory()
    for _ in range(entries):
        fund(clinic, 100)
    return clinic


def _crash_after(monkeypatch, rows):
    """The database connection drops mid-export: the rows after ``rows`` never arrive."""
    monkeypatch.setattr(csv_module, "EXPORT_BATCH_ROWS", 1)  # a batch is a row
    real = export_ledger.export_csv

    def export_csv(entries, columns):
        written = 0
        for count, text in real(entries, columns):
            if written + count > rows:
                raise ConnectionError("server closed the connection unexpectedly (test)")
            written += count
            yield count, text

    monkeypatch.setattr(export_ledger, "export_csv", export_csv)


def test_export_writes_the_file_and_leaves_nothing_else_beside_it(tmp_path):
    _ledger()
    out = tmp_path / "ledger.csv"
    code, output = run_command("export_ledger", "--out", str(out))
    assert code == 0
    assert "Wrote 3 ledger entries" in output
    assert len(list(csv.reader(out.open()))) == 4
    assert [p.name for p in tmp_path.iterdir()] == ["ledger.csv"]


def test_export_refuses_to_overwrite_an_existing_file_without_force(tmp_path):
    _ledger()
    out = tmp_path / "ledger.csv"
    out.write_text("last month's export\n")
    code, output = run_command("export_ledger", "--out", str(out))
    assert code == 2
    assert "already exists; add --force to replace it" in output
    assert out.read_text() == "last month's export\n"
    assert [p.name for p in tmp_path.iterdir()] == ["ledger.csv"]


def test_export_with_force_replaces_the_file(tmp_path):
    _ledger()
    out = tmp_path / "ledger.csv"
    out.write_text("last month's export\n")
    code, _ = run_command("export_ledger", "--out", str(out), "--force")
    assert code == 0
    assert len(list(csv.reader(out.open()))) == 4


def test_a_crash_mid_export_leaves_no_file_under_the_final_name(tmp_path, monkeypatch):
    _ledger()
    out = tmp_path / "ledger.csv"
    _crash_after(monkeypatch, rows=2)
    with pytest.raises(ConnectionError):
        run_command("export_ledger", "--out", str(out))
    assert not out.exists()  # no truncated CSV a cron job or a person could take for complete
    assert list(tmp_path.iterdir()) == []  # and the temporary file is gone


def test_a_crash_mid_export_with_force_keeps_the_old_file_whole(tmp_path, monkeypatch):
    _ledger()
    out = tmp_path / "ledger.csv"
    out.write_text("last month's export\n")
    _crash_after(monkeypatch, rows=2)
    with pytest.raises(ConnectionError):
        run_command("export_ledger", "--out", str(out), "--force")
    assert out.read_text() == "last month's export\n"
    assert [p.name for p in tmp_path.iterdir()] == ["ledger.csv"]


def test_the_exported_file_has_the_usual_permissions(tmp_path):
    _ledger(1)
    out = tmp_path / "ledger.csv"
    run_command("export_ledger", "--out", str(out))
    reference = tmp_path / "reference"
    reference.write_text("")  # made by open(), as the export used to be
    assert out.stat().st_mode == reference.stat().st_mode
