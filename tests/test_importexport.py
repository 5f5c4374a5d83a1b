"""CSV import/export: bad rows reported and skipped, good rows imported, repeats are no-ops."""

from __future__ import annotations

import csv
import time
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from crm.audit import revert
from crm.customers import add_order, create_customer
from crm.errors import ValidationError
from crm.importexport import COLUMNS, export_csv, import_csv
from crm.leads import create_lead, set_lead_status
from crm.models import AuditLog, Customer, IdempotencyKey, Lead, Order, StageChange
from tests.conftest import Workspace

if TYPE_CHECKING:
    from tests.conftest import TestDB

SOURCES = ("website", "referral", "event", "cold_call", "social", "email", "partner", "other")

# (column, bad value, expected field, fragment of the reason); 10 kinds x 5 = 50 bad rows
BAD = [
    ("email", "not-an-email", "email", "is not an email address"),
    ("value", "12x", "value", "is not an amount"),
    ("source", "billboard", "source", "is not one of website"),
    ("name", "", "name", "a value is required"),
    ("probability", "140", "probability", "is not between 0 and 100"),
    ("phone", "12", "phone", "is not a phone number"),
    ("priority", "urgent", "priority", "is not one of low"),
    ("status", "maybe", "status", "is not one of new"),
    ("assigned_to", "nobody@example.com", "assigned_to", "is not a member"),
    ("value", "-5", "value", "is negative"),
]


def _write(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def _leads_file(path: Path, total: int, bad_every: int, assignee: str) -> tuple[Path, dict]:
    """``total`` lead rows; every ``bad_every``-th one is broken in one of the BAD ways."""
    header = list(COLUMNS["leads"][:10])
    rows: list[list[str]] = []
    expected: dict[int, tuple[str, str]] = {}  # line -> (field, reason fragment)
    for i in range(total):
        row = [
            f"Lead {i}",
            f"lead{i}@example.com",
            "",
            f"Company {i % 97}",
            SOURCES[i % len(SOURCES)],
            f"{(i % 50 + 1) * 1000}",
            str(i % 101),
            ("low", "medium", "high")[i % 3],
            ("new", "contacted", "qualified")[i % 3],
            assignee if i % 4 == 0 else "",
        ]
        if i % bad_every == bad_every - 1:
            column, value, field, reason = BAD[len(expected) % len(BAD)]
            row[header.index(column)] = value
            expected[i + 2] = (field, reason)  # the header is line 1
        rows.append(row)
    return _write(path, header, rows), expected


def _counts() -> tuple[int, ...]:
    return (
        Lead.select().count(),
        StageChange.select().count(),
        AuditLog.select().count(),
        IdempotencyKey.select().count(),
    )


@pytest.mark.slow
def test_ten_thousand_leads_with_fifty_bad_rows(db: TestDB, acme: Workspace, tmp_path: Path):
    path, expected = _leads_file(tmp_path / "leads.csv", 10_000, 200, acme.rep.slack_user_id)
    assert len(expected) == 50

    ticks: list[tuple[int, int]] = []
    started = time.monotonic()
    report = import_csv(acme.system, "leads", path, progress=lambda d, t: ticks.append((d, t)))
    first = time.monotonic() - started
    print(f"\n{db.backend}: 10,000-row lead import took {first:.1f} s")

    assert (report.rows, report.created, report.already_present) == (10_000, 9_950, 0)
    assert [(r.line, r.field) for r in report.rejected] == [
        (line, field) for line, (field, _) in sorted(expected.items())
    ]
    for r in report.rejected:
        assert expected[r.line][1] in r.reason, (r, expected[r.line])
    assert ticks[0] == (0, 10_000) and ticks[-1] == (10_000, 10_000)
    assert Lead.select().where(Lead.company == acme.company.id).count() == 9_950
    # rows were typed and went through the service: status history and audit for each
    lead = Lead.get(Lead.email == "lead4@example.com")
    assert (lead.estimated_value, lead.probability, lead.source) == (Decimal(5000), 4, "social")
    assert lead.assigned_to_id == acme.rep.id and lead.status == "contacted"
    moves = StageChange.select().where(
        (StageChange.entity_type == "lead") & (StageChange.entity_id == lead.id)
    )
    assert [(m.from_stage, m.to_stage) for m in moves.order_by(StageChange.id)] == [
        (None, "new"),
        ("new", "contacted"),
    ]
    created_audit = AuditLog.select().where(
        (AuditLog.entity_type == "lead") & (AuditLog.action == "create")
    )
    assert created_audit.count() == 9_950
    assert {a.origin for a in created_audit} == {"cli"}

    before = _counts()
    again = import_csv(acme.system, "leads", path)
    assert (again.created, again.already_present, len(again.rejected)) == (0, 9_950, 50)
    assert _counts() == before
    assert again.seconds < first


def test_rejected_row_changes_nothing_and_good_rows_around_it_import(
    db: TestDB, acme: Workspace, tmp_path: Path
) -> None:
    path = _write(
        tmp_path / "leads.csv",
        ["name", "email", "status", "lost_reason"],
        [
            ["Ann", "ann@example.com", "lost", "went elsewhere"],
            ["Bob", "bob@example.com", "lost", ""],  # a lost lead needs its reason
            ["Cat", "cat@example.com", "won", ""],
        ],
    )
    report = import_csv(acme.system, "leads", path)
    assert [(r.line, r.field) for r in report.rejected] == [(3, "lost_reason")]
    assert sorted(lead.name for lead in Lead.select()) == ["Ann", "Cat"]
    assert Lead.get(Lead.name == "Ann").lost_reason == "went elsewhere"
    assert [s.to_stage for s in StageChange.select().order_by(StageChange.id)] == [
        "new", "new", "lost", "won"
    ]  # fmt: skip
    # a batch is one change: Undo removes the batch, and the file can be imported again
    assert len(report.change_ids) == 1
    revert(acme.system, report.change_ids[0])
    assert Lead.select().count() == 0 and StageChange.select().count() == 0
    again = import_csv(acme.system, "leads", path)
    assert (again.created, again.already_present) == (2, 0)


def test_same_person_entered_elsewhere_is_already_present(
    db: TestDB, acme: Workspace, tmp_path: Path
) -> None:
    create_lead(acme.actor(acme.rep), name="Jane Doe", email="JANE@example.com")
    path = _write(
        tmp_path / "leads.csv",
        ["name", "email", "phone", "company"],
        [
            ["Jane D.", "jane@example.com", "", ""],  # same email as the Slack-made lead
            ["Jane Doe", "", "", "Acme"],
            ["jane  doe", "", "", "ACME"],  # same name + company as the row above
            ["Jo", "", "+260 97 1234567", ""],
            ["Jo again", "", "0971234567", ""],  # the same phone, typed locally
        ],
    )
    report = import_csv(acme.system, "leads", path)
    assert (report.created, report.already_present, report.rejected) == (2, 3, [])


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "the file is empty"),
        ("name,email,colour\nAnn,a@example.com,red\n", "unknown column(s) 'colour'"),
        ("email,phone\na@example.com,\n", "required column(s) name missing"),
        ("name,email,Email\nAnn,a@example.com,b@example.com\n", "more than once"),
    ],
)
def test_unusable_files_are_refused_whole(
    db: TestDB, acme: Workspace, tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "leads.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ValidationError, match="file") as info:
        import_csv(acme.system, "leads", path)
    assert message in info.value.message
    assert Lead.select().count() == 0


def test_non_utf8_and_missing_files_are_refused(
    db: TestDB, acme: Workspace, tmp_path: Path
) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes("name\nJosé\n".encode("latin-1"))
    with pytest.raises(ValidationError, match="UTF-8"):
        import_csv(acme.system, "leads", path)
    with pytest.raises(ValidationError, match="not a readable file"):
        import_csv(acme.system, "leads", tmp_path / "missing.csv")


def test_row_with_extra_values_and_multiline_cells(
    db: TestDB, acme: Workspace, tmp_path: Path
) -> None:
    path = tmp_path / "customers.csv"
    path.write_text(
        "\ufeffName,Email,Company Name,tags\n"  # BOM, case and an alias are accepted
        'Ann,ann@example.com,"Acme\nHoldings","vip; Retail"\n'
        "Bob,bob@example.com,Beta,x,surplus\n"
        "\n"
        "Cy,cy@example.com,Gamma,\n",
        encoding="utf-8",
    )
    report = import_csv(acme.system, "customers", path)
    assert [(r.line, r.field) for r in report.rejected] == [(4, "row")]
    assert report.created == 2
    ann = Customer.get(Customer.email == "ann@example.com")
    assert ann.tags == ["vip", "retail"] and ann.company_name == "Acme Holdings"


def test_orders_resolve_customers_and_repeat_safely(
    db: TestDB, acme: Workspace, globex: Workspace, tmp_path: Path
) -> None:
    ann = create_customer(acme.system, name="Ann", email="ann@example.com")
    bob = create_customer(acme.system, name="Bob")
    foreign = create_customer(globex.system, name="Foreign", email="f@example.com")
    path = _write(
        tmp_path / "orders.csv",
        ["customer", "amount", "cost", "date", "ref"],
        [
            ["ann@example.com", "1,200.50", "700", "2025-01-15", "A-1"],
            [f"C{bob.id}", "300", "", "2025-02-01 10:00", ""],
            [str(bob.id), "400", "", "", "B-2"],
            ["f@example.com", "100", "", "", "X-1"],  # another company's customer
            [f"C{foreign.id}", "100", "", "", "X-2"],
            ["ann@example.com", "0", "", "", "A-0"],
            ["ann@example.com", "50", "", "2099-01-01", "A-9"],  # future
            ["ann@example.com", "10", "", "", "A-1"],  # same ref again in the file
        ],
    )
    report = import_csv(acme.system, "orders", path)
    assert [(r.line, r.field) for r in report.rejected] == [
        (5, "customer"),
        (6, "customer"),
        (7, "amount"),
        (8, "date"),
    ]
    assert (report.created, report.already_present) == (3, 1)
    first = Order.get(Order.external_ref == "A-1")
    assert (first.customer_id, first.amount, first.cost) == (ann.id, Decimal("1200.50"), 700)
    assert first.ordered_at.date().isoformat() == "2025-01-15"

    before = Order.select().count()
    again = import_csv(acme.system, "orders", path)
    assert (again.created, again.already_present) == (0, 4)
    assert Order.select().count() == before


def test_export_import_round_trip(
    db: TestDB, acme: Workspace, globex: Workspace, tmp_path: Path
) -> None:
    rep = acme.actor(acme.rep)
    a = create_lead(rep, name="Ann", email="ann@example.com", source="referral",
                    estimated_value=Decimal("1500.25"), probability=30, priority="high",
                    phone="0971234567", company_name="Acme, Inc.")  # fmt: skip
    create_lead(acme.system, name="Bob", company_name="Beta", assigned_to_id=None)
    set_lead_status(rep, a.id, "lost", reason='said "no", for now')
    c = create_customer(rep, name="Cy", email="cy@example.com", tags=["vip", "retail"],
                        industry="retail", company_name="Gamma")  # fmt: skip
    add_order(rep, c.id, amount=Decimal("99.99"), cost=Decimal(50), external_ref="S-1")
    add_order(rep, c.id, amount=Decimal(10))  # no reference

    files = {k: tmp_path / f"{k}.csv" for k in ("leads", "customers", "orders")}
    assert [export_csv(acme.system, k, f) for k, f in files.items()] == [2, 1, 2]
    exported = {k: list(csv.reader(f.open(newline=""))) for k, f in files.items()}
    # leads and customers start with their reference; a phone's leading + is neutralised
    assert exported["leads"][0] == ["ref", *COLUMNS["leads"]]
    assert exported["leads"][1] == [
        f"L{a.id}", "Ann", "ann@example.com", "'+260971234567", "Acme, Inc.", "referral",
        "1500.25", "30", "high", "lost", acme.rep.slack_user_id, 'said "no", for now',
    ]  # fmt: skip
    assert exported["customers"][1] == [
        f"C{c.id}",
        "Cy",
        "cy@example.com",
        "",
        "Gamma",
        "retail",
        "vip,retail",
    ]

    # into the same workspace: everything is already there
    for kind, f in files.items():
        report = import_csv(acme.system, kind, f)
        assert (report.created, report.rejected) == (0, []), kind

    # into another workspace (whose members differ, so leads go unassigned): the same rows
    exported["leads"] = [exported["leads"][0]] + [
        [*r[:10], "", r[11]] for r in exported["leads"][1:]
    ]
    _write(files["leads"], exported["leads"][0], exported["leads"][1:])
    for kind, f in files.items():
        report = import_csv(globex.system, kind, f)
        assert (report.created, report.rejected) == (len(exported[kind]) - 1, []), kind
        again = tmp_path / f"globex-{kind}.csv"
        export_csv(globex.system, kind, again)
        rows = list(csv.reader(again.open(newline="")))
        if kind == "orders":  # the order without a reference got a stable derived one
            assert rows[2][4].startswith("csv:")
            rows[2][4] = ""
        else:  # the references are globex's own
            assert [r[0][0] for r in rows[1:]] == [kind[0].upper()] * (len(rows) - 1)
            rows = [r[1:] for r in rows]
            exported[kind] = [r[1:] for r in exported[kind]]
        assert rows == exported[kind], kind
