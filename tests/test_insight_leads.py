"""The lead score (SPEC 13) on a synthetic history where source and priority drive wins."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from crm.insight.leadscore import MIN_CLOSED, calibration, explain_lead, rebuild_scores
from crm.models import Lead, LeadScore
from tests.conftest import Workspace
from tests.insight_leads import auc, make_history
from tests.test_cli import crm

if TYPE_CHECKING:
    from tests.conftest import TestDB


def test_score_ranks_held_out_leads_and_beats_the_base_rate(db: TestDB, acme: Workspace) -> None:
    hidden = make_history(acme.company.id, [acme.rep, acme.rep2, acme.manager], 400, 200)
    built = rebuild_scores(acme.company)
    assert built.model is not None and built.scored == 200

    stored = dict(LeadScore.select(LeadScore.lead, LeadScore.score).tuples())
    assert set(stored) == set(hidden)
    ranking = auc([stored[i] for i in hidden], list(hidden.values()))
    assert ranking >= 0.75, ranking

    # Brier on the held-out leads against the closed leads' base rate
    base = built.model.won / (built.model.won + built.model.lost)
    brier = sum((stored[i] / 100 - y) ** 2 for i, y in hidden.items()) / len(hidden)
    base_brier = sum((base - y) ** 2 for y in hidden.values()) / len(hidden)
    assert brier < base_brier, (brier, base_brier)

    # leave-one-out calibration over the closed leads: better than the base rate too
    report = calibration(acme.company)
    assert report is not None and report.closed == 400
    assert report.brier < report.base_brier
    assert sum(d.count for d in report.deciles) == 400
    assert report.deciles[0].observed < report.deciles[-1].observed

    # the explanation names source and priority as what moved the score most
    lead = Lead.get_by_id(next(i for i in hidden))
    explained = explain_lead(lead)
    assert explained is not None and explained.score == stored[lead.id]
    top = {e["field"] for e in (explained.up[:2] + explained.down[:2])}
    assert {"source", "priority"} & top
    movers = max(explained.up + explained.down, key=lambda e: abs(e["effect"]))
    assert movers["field"] in ("source", "priority")
    # over every scored lead, source and priority are the fields that move scores most
    weight: dict[str, float] = {}
    for row in LeadScore.select().where(LeadScore.company == acme.company.id):
        for reason in row.reasons:
            weight[reason["field"]] = weight.get(reason["field"], 0) + abs(reason["effect"])
    assert sorted(weight, key=weight.get, reverse=True)[:2] in (
        ["source", "priority"],
        ["priority", "source"],
    ), weight


def test_too_few_closed_leads_give_no_score(db: TestDB, acme: Workspace) -> None:
    make_history(acme.company.id, [acme.rep], MIN_CLOSED - 1, 3)
    built = rebuild_scores(acme.company)
    assert built.model is None and built.scored == 0
    assert LeadScore.select().count() == 0
    explained = explain_lead(Lead.select().where(Lead.status == "qualified").first())
    assert explained is not None and explained.score is None
    assert explained.message.startswith(f"not enough history ({MIN_CLOSED - 1} closed leads")


def test_cli_prints_calibration_and_brier_beside_the_base_rate(
    db: TestDB, acme: Workspace, tmp_path: Path
) -> None:
    make_history(acme.company.id, [acme.rep, acme.rep2], 300, 20)
    result = crm(db, "insight", "scores", "--team", "TACME", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    rows = re.findall(r"│\s*(\d+)\s*│\s*(\d+)\s*│\s*([\d.]+)%\s*│\s*([\d.]+)%\s*│", result.stdout)
    assert [int(r[0]) for r in rows] == list(range(1, 11)), result.stdout
    assert sum(int(r[1]) for r in rows) == 300
    found = re.search(r"Brier score ([\d.]+) · base rate [\d.]+% scores ([\d.]+)", result.stdout)
    assert found, result.stdout
    assert float(found.group(1)) < float(found.group(2))
    assert LeadScore.select().where(LeadScore.company == acme.company.id).count() == 20

    bad = crm(db, "insight", "scores", "--team", "TNOPE", cwd=tmp_path)
    assert bad.returncode == 2 and "TNOPE" in bad.stderr and "Traceback" not in bad.stderr
