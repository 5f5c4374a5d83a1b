"""``crm insight fit`` and ``crm insight scores`` (SPEC 13): wiring and tables only."""

from __future__ import annotations

import argparse

from rich.table import Table

from crm.cli import _company, _team_option, command, connect, console
from crm.errors import ValidationError
from crm.models import Company
from crm.parsing import parse_date


def _configure(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    fit = sub.add_parser("fit", help="fit the lifetime-value models and print their parameters")
    _team_option(fit)
    fit.add_argument("--until", metavar="DATE", help="calibration end (YYYY-MM-DD; default today)")
    fit.add_argument(
        "--holdout-until",
        metavar="DATE",
        help="also compare predicted with actual repeat purchases after --until up to DATE",
    )
    scores = sub.add_parser(
        "scores", help="rebuild lead scores; print the calibration table and Brier scores"
    )
    _team_option(scores)


@command("insight", "predictive lifetime value and lead scores", _configure)
def _insight(args: argparse.Namespace) -> int:
    connect()
    company = _company(args.team)
    if args.action == "fit":
        return _fit(company, args)
    return _scores(company)


def _fit(company: Company, args: argparse.Namespace) -> int:
    from crm.insight.clv import fit_company, not_enough_text, predict_company

    until = parse_date(args.until, "until", tz=company.timezone) if args.until else None
    holdout = (
        parse_date(args.holdout_until, "holdout-until", tz=company.timezone)
        if args.holdout_until
        else None
    )
    if holdout is not None and until is None:
        raise ValidationError("holdout-until", "needs --until as well", hint="--until 1997-09-30")
    result = fit_company(company, until=until, holdout_until=holdout)
    fit = result.fit
    console.print(
        f"{company.team_id}: {result.customers} customers, {result.repeaters} with a repeat "
        f"purchase, orders to {fit.data_until:%Y-%m-%d}",
        highlight=False,
    )
    if not result.enough:
        console.print(not_enough_text(result.repeaters, fit.needed), highlight=False)
        return 0
    bg, gg = result.bgnbd, result.gamma_gamma
    assert bg is not None and gg is not None
    console.print(
        f"BG/NBD       r {bg.r:.3f}  alpha {bg.alpha:.3f}  a {bg.a:.3f}  b {bg.b:.3f}  "
        f"log-likelihood {result.log_likelihood:.1f}",
        highlight=False,
    )
    console.print(f"Gamma-Gamma  p {gg.p:.2f}  q {gg.q:.2f}  gamma {gg.gamma:.2f}", highlight=False)
    if result.holdout is not None:
        h = result.holdout
        console.print(
            f"Holdout ({h.weeks:.0f} weeks to {holdout:%Y-%m-%d}): predicted {h.predicted:,.1f} "
            f"repeat purchases, actual {h.actual:,}",
            highlight=False,
        )
        table = Table("repeat purchases to --until", "customers", "predicted (mean)",
                      "actual (mean)", title="Conditional expectations")  # fmt: skip
        for col in table.columns[1:]:
            col.justify = "right"
        for label, n, predicted, actual in h.buckets:
            table.add_row(label, str(n), f"{predicted:.2f}", f"{actual:.2f}")
        console.print(table)
    elif until is None:
        written = predict_company(company)
        console.print(f"predictions refreshed for {written} customers", highlight=False)
    return 0


def _scores(company: Company) -> int:
    from crm.insight.leadscore import calibration, rebuild_scores

    model = rebuild_scores(company)
    if model is None or model.needed_more:
        from crm.insight.leadscore import not_enough_leads_text

        console.print(not_enough_leads_text(company.id), highlight=False)
        return 0
    report = calibration(company)
    table = Table("decile", "leads", "predicted win rate", "observed win rate",
                  title=f"Lead score calibration · {company.team_id} (closed leads, cross-validated)")  # fmt: skip
    for col in table.columns[1:]:
        col.justify = "right"
    for row in report.deciles:
        table.add_row(
            str(row.decile), str(row.count), f"{row.predicted:.1%}", f"{row.observed:.1%}"
        )
    console.print(table)
    console.print(
        f"Brier score {report.brier:.4f} · base rate {report.base_rate:.1%} scores "
        f"{report.base_brier:.4f} ({report.closed} closed leads; lower is better)",
        highlight=False,
    )
    return 0
