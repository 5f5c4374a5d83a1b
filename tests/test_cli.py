"""The real ``crm`` console script in a subprocess, against the test database (SPEC 9)."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from crm.acting import Actor
from crm.analytics import pipeline_summary, velocity, win_loss
from crm.models import ApiToken, Company, Customer, Lead, Opportunity, Order
from crm.parsing import format_money
from crm.tokens import authenticate
from tests.conftest import Workspace

if TYPE_CHECKING:
    from tests.conftest import TestDB

CRM = Path(sys.executable).with_name("crm")


def crm(db: TestDB, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "DATABASE_URL": db.url,
        "COLUMNS": "160",  # rich's table width when stdout is not a terminal
    }
    return subprocess.run(
        [str(CRM), *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=300
    )


def _one_line_error(result: subprocess.CompletedProcess[str], fragment: str) -> None:
    assert result.returncode == 2, result
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0], result.stderr


@pytest.mark.slow
def test_migrate_demo_pipeline_shows_the_demo_numbers(db: TestDB, tmp_path: Path) -> None:
    assert crm(db, "migrate", cwd=tmp_path).returncode == 0

    loaded = crm(db, "demo", cwd=tmp_path)
    assert loaded.returncode == 0, loaded.stderr
    assert "Loaded demo workspace TDEMO" in loaded.stdout
    company = Company.get(Company.team_id == "TDEMO")
    counts = {
        model.__name__: model.select().where(model.company == company.id).count()
        for model in (Lead, Customer, Opportunity, Order)
    }
    assert counts["Lead"] == 200 and counts["Customer"] == 150 and counts["Opportunity"] == 80
    assert counts["Order"] >= 1500

    again = crm(db, "demo", cwd=tmp_path)
    assert again.returncode == 0 and "already loaded" in again.stdout
    assert {
        m.__name__: m.select().where(m.company == company.id).count()
        for m in (Lead, Customer, Opportunity, Order)
    } == counts

    shown = crm(db, "pipeline", cwd=tmp_path)  # one workspace: no --team needed
    assert shown.returncode == 0, shown.stderr
    actor = Actor.system(company.id, "cli")
    summary = pipeline_summary(actor, team=True)
    speed = velocity(actor, team=True, period_days=90)
    outcome = win_loss(actor, team=True, period_days=90)
    assert summary.count > 0 and outcome.total.won_count > 0 and outcome.total.lost_count > 0
    lines = shown.stdout.splitlines()
    for stage in summary.stages:
        row = next(line for line in lines if stage.stage.replace("_", " ") in line)
        cells = [c.strip() for c in row.strip("│┃ ").split("│")]
        assert cells == [
            stage.stage.replace("_", " "),
            str(stage.count),
            format_money(stage.amount, company.currency),
            format_money(stage.weighted_amount, company.currency),
        ]
    total = next(line for line in lines if line.strip("│ ").startswith("total"))
    assert format_money(summary.weighted_amount, "ZMW") in total and str(summary.count) in total
    assert f"{format_money(speed.per_day, 'ZMW')} per day" in shown.stdout
    assert f"{outcome.total.win_rate_count * 100:.1f}% by count" in shown.stdout
    top = outcome.top_loss_reasons[0]
    assert any(top.reason in line and str(top.count) in line for line in lines)


def test_token_create_list_revoke(db: TestDB, acme: Workspace, tmp_path: Path) -> None:
    made = crm(db, "token", "create", "--team", "TACME", "--name", "web form", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    plaintext = made.stdout.strip().splitlines()[-1]
    actor = authenticate(plaintext)
    assert actor is not None and actor.company_id == acme.company.id
    token = ApiToken.get(ApiToken.company == acme.company.id)
    assert token.name == "web form" and plaintext not in (token.token_hash, token.prefix)

    listed = crm(db, "token", "list", "--team", "TACME", cwd=tmp_path)
    assert listed.returncode == 0 and token.prefix in listed.stdout
    assert plaintext not in listed.stdout

    revoked = crm(db, "token", "revoke", "--team", "TACME", str(token.id), cwd=tmp_path)
    assert revoked.returncode == 0 and authenticate(plaintext) is None
    _one_line_error(
        crm(db, "token", "revoke", "--team", "TACME", str(token.id), cwd=tmp_path),
        "already revoked",
    )


def test_workspace_choice_errors_are_one_line(
    db: TestDB, acme: Workspace, globex: Workspace, tmp_path: Path
) -> None:
    _one_line_error(crm(db, "pipeline", cwd=tmp_path), "TACME, TGLOBEX")
    _one_line_error(crm(db, "token", "list", "--team", "TNOPE", cwd=tmp_path), "TACME, TGLOBEX")
    # a token of one workspace cannot be revoked through another
    made = crm(db, "token", "create", "--team", "TGLOBEX", cwd=tmp_path)
    token = ApiToken.get(ApiToken.company == globex.company.id)
    _one_line_error(
        crm(db, "token", "revoke", "--team", "TACME", str(token.id), cwd=tmp_path), "not found"
    )
    assert authenticate(made.stdout.strip().splitlines()[-1]) is not None


def test_import_reports_rejected_rows_and_export_writes_the_file(
    db: TestDB, acme: Workspace, tmp_path: Path
) -> None:
    path = tmp_path / "leads.csv"
    path.write_text(
        "name,email,source,value\n"
        "Ann,ann@example.com,website,50k\n"
        "Bob,bob@,referral,1000\n"
        ",cy@example.com,event,\n"
        "Dee,dee@example.com,billboard,\n",
        encoding="utf-8",
    )
    result = crm(db, "import", "leads", str(path), "--team", "TACME", cwd=tmp_path)
    # rejected rows: status 1 and their count on the last line
    assert result.returncode == 1, result.stderr
    assert "1 created, 0 already present, 3 rejected" in result.stdout
    assert result.stdout.strip().splitlines()[-1] == "3 row(s) rejected"
    rows = [line for line in result.stdout.splitlines() if line.startswith("│")]
    assert [[c.strip() for c in r.strip("│").split("│")][:2] for r in rows] == [
        ["3", "email"],
        ["4", "name"],
        ["5", "source"],
    ]
    again = crm(db, "import", "leads", str(path), "--team", "TACME", cwd=tmp_path)
    assert "0 created, 1 already present, 3 rejected" in again.stdout
    assert Lead.select().count() == 1

    out = tmp_path / "out.csv"
    exported = crm(db, "export", "leads", str(out), cwd=tmp_path)  # one workspace
    assert exported.returncode == 0, exported.stderr
    assert list(csv.reader(out.open()))[1][1:3] == ["Ann", "ann@example.com"]


@pytest.mark.parametrize(
    ("content", "fragment"),
    [(None, "not a readable file"), ("name,colour\nAnn,red\n", "unknown column(s) 'colour'")],
)
def test_unusable_import_file_exits_2(
    db: TestDB, acme: Workspace, tmp_path: Path, content: str | None, fragment: str
) -> None:
    path = tmp_path / "leads.csv"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    _one_line_error(crm(db, "import", "leads", str(path), cwd=tmp_path), fragment)


@pytest.mark.slow
def test_demo_is_deterministic_and_reset_reloads_it(db: TestDB) -> None:
    from datetime import datetime

    from crm.demo import load_demo
    from crm.models import FollowUp, StageChange

    def snapshot() -> tuple[list[tuple], list[tuple], int]:
        leads = [(lead.name, lead.email, lead.estimated_value, lead.status)
                 for lead in Lead.select().order_by(Lead.id)]  # fmt: skip
        deals = [(o.name, o.amount, o.stage, o.actual_close_date)
                 for o in Opportunity.select().order_by(Opportunity.id)]  # fmt: skip
        return leads, deals, Order.select().count()

    now = datetime(2026, 6, 1, 12, 0)
    first = load_demo(now=now)
    assert first.created and first.overdue > 0 and first.won > 0 and first.lost > 0
    before = snapshot()
    assert load_demo(now=now).created is False
    assert load_demo(now=now, reset=True).created
    assert snapshot() == before
    # history is in the past, spread over months, never after "now"
    times = [s.changed_at for s in StageChange.select()]
    assert max(times) <= now and (now - min(times)).days > 90
    assert FollowUp.select().where(FollowUp.status == "overdue").count() == first.overdue
